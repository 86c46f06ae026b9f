"""Chemistry front end: SMILES -> molecule records with stereo-aware atom and bond features.

The one place that talks to RDKit for parsing, writing, canonicalising and copying molecules:
the packages above use these functions (and :mod:`.atoms`, :mod:`.similarity`) instead of
importing RDKit. Only modules whose job is an RDKit algorithm import it themselves (BRICS in
``patching/api.py``, 2D drawing in ``viz/draw.py``, 3D conformers in ``encoders/conformers.py``,
and ``data/`` and ``facts/``, which compute the facts).
"""

from edtformer.chem.features import (
    ATOM_FEATURE_DIMS,
    ATOM_FEATURE_NAMES,
    BOND_FEATURE_DIMS,
    BOND_FEATURE_NAMES,
    atom_features,
    bond_features,
)
from edtformer.chem.molecule import (
    DEFAULT_MAX_ATOMS,
    Mol,
    MolRecord,
    canonical_atom_order,
    canonical_order,
    canonical_ranks,
    canonical_smiles,
    copy_mol,
    mol_from_smiles,
    mol_to_smiles,
    parse_many,
    parse_smiles,
    rdkit_mol,
    record_from_mol,
    remove_hs,
    smarts_query,
)

__all__ = [
    "ATOM_FEATURE_DIMS",
    "ATOM_FEATURE_NAMES",
    "BOND_FEATURE_DIMS",
    "BOND_FEATURE_NAMES",
    "DEFAULT_MAX_ATOMS",
    "Mol",
    "MolRecord",
    "atom_features",
    "bond_features",
    "canonical_atom_order",
    "canonical_order",
    "canonical_ranks",
    "canonical_smiles",
    "copy_mol",
    "mol_from_smiles",
    "mol_to_smiles",
    "parse_many",
    "parse_smiles",
    "rdkit_mol",
    "record_from_mol",
    "remove_hs",
    "smarts_query",
]

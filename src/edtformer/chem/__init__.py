"""Chemistry front end: SMILES -> molecule records with stereo-aware atom and bond features."""

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
    MolRecord,
    canonical_order,
    canonical_ranks,
    canonical_smiles,
    mol_from_smiles,
    parse_many,
    parse_smiles,
    rdkit_mol,
    record_from_mol,
)

__all__ = [
    "ATOM_FEATURE_DIMS",
    "ATOM_FEATURE_NAMES",
    "BOND_FEATURE_DIMS",
    "BOND_FEATURE_NAMES",
    "DEFAULT_MAX_ATOMS",
    "MolRecord",
    "atom_features",
    "bond_features",
    "canonical_order",
    "canonical_ranks",
    "canonical_smiles",
    "mol_from_smiles",
    "parse_many",
    "parse_smiles",
    "rdkit_mol",
    "record_from_mol",
]

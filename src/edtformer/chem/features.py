"""Atom and bond featurisation with OGB-compatible vocabularies, plus stereo-aware extras.

Each atom is a vector of integer categories (one column per feature); each bond likewise.
The first nine atom columns and the first three bond columns are exactly OGB's
``atom_to_feature_vector`` / ``bond_to_feature_vector`` layout (Hu et al., 2020), so OGB-style
encoders (MoleculeSTM's GIN) consume them unchanged. Extra columns follow (isotope, bond ring
membership). Chirality tags and bond E/Z stereo are kept: stereochemistry survives featurisation.
"""

from __future__ import annotations

from typing import Final

from rdkit import Chem

ATOMIC_NUMS: Final[list[int]] = list(range(1, 119))  # + misc
CHIRALITY: Final[list[str]] = [
    "CHI_UNSPECIFIED",
    "CHI_TETRAHEDRAL_CW",
    "CHI_TETRAHEDRAL_CCW",
    "CHI_OTHER",
]  # + misc
DEGREES: Final[list[int]] = list(range(11))  # + misc
FORMAL_CHARGES: Final[list[int]] = list(range(-5, 6))  # + misc
NUM_HS: Final[list[int]] = list(range(9))  # + misc
NUM_RADICALS: Final[list[int]] = list(range(5))  # + misc
HYBRIDIZATIONS: Final[list[str]] = ["SP", "SP2", "SP3", "SP3D", "SP3D2"]  # + misc
ISOTOPES: Final[list[int]] = [0, 2, 3, 11, 13, 14, 15, 17, 18, 125, 131]  # + misc

BOND_TYPES: Final[list[str]] = ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"]  # + misc
BOND_STEREO: Final[list[str]] = [
    "STEREONONE",
    "STEREOZ",
    "STEREOE",
    "STEREOCIS",
    "STEREOTRANS",
    "STEREOANY",
]

ATOM_FEATURE_NAMES: Final[tuple[str, ...]] = (
    "atomic_num",
    "chirality",
    "degree",
    "formal_charge",
    "num_hs",
    "num_radicals",
    "hybridization",
    "is_aromatic",
    "is_in_ring",
    "isotope",
)
BOND_FEATURE_NAMES: Final[tuple[str, ...]] = ("bond_type", "stereo", "is_conjugated", "is_in_ring")

#: Number of categories per atom column (the last category of each list-based column is "misc").
ATOM_FEATURE_DIMS: Final[tuple[int, ...]] = (
    len(ATOMIC_NUMS) + 1,
    len(CHIRALITY) + 1,
    len(DEGREES) + 1,
    len(FORMAL_CHARGES) + 1,
    len(NUM_HS) + 1,
    len(NUM_RADICALS) + 1,
    len(HYBRIDIZATIONS) + 1,
    2,
    2,
    len(ISOTOPES) + 1,
)
#: Number of categories per bond column.
BOND_FEATURE_DIMS: Final[tuple[int, ...]] = (len(BOND_TYPES) + 1, len(BOND_STEREO), 2, 2)

#: Column indices, for readers who want a named column.
ATOM_CHIRALITY_COL: Final[int] = 1
BOND_STEREO_COL: Final[int] = 1


def _index(values: list, value: object) -> int:
    """Position of ``value`` in ``values``; ``len(values)`` (the "misc" slot) when absent."""
    try:
        return values.index(value)
    except ValueError:
        return len(values)


def atom_features(atom: Chem.Atom) -> list[int]:
    """Integer categories for one atom, in :data:`ATOM_FEATURE_NAMES` order.

    The dummy atom ``*`` (atomic number 0) maps to the "misc" atomic-number slot.
    """
    return [
        _index(ATOMIC_NUMS, atom.GetAtomicNum()),
        _index(CHIRALITY, str(atom.GetChiralTag())),
        _index(DEGREES, atom.GetTotalDegree()),
        _index(FORMAL_CHARGES, atom.GetFormalCharge()),
        _index(NUM_HS, atom.GetTotalNumHs()),
        _index(NUM_RADICALS, atom.GetNumRadicalElectrons()),
        _index(HYBRIDIZATIONS, str(atom.GetHybridization())),
        int(atom.GetIsAromatic()),
        int(atom.IsInRing()),
        _index(ISOTOPES, atom.GetIsotope()),
    ]


def bond_features(bond: Chem.Bond) -> list[int]:
    """Integer categories for one bond, in :data:`BOND_FEATURE_NAMES` order."""
    stereo = str(bond.GetStereo())
    return [
        _index(BOND_TYPES, str(bond.GetBondType())),
        BOND_STEREO.index(stereo) if stereo in BOND_STEREO else BOND_STEREO.index("STEREOANY"),
        int(bond.GetIsConjugated()),
        int(bond.IsInRing()),
    ]

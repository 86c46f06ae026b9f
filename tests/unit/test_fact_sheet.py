"""Every fact of the sheet against hand-picked molecules (values checked by hand, not by RDKit)."""

from __future__ import annotations

from typing import Any

import pytest
from rdkit import Chem

from edtformer.facts.sheet import SHEET_FIELDS, field, format_value, render_sheet, sheet_values

IBUPROFEN = "CC(C)Cc1ccc(cc1)C(C)C(=O)O"

#: SMILES -> {key: expected value}; each case names what it tests.
CASES: dict[str, dict[str, Any]] = {
    # aspirin: counts, weights, rule of five
    "CC(=O)Oc1ccccc1C(=O)O": {
        "formula": "C9H8O4", "atoms": {"C": 9, "H": 8, "O": 4}, "heavy_atoms": 13,
        "formal_charge": 0, "mol_weight": 180.16, "exact_mass": 180.0423, "rings": 1,
        "aromatic_rings": 1, "aliphatic_rings": 0, "ring_systems": 1, "largest_ring": 6,
        "macrocycle": False, "hbd": 1, "hba": 3, "stereocentres": 0, "chiral": False,
        "lipinski": True, "lipinski_violations": 0, "veber": True, "fragments": 1, "tpsa": 63.6,
    },
    # ibuprofen without stereo marks: one unspecified centre, chiral
    IBUPROFEN: {
        "stereocentres": 1, "specified_stereocentres": 0, "unspecified_stereocentres": 1,
        "chiral": True, "cip": [], "rotatable_bonds": 4, "atoms": {"C": 13, "H": 18, "O": 2},
    },
    # specified centre with its CIP label and 1-based position
    "C[C@H](F)Cl": {"specified_stereocentres": 1, "cip": [(2, "C", "R")], "chiral": True},
    "C[C@@H](F)Cl": {"cip": [(2, "C", "S")]},
    # L-serine
    "N[C@@H](CO)C(=O)O": {"specified_stereocentres": 1, "cip": [(2, "C", "S")], "hbd": 3},
    # meso cis-cyclohexane-1,2-diol: two specified centres, not chiral
    "O[C@H]1[C@@H](O)CCCC1": {"specified_stereocentres": 2, "chiral": False},
    # E/Z double bond, specified and not
    "C/C=C/C": {"stereo_double_bonds": 1, "specified_stereo_double_bonds": 1, "ez": [(2, 3, "E")]},
    "C/C=C\\C": {"ez": [(2, 3, "Z")]},
    "CC=CC": {"stereo_double_bonds": 1, "specified_stereo_double_bonds": 0, "ez": []},
    # a salt: two fragments, charges cancel
    "[Na+].[O-]C(=O)C": {
        "fragments": 2, "formal_charge": 0, "largest_fragment": "CC(=O)[O-]", "heavy_atoms": 5,
        "atoms": {"C": 2, "H": 3, "Na": 1, "O": 2},
    },
    "[Na+].[Cl-]": {"fragments": 2, "formula": "ClNa", "atoms": {"Cl": 1, "Na": 1}, "heavy_atoms": 2},
    # a charged atom
    "C[N+](C)(C)C": {"formal_charge": 1, "formula": "C4H12N+", "hbd": 0},
    # isotopes count as hydrogen atoms
    "[2H]C([2H])O": {"atoms": {"C": 1, "H": 4, "O": 1}, "heavy_atoms": 2},
    # explicit molecular hydrogen: no heavy atom
    "[H][H]": {"heavy_atoms": 0, "atoms": {"H": 2}, "formula": "H2", "mol_weight": 2.02},
    # dummy atom: not an element
    "*CC": {"atoms": {"C": 2, "H": 5}, "rings": 0},
    # no carbon
    "O": {"atoms": {"H": 2, "O": 1}, "formula": "H2O", "largest_ring": 0, "fsp3": 0.0},
    "N": {"atoms": {"H": 3, "N": 1}},
    # macrocycle (13-membered ring)
    "C1CCCCCCCCCCCC1": {"macrocycle": True, "largest_ring": 13, "rings": 1, "aliphatic_rings": 1},
    # fused ring system: naphthalene
    "c1ccc2ccccc2c1": {"rings": 2, "ring_systems": 1, "aromatic_rings": 2},
    # two separate ring systems: biphenyl
    "c1ccccc1-c1ccccc1": {"rings": 2, "ring_systems": 2, "rotatable_bonds": 1},
    # rule of five: a big lipophilic molecule fails
    "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC(=O)O": {"lipinski_violations": 2, "lipinski": False},
}  # fmt: skip


@pytest.mark.parametrize("smiles", list(CASES))
def test_sheet_values(smiles: str) -> None:
    values = sheet_values(Chem.MolFromSmiles(smiles))
    for key, want in CASES[smiles].items():
        got = values[key]
        if isinstance(want, float):
            assert got == pytest.approx(want, abs=0.006), key
        else:
            assert got == want, (key, got)


def test_every_field_is_in_the_values_and_the_rendered_sheet() -> None:
    values = sheet_values(Chem.MolFromSmiles(IBUPROFEN))
    text = render_sheet(values, bbb=0.83)
    for f in SHEET_FIELDS:
        assert f.key in values
        assert f.label in text, f.label
    assert "P(BBB+) 0.83" in text and "learned estimate" in text
    assert "atoms: C 13, H 18, O 2" in text


def test_format_value() -> None:
    assert format_value("mol_weight", 206.2846) == "206.28"
    assert format_value("exact_mass", 206.13) == "206.1300"
    assert format_value("chiral", True) == "yes"
    assert format_value("rings", 2) == "2"
    assert field("tpsa").decimals == 2
    with pytest.raises(KeyError, match="known"):
        field("nope")


def test_sheet_is_the_same_for_every_writing() -> None:
    a = sheet_values(Chem.MolFromSmiles("OC(=O)c1ccccc1OC(C)=O"))
    b = sheet_values(Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O"))
    assert a == b


def test_the_input_molecule_is_not_modified() -> None:
    mol = Chem.MolFromSmiles("C[C@H](F)Cl")
    before = [sorted(a.GetPropNames()) for a in mol.GetAtoms()], Chem.MolToSmiles(mol)
    sheet_values(mol)
    assert ([sorted(a.GetPropNames()) for a in mol.GetAtoms()], Chem.MolToSmiles(mol)) == before

"""Chemistry front end: atom order, feature shapes, stereo kept, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from rdkit import Chem

from edtformer.chem import (
    ATOM_FEATURE_DIMS,
    ATOM_FEATURE_NAMES,
    BOND_FEATURE_DIMS,
    parse_many,
    parse_smiles,
)
from edtformer.chem.features import ATOM_CHIRALITY_COL, BOND_STEREO, BOND_STEREO_COL, CHIRALITY
from edtformer.errors import InvalidSmilesError, UnsupportedMoleculeError


def test_atom_count_and_order_match_rdkit(tricky: tuple[str, int]) -> None:
    smiles, n = tricky
    rec = parse_smiles(smiles)
    mol = Chem.MolFromSmiles(smiles)
    assert rec.n_atoms == n == mol.GetNumAtoms()
    assert rec.symbols == [a.GetSymbol() for a in mol.GetAtoms()]
    assert rec.x.shape == (n, len(ATOM_FEATURE_NAMES))
    assert rec.edge_index.shape == (2, 2 * mol.GetNumBonds())
    assert rec.edge_attr.shape == (2 * mol.GetNumBonds(), len(BOND_FEATURE_DIMS))
    # every category within its vocabulary
    assert (rec.x < np.asarray(ATOM_FEATURE_DIMS)).all() and (rec.x >= 0).all()
    if rec.n_bonds:
        assert (rec.edge_attr < np.asarray(BOND_FEATURE_DIMS)).all()


def test_both_edge_directions() -> None:
    rec = parse_smiles("CCO")
    pairs = set(map(tuple, rec.edge_index.T.tolist()))
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1)}


def test_chirality_and_bond_stereo_kept() -> None:
    ala_l = parse_smiles("C[C@H](N)C(=O)O")
    ala_d = parse_smiles("C[C@@H](N)C(=O)O")
    assert ala_l.x[1, ATOM_CHIRALITY_COL] == CHIRALITY.index("CHI_TETRAHEDRAL_CCW")
    assert ala_d.x[1, ATOM_CHIRALITY_COL] == CHIRALITY.index("CHI_TETRAHEDRAL_CW")
    trans = parse_smiles("F/C=C/F")
    cis = parse_smiles("F/C=C\\F")
    double = [i for i in range(trans.edge_attr.shape[0]) if trans.edge_attr[i, 0] == 1]
    assert {trans.edge_attr[i, BOND_STEREO_COL] for i in double} == {BOND_STEREO.index("STEREOE")}
    assert {cis.edge_attr[i, BOND_STEREO_COL] for i in double} == {BOND_STEREO.index("STEREOZ")}


def test_charge_and_isotope_columns() -> None:
    rec = parse_smiles("[13CH3]C(=O)[O-].[Na+]")
    col = {name: i for i, name in enumerate(ATOM_FEATURE_NAMES)}
    assert rec.x[0, col["isotope"]] != 0
    assert rec.x[3, col["formal_charge"]] == 4  # -1 in range(-5, 6)
    assert rec.x[4, col["formal_charge"]] == 6  # +1


@pytest.mark.parametrize("bad", ["", "   ", "C1CC", "not a smiles", "C(C"])
def test_invalid_smiles_raises_quoting_input(bad: str) -> None:
    with pytest.raises(InvalidSmilesError) as info:
        parse_smiles(bad)
    assert repr(bad) in str(info.value)


def test_too_many_atoms() -> None:
    with pytest.raises(UnsupportedMoleculeError, match="limit of 10"):
        parse_smiles("C" * 11, max_atoms=10)


def test_parse_many_keeps_going() -> None:
    out = list(parse_many(["CCO", "C1CC", "c1ccccc1"]))
    assert [type(o).__name__ for o in out] == ["MolRecord", "InvalidSmilesError", "MolRecord"]


def test_to_pyg() -> None:
    data = parse_smiles("C[C@H](N)C(=O)O").to_pyg()
    assert data.num_nodes == 6
    assert data.x.shape == (6, len(ATOM_FEATURE_NAMES))
    assert data.edge_index.shape == (2, 10)

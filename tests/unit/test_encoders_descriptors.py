"""The ``rdkit`` descriptor stream: its per-atom columns sum to RDKit's molecule facts."""

from __future__ import annotations

import pytest
import torch
from tests.conftest import TRICKY_SMILES

from edtformer.chem import parse_smiles
from edtformer.encoders import encoder_info, get_encoder
from edtformer.encoders.descriptors import (
    DIGIT_TOTALS,
    LOCAL_NAMES,
    N_LOCAL,
    WIDTH,
    digit_value,
    local_descriptors,
    molecule_rows,
)
from edtformer.facts.dataset import molecule_facts

MOLECULES = [
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "CN1CC[C@]23c4c5ccc(O)c4O[C@H]2[C@@H](O)C=C[C@H]3[C@H]1C5",  # morphine, 5 centres
    "CC(C)Cc1ccc(C(C)C(=O)O)cc1",  # ibuprofen, one unspecified centre
    "CC(=O)N1CCN(c2ccc(OC[C@H]3CO[C@](Cn4ccnc4)(c4ccc(Cl)cc4Cl)O3)cc2)CC1",  # ketoconazole
    "CC(=O)OCC1OC(n2ncc(=O)[nH]c2=O)C(OC(C)=O)C1OC(C)=O",  # substituted aromatic n
    "C/C=C/C(=O)N[C@@H](C)c1ccncc1",  # E bond, pyridine
    "F/C=C\\Cl",  # Z bond
    "OCC1OC(O)C(O)C(O)C1O",  # many donors
    "[2H]C([2H])([2H])Oc1ccccc1",  # explicit isotopic hydrogens are not heavy atoms
    "C1CC2CCC1CC2",  # bridged rings
    "O=S(=O)(N)c1ccc(cc1)C(=O)O",
]
FACT_OF = {
    "atom": "heavy_atoms",
    "ring_share": "n_rings",
    "aromatic_ring_share": "n_aromatic_rings",
    "aliphatic_ring_share": "n_aliphatic_rings",
    "hbd": "hbd",
    "hba": "hba",
    "stereocentre": "n_stereocentres",
}


def test_registry_width_matches_the_columns() -> None:
    assert encoder_info("rdkit").width == WIDTH == 2 * N_LOCAL + 20 * len(DIGIT_TOTALS)
    assert not encoder_info("rdkit").pretrained


@pytest.mark.parametrize("smiles", MOLECULES)
def test_totals_equal_rdkit_facts(smiles: str) -> None:
    mol = parse_smiles(smiles).mol
    facts = molecule_facts(mol)
    rows = molecule_rows(mol)
    assert rows.shape == (mol.GetNumAtoms(), WIDTH)
    for name, fact in FACT_OF.items():
        assert digit_value(rows[0], name) == facts[fact], (smiles, name)
    ez = digit_value(rows[0], "ez_bond=E") + digit_value(rows[0], "ez_bond=Z")
    assert ez == facts["n_ez_bonds"]
    # every row carries the same virtual node; the local half differs between atoms
    assert torch.equal(rows[:, N_LOCAL:], rows[:1, N_LOCAL:].expand(len(rows), -1))


@pytest.mark.parametrize("smiles", MOLECULES)
def test_group_columns_mark_exactly_the_groups_present(smiles: str) -> None:
    mol = parse_smiles(smiles).mol
    local = local_descriptors(mol)
    present = {
        name[len("group=") :]
        for c, name in enumerate(LOCAL_NAMES)
        if name.startswith("group=") and bool(local[:, c].any())
    }
    assert present == set(molecule_facts(mol)["functional_groups"])


def test_cip_columns_follow_the_written_configuration() -> None:
    col = {n: i for i, n in enumerate(LOCAL_NAMES)}
    r = local_descriptors(parse_smiles("N[C@@H](C)C(=O)O").mol)  # L-alanine: S
    s = local_descriptors(parse_smiles("N[C@H](C)C(=O)O").mol)  # D-alanine: R
    assert r[1, col["cip=S"]] == 1 and r[1, col["cip=R"]] == 0
    assert s[1, col["cip=R"]] == 1 and s[1, col["cip=S"]] == 0
    racemic = local_descriptors(parse_smiles("NC(C)C(=O)O").mol)
    assert racemic[1, col["unspecified_centre"]] == 1 and racemic[1, col["stereocentre"]] == 0


@pytest.mark.parametrize(("smiles", "n_atoms"), TRICKY_SMILES)
def test_encoder_gives_one_row_per_atom(smiles: str, n_atoms: int) -> None:
    record = parse_smiles(smiles)
    assert record.n_atoms == n_atoms
    feats = get_encoder("rdkit").encode([record, parse_smiles("CCO")])
    assert feats.width == WIDTH
    assert feats.n_atoms == [record.n_atoms, 3]
    assert torch.isfinite(feats.h).all()

"""RDKit structure facts and the questions built from them."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from rdkit import Chem

from edtformer.data.questions import (
    assign_letters,
    formula_distractors,
    stereo_drafts,
    structure_mc_drafts,
    structure_text_drafts,
)
from edtformer.facts.dataset import (
    FUNCTIONAL_GROUPS,
    describe,
    functional_groups,
    molecule_facts,
    ring_sentence,
)


def facts(smiles: str) -> dict:
    return molecule_facts(Chem.MolFromSmiles(smiles))


def test_aspirin_facts() -> None:
    f = facts("CC(=O)Oc1ccccc1C(=O)O")
    assert f["formula"] == "C9H8O4"
    assert f["molecular_weight"] == pytest.approx(180.16, abs=0.01)
    assert (f["n_aromatic_rings"], f["n_aliphatic_rings"]) == (1, 0)
    assert set(f["functional_groups"]) == {"ester", "carboxylic acid", "benzene ring"}
    assert f["n_stereocentres"] == 0 and f["ez_bonds"] == []


@pytest.mark.parametrize(
    ("smiles", "labels"),
    [
        ("C[C@H](N)C(=O)O", ["S"]),
        ("C[C@@H](N)C(=O)O", ["R"]),
        ("N[C@@H](C)C(=O)N[C@@H](CO)C(=O)O", ["S", "S"]),
    ],
)
def test_cip_labels_in_atom_order(smiles: str, labels: list[str]) -> None:
    f = facts(smiles)
    assert [lab for _, lab in f["stereocentres"]] == labels
    assert f["n_stereocentres"] == len(labels)


def test_ez_and_unspecified() -> None:
    assert facts("F/C=C/F")["ez_bonds"] == [[1, 2, "E"]]
    assert facts("F/C=C\\F")["ez_bonds"] == [[1, 2, "Z"]]
    f = facts("CC(O)CC")
    assert f["n_stereocentres"] == 0 and f["n_unspecified_stereocentres"] == 1


@pytest.mark.parametrize(
    ("smiles", "group", "present"),
    [
        ("CCN", "primary amine", True),
        ("CCNCC", "secondary amine", True),
        ("CCN(C)C", "tertiary amine", True),
        ("CC(=O)NC", "amide", True),
        ("CC(=O)NC", "secondary amine", False),
        ("CC#N", "nitrile", True),
        ("O=[N+]([O-])c1ccccc1", "nitro", True),
        ("NS(=O)(=O)c1ccccc1", "sulfonamide", True),
        ("COC", "ether", True),
        ("COC(C)=O", "ether", False),
        ("CC=O", "aldehyde", True),
        ("CC(C)=O", "ketone", True),
        ("CS", "thiol", True),
        ("Oc1ccccc1", "phenol", True),
        ("Oc1ccccc1", "alcohol", False),
        ("c1ccncc1", "pyridine ring", True),
    ],
)
def test_functional_groups(smiles: str, group: str, present: bool) -> None:
    assert group in FUNCTIONAL_GROUPS
    assert (group in functional_groups(Chem.MolFromSmiles(smiles))) is present


def test_describe_mentions_only_present_groups() -> None:
    f = facts("CC(=O)Oc1ccccc1C(=O)O")
    text = describe(f)
    assert "C9H8O4" in text and "ester" in text
    for name in set(FUNCTIONAL_GROUPS) - set(f["functional_groups"]) - {"ether"}:
        assert name not in text


@pytest.mark.parametrize(
    ("smiles", "sentence"),
    [
        ("CCCCCC", "It is acyclic"),
        ("CC(C)Cc1ccc(C(C)C(=O)O)cc1", "It has 1 aromatic ring and no aliphatic ring"),
        ("C1CCCCC1", "It has no aromatic ring and 1 aliphatic ring"),
        ("c1ccc2c(c1)CCCC2", "It has 1 aromatic ring and 1 aliphatic ring"),
    ],
)
def test_ring_sentence_is_the_descriptions_second_sentence(smiles: str, sentence: str) -> None:
    f = facts(smiles)
    assert ring_sentence(f) == sentence
    assert describe(f).split(". ")[1] == sentence


def test_formula_distractors_distinct_and_wrong() -> None:
    wrong = formula_distractors("C9H8O4", random.Random(0))
    assert len(wrong) == 3 and len(set(wrong)) == 3 and "C9H8O4" not in wrong


def test_mc_drafts_have_unique_right_answer() -> None:
    rng = random.Random(0)
    for smi in ["CC(=O)Oc1ccccc1C(=O)O", "CCN(CC)CCOC(=O)c1ccc(N)cc1", "C[C@H](N)C(=O)O"]:
        f = facts(smi)
        for d in structure_mc_drafts(smi, f, rng, k=5):
            right, *wrong = d["choices"]
            assert len(d["choices"]) == 4 and right not in wrong and len(set(wrong)) == 3
            if d["meta"]["kind"] == "group_present":
                assert right in f["functional_groups"]
                assert not set(wrong) & set(f["functional_groups"])
        for d in structure_text_drafts(smi, f, rng, k=10):
            assert d["question"].count("<mol>") == len(d["smiles"]) == 1


def test_stereo_drafts_and_same_stereoisomer() -> None:
    smi = "C/C=C/C[C@H](N)C(=O)O"
    kinds = {}
    for seed in range(20):
        for d in stereo_drafts(smi, facts(smi), random.Random(seed)):
            kinds.setdefault(d["meta"]["kind"], set()).add(d["answer"])
            if d["meta"]["kind"] == "same_stereoisomer":
                a, b = (Chem.MolToSmiles(Chem.MolFromSmiles(s)) for s in d["smiles"])
                assert (a == b) == (d["answer"] == "yes")
    assert kinds["rs"] == {"S"} and kinds["ez"] == {"E"} and kinds["n_stereocentres"] == {"1"}
    assert kinds["same_stereoisomer"] == {"yes", "no"}


def test_assign_letters_balanced() -> None:
    drafts = [{"choices": [f"right{i}", "w1", "w2", "w3"], "answer": ""} for i in range(10)]
    assign_letters(drafts, random.Random(1))
    counts = Counter(d["answer"] for d in drafts)
    assert max(counts.values()) - min(counts.values()) <= 1 and set(counts) == set("ABCD")
    for i, d in enumerate(drafts):
        assert d["choices"]["ABCD".index(d["answer"])] == f"right{i}"

"""Held-out-phrasing evaluation: the item set, the answer checks, and scoring with a tiny model."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.evaluation.sheet_qa import (
    build_items,
    correct,
    declines,
    flat_metrics,
    parse_json,
    score_items,
    summarise,
)
from edtformer.facts.questions import DECLINE, fact_kinds
from edtformer.model import EDTFormer, EDTFormerConfig

MOLS = [
    "CC(=O)Oc1ccccc1C(=O)O", "N[C@@H](CO)C(=O)O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "C/C=C/Cl",
    "[Na+].[O-]C(=O)C", "C1CCCCCCCCCCCC1", "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O", "c1ccncc1",
]  # fmt: skip


def test_items_use_heldout_wordings_and_balance_yes_no() -> None:
    items = build_items(MOLS, per_kind=12, seed=0, n_off_sheet=40)
    assert {it["meta"]["split"] for it in items} == {"heldout"}
    assert {it["kind"] for it in items if it["form"] == "plain"} == set(fact_kinds())
    assert sum(it["form"] == "off_sheet" for it in items) == 40
    assert all(it["answer"] == DECLINE for it in items if it["form"] == "off_sheet")
    for kind in ("chiral", "macrocycle", "has_group"):
        gold = Counter(
            bool(it["gold"]) for it in items if it["kind"] == kind and it["form"] == "plain"
        )
        assert gold[True] >= 3 and gold[False] >= 3, (kind, gold)
    assert build_items(MOLS, per_kind=2, seed=1) == build_items(MOLS, per_kind=2, seed=1)


def test_answer_checks() -> None:
    num = {"answer_type": "int", "gold": 3, "kind": "rings", "answer": "3"}
    assert correct(num, "3") and correct(num, "It has 3 rings.") and not correct(num, "13")
    flt = {"answer_type": "float", "gold": 180.16, "kind": "mol_weight", "answer": "180.16"}
    assert correct(flt, "180.16 g/mol") and not correct(flt, "180.2")
    yes = {"answer_type": "bool", "gold": True, "kind": "chiral", "answer": "yes"}
    assert correct(yes, "Yes.") and not correct(yes, "no") and not correct(yes, "maybe yes")
    # "Respond affirmatively or negatively in one word."
    assert correct(yes, "Affirmative") and not correct(yes, "negative")
    js = {
        "answer_type": "json",
        "gold": {"n_rings": 2},
        "kind": "rings",
        "answer": '{"n_rings": 2}',
    }
    assert correct(js, 'Sure: {"n_rings": 2}') and not correct(js, '{"rings": 2}')
    assert not correct(js, "2") and parse_json("{bad") is None
    groups = {"answer_type": "text", "gold": "x", "kind": "groups", "answer": "ester, ketone"}
    assert correct(groups, "ketone, ester") and not correct(groups, "ester")
    off = {"answer_type": "decline", "gold": None, "kind": "off_sheet", "answer": DECLINE}
    assert correct(off, DECLINE) and not correct(off, "About 135 °C.")
    assert declines("I cannot tell that.") and not declines("It has 2 rings.")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> EDTFormer:
    llm = make_tiny_llm(tmp_path_factory.mktemp("llm") / "tiny-llama")
    torch.manual_seed(0)
    cfg = EDTFormerConfig(
        encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics", fact_sheet=True
    )
    m = EDTFormer.build(cfg).eval()
    m.llm.config.max_position_embeddings = 4096
    return m


def test_scoring_with_a_model(model: EDTFormer) -> None:
    every = build_items(MOLS[:3], per_kind=1, seed=0, n_off_sheet=4)
    items = every[:-4:7] + every[-2:]
    rows = score_items(model, items, batch_size=4, max_new_tokens=3)
    assert len(rows) == len(items) and all("correct" in r for r in rows)
    letters = [r for r in rows if r["form"] == "mc"]
    assert letters and all(r["output"] in "ABCD" for r in letters)
    summary = summarise(rows)
    assert 0.0 <= summary["headline"]["off_sheet_confidently_wrong"] <= 1.0
    flat = flat_metrics(summary)
    assert "mc_accuracy" in flat and any(k.endswith("/accuracy") for k in flat)


def test_eval_cli_runs_sheet_qa(model: EDTFormer, tmp_path: Path) -> None:
    from edtformer.evaluation.sheet_qa import split_molecules

    with pytest.raises(Exception, match="edt data build"):
        split_molecules(tmp_path, "valid")

"""Lettered options inside a question (edtformer.llm.options)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from edtformer.facts.questions import generate
from edtformer.facts.sheet import sheet_of
from edtformer.llm.options import parse_options

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "edtformer" / "facts" / "templates"
SMILES = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "N[C@@H](CO)C(=O)O",
    "OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl",
    "[Na+].[Cl-]",
]


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_every_template_layout_parses_to_its_options(split: str) -> None:
    layouts = json.loads((TEMPLATES / f"{split}.json").read_text())["mc_layouts"]
    opts = ["-1", "+2", "C14H11Cl2NO2", "4.36"]
    for layout in layouts:
        q = layout.format(
            q="How many rings does CC(C)O have?", o0=opts[0], o1=opts[1], o2=opts[2], o3=opts[3]
        )
        got = parse_options(q)
        assert got is not None, layout
        assert got.options == opts, layout
        assert got.letters == ["A", "B", "C", "D"]
        assert "How many rings does CC(C)O have?" in got.stem
        assert "C14H11Cl2NO2" not in got.stem


@pytest.mark.parametrize(
    ("question", "stem", "options"),
    [
        ("How many rings? (A) 1 (B) 2 (C) 3 (D) 4", "How many rings?", ["1", "2", "3", "4"]),
        ("Which is right? A. 3.5 B. 4.2", "Which is right?", ["3.5", "4.2"]),
        ("Options: A: yes; B: no. Is CC(C)O chiral?", "Is CC(C)O chiral?", ["yes", "no"]),
        ("Which group? a) amine b) amide c) ester", "Which group?", ["amine", "amide", "ester"]),
        ("For CC(C)O, A) 1 B) 2", "For CC(C)O,", ["1", "2"]),
        ("Charge?\nA -1\nB 0\nC +1", "Charge?", ["-1", "0", "+1"]),
        ("Charge?\nA - -1\nB - 0", "Charge?", ["-1", "0"]),
        ("Pick:\n[A] R\n[B] S\nAnswer with the letter only.", "Pick:", ["R", "S"]),
    ],
)
def test_layouts(question: str, stem: str, options: list[str]) -> None:
    got = parse_options(question)
    assert got is not None
    assert (got.stem, got.options) == (stem, options)


@pytest.mark.parametrize(
    "question",
    [
        "Is vitamin A an alcohol?",
        "How many rings does CC(C)C(=O)O have?",
        "Compare molecule A and molecule B: which is heavier?",
        "Is C(C)C(C)O a secondary alcohol? Answer yes or no.",
        "Options: A: yes; A: no",  # not A, B, ... in order
    ],
)
def test_questions_without_options(question: str) -> None:
    assert parse_options(question) is None


def test_letter_only_and_reply() -> None:
    q = parse_options("How many rings?\na) 1\nb) 2\nState only the letter of the right option.")
    assert q is not None and q.letter_only and q.reply(1) == "B"
    q = parse_options("How many rings? A) 1 B) 2")
    assert q is not None and not q.letter_only and q.reply(0) == "A) 1"


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_generated_questions(split: str) -> None:
    """Every generated lettered question parses to its own options; no other question parses."""
    for i in range(250):
        rng = random.Random(i)
        smi = SMILES[i % len(SMILES)]
        form = ("plain", "json", "mc", "two_facts", None)[i % 5]
        item = generate(
            sheet_of(smi), smi, rng, split, kind=None if form else "off_sheet", form=form
        )
        got = parse_options(item.question)
        if item.answer_type == "letter":
            assert got is not None, item.question
            if "options" in item.meta:
                assert got.options == [str(o) for o in item.meta["options"]], item.question
        else:
            assert got is None, item.question

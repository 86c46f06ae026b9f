"""The fact-sheet recipe's stream: deterministic items, train wordings only, off-sheet questions in
their own batches, yes/no facts balanced."""

from __future__ import annotations

import numpy as np

from edtformer.facts.questions import DECLINE
from edtformer.training.sheet_stream import SHEET_KIND_WEIGHTS, SheetStream

MOLS = [
    "CC(=O)Oc1ccccc1C(=O)O", "N[C@@H](CO)C(=O)O", "CC(C)Cc1ccc(cc1)C(C)C(=O)O", "C/C=C/Cl",
    "[Na+].[O-]C(=O)C", "C1CCCCCCCCCCCC1", "c1ccncc1", "CCO", "CCN(CC)CC", "O=C1CCCCC1",
    "C[C@H](F)Cl", "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O", "CC(=O)Nc1ccc(O)cc1", "c1ccc2ccccc2c1",
]  # fmt: skip
RECORDS = [
    {"task": "bbbp", "smiles": ["CCO"], "question": "<mol>\nCan it cross the blood-brain barrier?",
     "answer": "yes", "answer_type": "yesno", "choices": None, "meta": {}},
]  # fmt: skip


def _stream(**kw: object) -> SheetStream:
    return SheetStream(MOLS, RECORDS, 800, seed=0, **kw)  # type: ignore[arg-type]


def test_items_are_deterministic_and_carry_the_marker() -> None:
    a, b = _stream(), _stream()
    for i in (0, 17, 799):
        assert a[i] == b[i]
        smiles, question, answer = a[i]
        assert question.startswith("<mol>") and smiles and answer


def test_off_sheet_questions_come_in_their_own_batches() -> None:
    stream = _stream(order=(0, 8, 1))
    perm = np.random.default_rng(0).permutation(len(stream))  # the engine's visit order
    carrying, total_off = 0, 0
    for b in range(len(stream) // 8):
        answers = [stream[int(i)][2] for i in perm[b * 8 : (b + 1) * 8]]
        off = sum(a == DECLINE for a in answers)
        carrying += off > 0
        total_off += off
    # the kind keeps its share (the dataset kinds without records drop out here)
    w = SHEET_KIND_WEIGHTS
    share = w["off_sheet"] / sum(w[k] for k in ("off_sheet", "sheet", "group_choice", "bbbp"))
    assert share - 0.05 < total_off / len(stream) < share + 0.05
    # but only a few batches carry them
    assert carrying <= (stream.off_sheet_batches + 0.07) * (len(stream) // 8)


def test_yes_no_facts_are_balanced() -> None:
    """A yes/no fact is asked about molecules that have it half the time (the answer is drawn
    first), whatever its base rate among the molecules (1 of 14 here is chiral-specified...)."""
    import random

    stream = _stream(weights={"sheet": 1.0})
    stream._facts = ["chiral"]  # only this fact kind
    answers = [stream._sheet_item("sheet", random.Random(i))[2] for i in range(400)]
    yes, no = answers.count("yes"), answers.count("no")
    assert yes + no > 150 and 0.6 < yes / no < 1.7, (yes, no)


def test_lettered_questions_are_trained_as_inference_scores_them() -> None:
    """Group choices (and every lettered sheet question) answer with the right option's text;
    the collator then trains that text as the answer to the bare stem, the sheet cut for the
    whole question (the options' groups written as lines), as ``ask_many`` cloze-scores it."""
    from edtformer.facts.sheet import sheet_of
    from edtformer.llm.options import parse_options
    from edtformer.training.stage2 import as_scored

    stream = _stream(weights={"group_choice": 1.0})
    seen = 0
    for i in range(60):
        smiles, question, answer = stream[i]
        lettered = parse_options(question)
        assert lettered is not None, question
        assert answer in lettered.options
        stem, cut = as_scored(question, answer)
        assert cut == question and stem == lettered.stem and "A" not in stem.split()
        groups = set(sheet_of(smiles[0], {}).get("groups", []))
        present = [o for o in lettered.options if o in groups]
        # one present among three absent, or one absent among three present
        assert (answer in groups and len(present) == 1) or (
            answer not in groups and len(present) == 3
        ), (question, answer, groups)
        seen += 1
    assert seen == 60
    # a letter answer (a dataset's lettered question) is trained as written
    q = "<mol>\nHow many rings? A) 1 B) 2 C) 3 D) 4"
    assert as_scored(q, "B") == (q, None)
    assert as_scored(q, "2") == ("<mol>\nHow many rings?", q)
    assert as_scored("<mol>\nHow many rings?", "2") == ("<mol>\nHow many rings?", None)

"""The chemist's questions are written apart from the train templates, and their expected answers
come from the fact sheet."""

from __future__ import annotations

from tests.fixtures.benchmarks import load_benchmark

from edtformer.facts.questions import load_templates


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("?", " ").split())


def test_no_question_is_a_train_template() -> None:
    bench = load_benchmark("chemist_questions")
    train = load_templates("train")
    texts = [t for ts in train["kinds"].values() for t in ts]
    texts += [q for qs in train["off_sheet"].values() for q in qs]
    rendered = {_norm(t.replace("{mol}", "this molecule")) for t in texts}
    for drug, question, _ in bench.QUESTIONS:
        assert _norm(question) not in rendered, question
        assert drug in bench.DRUGS


def test_expected_answers_come_from_the_sheet() -> None:
    bench = load_benchmark("chemist_questions")
    assert bench.expected(bench.DRUGS["diclofenac"], "atoms:Cl") == 2
    assert bench.expected(bench.DRUGS["ibuprofen"], "chiral") is True
    assert bench.expected(bench.DRUGS["L-serine"], "cip") == "S"
    assert bench.expected(bench.DRUGS["aspirin"], "decline") is None
    assert bench.mark("I can't tell that from the structure alone.", "decline", None) == "right"
    assert bench.mark("2", "atoms:Cl", 2) == "right"
    assert bench.mark("19", "atoms:Cl", 2) == "wrong"
    assert bench.mark("I can't tell that.", "atoms:Cl", 2) == "declined"
    assert bench.mark('{"hbd": 1}', "json:hbd:hbd", {"hbd": 1}) == "right"
    assert bench.mark("1", "json:hbd:hbd", {"hbd": 1}) == "wrong"

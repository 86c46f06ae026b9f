"""The text-facts diagnostic asks balanced questions whose answer is in the text."""

from __future__ import annotations

import random

from tests.fixtures.benchmarks import load_benchmark


def test_questions_are_balanced_and_answerable_from_the_text() -> None:
    bench = load_benchmark("facts_as_text")
    pool = ["CC(=O)Oc1ccccc1C(=O)O", "CCO", "CC(C)Cc1ccc(C(C)C(=O)O)cc1"]
    rng = random.Random(0)
    qs = [bench.question(rng, pool) for _ in range(200)]
    yes = sum(a == "yes" for _, a in qs)
    assert 70 <= yes <= 130  # about half
    for text, answer in qs:
        facts, asked = text.split("\n")
        group = asked.removeprefix("Does this molecule contain a ").removesuffix(" group?")
        assert (f" {group}" in facts.removeprefix("Molecule facts:")) == (answer == "yes")

"""The letter-binding diagnostic's fact-block prompts: the right option is stated in the facts."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.fixtures.benchmarks import load_benchmark

RECORDS = [
    ("n_rings", "How many rings does this molecule have?", ["3", "1", "2", "0"], "B"),
    ("hbd", "How many hydrogen-bond donors does this molecule have?", ["0", "2", "1", "4"], "C"),
    (
        "formula",
        "What is the molecular formula of this molecule?",
        ["C9H8O4", "C9H6O4", "C8H8O4", "C9H8O3"],
        "A",
    ),
    (
        "weight",
        "What is the molecular weight of this molecule (g/mol)?",
        ["182.17", "180.16", "178.14", "196.16"],
        "B",
    ),
    (
        "group_present",
        "Which of these functional groups does this molecule contain?",
        ["amide", "ester", "nitro", "thiol"],
        "B",
    ),
]


def _data(tmp_path: Path) -> Path:
    (tmp_path / "struct_mc").mkdir()
    with (tmp_path / "struct_mc" / "train.jsonl").open("w") as f:
        for i, (kind, q, choices, answer) in enumerate(RECORDS):
            rec = {
                "id": f"struct_mc-{i}",
                "task": "struct_mc",
                "split": "train",
                "smiles": ["CC(=O)Oc1ccccc1C(=O)O"],
                "question": f"<mol>\n{q}",
                "answer": answer,
                "choices": choices,
                "answer_type": "mc",
                "category": "Structure",
                "source": "test",
                "meta": {"kind": kind},
            }
            f.write(json.dumps(rec) + "\n")
    return tmp_path


def test_block_states_the_right_option_and_grow_shows_only_the_asked_fact(tmp_path: Path) -> None:
    bench = load_benchmark("letter_binding")
    prompts = bench.BlockPrompts(_data(tmp_path), "train")
    rng = random.Random(0)
    for _ in range(40):
        full, letter = prompts.sample(rng, 1.0)
        facts, _, rest = full.partition("\n")
        options = dict(
            line.split(". ", 1) for line in rest.split("\n") if line[:2] in {"A.", "B.", "C.", "D."}
        )
        right = options[letter]
        assert facts.startswith("Facts: ") and "<mol>" not in full
        assert right in facts  # aspirin: 1 ring, 1 donor, C9H8O4, 180.16, ester
        assert "formula C9H8O4" in facts and "weight 180.16" in facts and "rings 1" in facts
        wrong = [o for o in options.values() if o != right and f" {o}" in facts]
        assert not wrong or all(o.isdigit() for o in wrong)  # a count may recur as another fact
        alone, letter0 = prompts.sample(rng, 0.0)  # the curriculum's start: the asked fact only
        fact, _, rest0 = alone.partition("\n")
        options0 = dict(
            x.split(". ", 1) for x in rest0.split("\n") if x[:2] in {"A.", "B.", "C.", "D."}
        )
        assert options0[letter0] in fact and " | " not in fact
        assert sum(label in fact for label in ("formula", "weight", "donors", "rings")) <= 1

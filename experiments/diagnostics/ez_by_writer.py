"""E/Z on every question of a split: is a miss in the labels the bridge writes or in the LLM's copy?

A fact-writing bridge with ``fact_stereo`` writes the E/Z labels of the first
``fact_ez_slots`` stereo double bonds among its fact tokens ("... E Z"); the LLM answers
"Is the stereo double bond E or Z?" by copying them ("E,Z"). This script scores every E/Z
question as ``edt eval`` does (exact match) and puts beside each answer the labels the bridge
wrote, so that each miss is one of: the writer wrote the wrong labels, the writer was cut at
its slot count (the answer has more labels than slots), or the writer was right and the LLM
did not copy it.

    python experiments/diagnostics/ez_by_writer.py --model src/edtformer/assets/bridge/default \\
        --out experiments/records/ez_by_writer_valid.json

The split is ``valid`` by default: this is a tuning diagnostic; the test split is scored once
per shipped model by ``edt eval``. ``--ez-slots N`` scores the same weights with another
``fact_ez_slots`` (the written list is longer; nothing is retrained).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import torch


def written_ez(facts: str) -> str:
    """The E/Z letters of a :meth:`FactWriter.describe` string, comma-joined as an answer."""
    rest = facts.split("|", 1)[-1]
    return ",".join(t for t in rest.split() if t in ("E", "Z"))


def main() -> None:
    from bbbp_by_digit import bridge_facts  # this folder is on sys.path when run as a script

    from edtformer.data import load_task
    from edtformer.data.schema import render_question
    from edtformer.evaluation.evaluator import evaluate_records
    from edtformer.model import EDTFormer
    from edtformer.utils.io import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", type=Path, default=Path("data_out"))
    ap.add_argument("--split", default="valid")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ez-slots", type=int, default=None, help="override fact_ez_slots")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = EDTFormer.from_pretrained(args.model).eval()
    writer = getattr(model.connector, "facts", None)
    if writer is None or not writer.stereo:
        raise SystemExit(f"{args.model} writes no stereo labels (fact_tokens / fact_stereo off)")
    if args.ez_slots is not None:
        writer.ez_slots = args.ez_slots  # the bridge's token count follows the writer's
    records = [
        dict(r)
        for r in load_task(args.data, "stereo", args.split)
        if (r["meta"] or {}).get("kind") == "ez"
    ]
    if not records:
        raise SystemExit(f"no E/Z questions in {args.data} / {args.split}")
    result = evaluate_records(model, records, "stereo", split=args.split, batch_size=16)
    answers = {item.id: item for item in result.items}
    smiles = [r["smiles"][0] for r in records]
    questions = [render_question(r).replace("<mol>\n", "").replace("<mol>", "") for r in records]
    facts = bridge_facts(model, smiles, questions)
    n_written_right = 0
    cases: Counter[str] = Counter()
    by_count: dict[int, list[int]] = {}
    misses = []
    for rec, text in zip(records, facts, strict=True):
        item = answers[rec["id"]]
        gold = str(rec["answer"]).strip()
        written = written_ez(text)
        n_written_right += written == gold
        n_labels = len(gold.split(","))
        right = bool(item.correct)
        if right:
            case = "right"
        elif written == gold:
            case = "writer right, LLM did not copy it"
        elif n_labels > writer.ez_slots and gold.startswith(written):
            case = "writer cut at its slots"
        else:
            case = "writer wrong"
        cases[case] += 1
        tally = by_count.setdefault(n_labels, [0, 0])
        tally[0] += 1
        tally[1] += right
        if not right:
            misses.append({"gold": gold, "written": written, "answer": item.prediction})
    n = len(records)
    out = {
        "model": args.model,
        "split": args.split,
        "fact_ez_slots": writer.ez_slots,
        "n": n,
        "exact_match": round(cases["right"] / n, 4),
        "writer_exact": round(n_written_right / n, 4),
        "cases": dict(cases.most_common()),
        "by_label_count": {k: {"n": v[0], "right": v[1]} for k, v in sorted(by_count.items())},
        "misses": misses,
    }
    print(json.dumps({k: v for k, v in out.items() if k != "misses"}, indent=1))
    atomic_write_json(args.out, out)


if __name__ == "__main__":
    main()

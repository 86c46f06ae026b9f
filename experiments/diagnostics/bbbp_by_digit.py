"""BBBP on the valid split: does the LLM read the bridge's blood-brain-barrier digit in order?

A fact-writing bridge with ``fact_bbb`` writes "blood-brain barrier D" into the prompt, D the decile
of a logistic read-out of the frozen streams (fitted LLM-free, then frozen). The LLM answers the
yes/no question; its P(yes) is what ROC-AUC ranks. This script puts the two side by side on every
valid BBBP question: ROC-AUC of the written digit alone, ROC-AUC of the LLM's P(yes), and per digit
the number of molecules, their share of BBB+ and the mean P(yes). If the digit ranks better than
the LLM, the loss is in the LLM's reading (P(yes) not rising with the digit), not in the bridge.

    python experiments/diagnostics/bbbp_by_digit.py --model runs/recipe_P/ship \\
        --out experiments/records/recipe_runs/recipe_P/bbbp_valid_by_digit.json

The split is ``valid`` by default: this is a tuning diagnostic; the test split is scored once per
shipped model by ``edt eval``.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch


def bridge_facts(
    model: Any, smiles: list[str], questions: list[str], batch_size: int = 16
) -> list[str]:
    """What a fact-writing bridge writes for each molecule (its ``FactWriter.describe`` text),
    from the bridge alone, without an LLM pass; ``questions`` without their ``<mol>``."""
    writer = model.connector.facts
    facts: list[str] = []
    with torch.no_grad():
        for i in range(0, len(smiles), batch_size):
            batch = model.prepare_qa(smiles[i : i + batch_size], questions[i : i + batch_size])
            _, bridge = model.embed(batch)
            assert bridge is not None and bridge.fact_ids is not None
            facts += writer.describe(bridge.fact_ids)
    return facts


def main() -> None:
    from sklearn.metrics import roc_auc_score

    from edtformer.data import load_task
    from edtformer.data.schema import render_question
    from edtformer.model import EDTFormer
    from edtformer.utils.io import atomic_write_json, atomic_write_text

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", type=Path, default=Path("data_out"))
    ap.add_argument("--split", default="valid")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--rows",
        type=Path,
        help="also write one JSON line per question (SMILES, label, P(yes), facts)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = EDTFormer.from_pretrained(args.model).eval()
    records = load_task(args.data, "bbbp", args.split)
    smiles = [r["smiles"][0] for r in records]
    questions = [render_question(r).replace("<mol>\n", "").replace("<mol>", "") for r in records]
    y = np.array([str(r["answer"]).lower().startswith("y") for r in records], dtype=int)
    scores = model.score_many(smiles, questions, ["yes", "no"], batch_size=16)
    writer = getattr(model.connector, "facts", None)
    if writer is None:
        raise SystemExit(f"{args.model} has no fact-writing bridge (fact_tokens off)")
    facts = bridge_facts(model, smiles, questions)
    p_yes, digit = [], []
    for s, text in zip(scores, facts, strict=True):
        if isinstance(s, Exception):
            raise SystemExit(f"a BBBP question could not be scored: {s}")
        found = re.search(r"blood-brain barrier (\d)", text)
        if found is None:
            raise SystemExit(f"{args.model} writes no blood-brain-barrier digit (fact_bbb off?)")
        p_yes.append(s["yes"])
        digit.append(int(found.group(1)))
    py, dig = np.array(p_yes), np.array(digit)
    out = {
        "model": args.model,
        "split": args.split,
        "n": len(records),
        "roc_auc_llm": round(float(roc_auc_score(y, py)), 4),
        "roc_auc_digit": round(float(roc_auc_score(y, dig)), 4),
        "by_digit": {
            int(d): {
                "n": int((dig == d).sum()),
                "bbb_plus_share": round(float(y[dig == d].mean()), 3),
                "mean_p_yes": round(float(py[dig == d].mean()), 3),
                "sd_p_yes": round(float(py[dig == d].std()), 3),
            }
            for d in sorted(set(digit))
        },
    }
    print(json.dumps(out, indent=1))
    atomic_write_json(args.out, out)
    if args.rows is not None:
        rows = [
            {"smiles": s, "bbb_plus": int(label), "p_yes": float(p), "digit": int(d), "facts": f}
            for s, label, p, d, f in zip(smiles, y, py, dig, facts, strict=True)
        ]
        atomic_write_text(args.rows, "".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()

"""Every question kind of a model on a seeded valid sample (32 questions per kind by default).

    python experiments/diagnostics/valid_sample.py --model runs/mc_mix/final --seed 1 \\
        --out experiments/records/recipe_runs/recipe_MC/valid_seed1.json

The recipe's learning curve scores one fixed valid sample (seed = the run's seed) while it
trains; this scores another sample (``--seed``) of the same size after training, with the same
columns (``recipe.headline``), so that a candidate is compared with the shipped model on
questions neither was tuned on. A gate before the test split, not a replacement for it: 32
questions per kind hide differences of a few points (a BBBP drop of 0.025 ROC-AUC went unseen
at this size: score all valid BBBP questions, ``edt eval --split valid --task bbbp``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def main() -> None:
    from edtformer.evaluation.evaluator import load_model
    from edtformer.training.curve import ValidCurve, curve_records, headline
    from edtformer.utils.io import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", default="data_out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-kind", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    start = time.perf_counter()
    records = curve_records(args.data, args.per_kind, args.seed)
    metrics = ValidCurve(model, records, every=0, path=args.out).score()  # the curve's scoring
    row = {"model": args.model, "seed": args.seed, **headline(metrics)}
    row["seconds"] = round(time.perf_counter() - start, 1)
    atomic_write_json(args.out, {**row, "metrics": metrics})
    print(json.dumps(row))


if __name__ == "__main__":
    main()

"""``edt bench``: train and score every ablation variant under one budget and seed set.

Writes ``<out>/ablations.md``, ``ablations.json``, ``ablations.png`` and one run folder per
variant x seed (``<out>/runs/<variant>/seed<k>/``); finished runs are reused, so re-running the
same command resumes an interrupted bench.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)


def register(sub: Any) -> None:
    """Add ``edt bench``."""
    from edtformer.experiments.bench import BUDGETS, VARIANT_NAMES

    p = sub.add_parser(
        "bench",
        help="ablation table: train + evaluate every variant under one budget and seed set",
        description="Train and evaluate the ablation variants (full, entropy-only, BRICS-only, "
        "anchors-only, dynamic-only, MLP, SMILES-only, no stereo embedding, fused encoders).",
    )
    p.add_argument("--budget", default="cpu", choices=sorted(BUDGETS), help="default cpu")
    p.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    p.add_argument(
        "--seeds-of",
        action="append",
        default=[],
        metavar="VARIANT=SEEDS",
        help="other seeds for one variant, e.g. mlp=0,1 (repeatable)",
    )
    p.add_argument(
        "--variants", help=f"comma-separated subset of {', '.join(VARIANT_NAMES)} (default all)"
    )
    p.add_argument("--data", default="data_out", help="dataset folder from `edt data build`")
    p.add_argument("--out", default="benchmarks/results", help="output folder")
    p.add_argument("--llm", help="LLM folder or id (required for --budget tiny)")
    p.add_argument("--max-steps", type=int, help="override the budget's training steps")
    p.add_argument("--eval-limit", type=int, help="override the budget's records per task")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs at a time, each in its own process with one torch thread (default 1)",
    )
    p.set_defaults(func=run)


def _ints(text: str) -> list[int]:
    from edtformer.errors import EdtError

    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise EdtError(f"--seeds: expected comma-separated integers, got {text!r}") from exc


def run(args: argparse.Namespace) -> int:
    """Run the bench and print where the table went."""
    from dataclasses import replace
    from pathlib import Path

    from edtformer.errors import EdtError
    from edtformer.experiments.bench import BUDGETS, get_variants, run_bench

    budget = BUDGETS[args.budget]
    if args.max_steps is not None:
        budget = replace(
            budget, max_steps=args.max_steps, warmup_steps=min(budget.warmup_steps, args.max_steps)
        )
    if args.eval_limit is not None:
        budget = replace(budget, eval_limit=args.eval_limit)
    seeds = _ints(args.seeds)
    seeds_of: dict[str, Sequence[int]] = {}
    for item in args.seeds_of:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise EdtError(f"--seeds-of: expected VARIANT=SEEDS, got {item!r}")
        seeds_of[name.strip()] = _ints(text)
    variants = get_variants(
        [v.strip() for v in args.variants.split(",")] if args.variants else None
    )
    if not (Path(args.data) / "manifest.json").is_file():
        raise EdtError(
            f"no dataset at {args.data}; build it with: edt data build --out {args.data}"
        )

    def on_run(result: Any, reused: bool) -> None:
        if budget.recipe is not None:
            from edtformer.experiments.bench import metric

            cells = {
                "counts exact": metric(result, "counts", "exact"),
                "zero tokens": metric(result, "zero:counts", "exact"),
                "group bal. acc": metric(result, "struct_text", "has_group/balanced_accuracy"),
                "BBBP AUC": metric(result, "bbbp", "roc_auc"),
            }
            scores = ", ".join(f"{k} {v:.3f}" for k, v in cells.items() if v is not None)
        else:
            acc = {r.task: r.metrics.get("accuracy", float("nan")) for r in result.reports}
            scores = ", ".join(f"{t} acc {a:.3f}" for t, a in acc.items())
        print(
            f"{result.variant} seed {result.seed}: "
            + scores
            + (
                " (reused)"
                if reused
                else f" (train {result.train_seconds:.0f} s, eval {result.eval_seconds:.0f} s)"
            ),
            flush=True,
        )

    run_bench(
        budget, seeds, variants, args.data, args.out, llm=args.llm, on_run=on_run,
        jobs=args.jobs, seeds_of=seeds_of,
    )  # fmt: skip
    print(f"wrote {Path(args.out) / 'ablations.md'}")
    return 0

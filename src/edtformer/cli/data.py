"""``edt data build`` / ``edt data stats``: the offline datasets (see :mod:`edtformer.data`)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def register(sub: Any) -> None:
    """Add the ``data`` command with ``build`` and ``stats`` sub-commands."""
    parser = sub.add_parser("data", help="build / inspect the offline datasets")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    b = actions.add_parser("build", help="build every task with one shared scaffold split")
    b.add_argument(
        "--out", default="data_out", help="output folder, replaced atomically (default: data_out)"
    )
    b.add_argument(
        "--size",
        default="small",
        choices=("tiny", "small", "full"),
        help="tiny: seconds (tests); small: default, about a minute; full: more MOSES molecules",
    )
    b.add_argument("--seed", type=int, default=0, help="split / sampling seed")
    b.add_argument(
        "--fractions",
        default="0.8,0.1,0.1",
        help="train,valid,test fractions of molecules (default: 0.8,0.1,0.1)",
    )
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=_build)

    s = actions.add_parser("stats", help="records per task and split of a built folder")
    s.add_argument("dir", help="a folder made by `edt data build`")
    s.add_argument(
        "--check", action="store_true", help="recompute scaffolds and check for split leaks"
    )
    s.add_argument(
        "--json", action="store_true", help="one JSON object per task and line (+ the split check)"
    )
    s.set_defaults(func=_stats)


def _fractions(text: str) -> tuple[float, float, float]:
    from edtformer.errors import DataError

    try:
        parts = tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise DataError(
            f"--fractions: expected three numbers like 0.8,0.1,0.1, got {text!r}"
        ) from exc
    if len(parts) != 3:
        raise DataError(f"--fractions: expected three numbers like 0.8,0.1,0.1, got {text!r}")
    return parts  # type: ignore[return-value]


def _build(args: argparse.Namespace) -> int:
    import dataclasses

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from edtformer.data.build import build_datasets, preset

    cfg = dataclasses.replace(preset(args.size, args.seed), fractions=_fractions(args.fractions))
    console = Console(stderr=True)
    start = time.perf_counter()
    with Progress(
        TextColumn("{task.description:<20}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=args.no_progress,
        transient=True,
    ) as bar:
        ids: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in ids:
                ids[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(ids[stage], completed=done, total=max(total, 1))

        manifest = build_datasets(args.out, cfg, progress)
    seconds = time.perf_counter() - start
    _print_table(console, manifest)
    console.print(f"wrote {manifest['total_records']} records to {args.out} in {seconds:.1f} s")
    return 0


def _print_table(console: Any, manifest: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="records per task and split")
    for col in ("task", "stage", "train", "valid", "test", "total"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for task, counts in manifest["counts"].items():
        stage = str(manifest.get("tasks", {}).get(task, {}).get("stage", ""))
        row = [counts.get(s, 0) for s in ("train", "valid", "test")]
        table.add_row(task, stage, *map(str, row), str(sum(row)))
    console.print(table)
    stats = manifest.get("scaffold_split", {}).get("stats")
    if stats:
        parts = [
            f"{s}: {v['scaffolds']} scaffolds / {v['molecules']} molecules"
            for s, v in stats.items()
        ]
        console.print("scaffold split — " + "; ".join(parts))


def _stats(args: argparse.Namespace) -> int:
    from rich.console import Console

    from edtformer.data.loader import read_manifest

    console = Console()
    manifest = read_manifest(args.dir)
    if args.json:
        for task, counts in manifest["counts"].items():
            stage = manifest.get("tasks", {}).get(task, {}).get("stage")
            row = {s: int(counts.get(s, 0)) for s in ("train", "valid", "test")}
            print(json.dumps({"task": task, "stage": stage, **row, "total": sum(row.values())}))
    else:
        _print_table(console, manifest)
    if not args.check:
        return 0
    from edtformer.data.audit import audit_splits

    report = audit_splits(args.dir)
    if args.json:
        keys = ("train_held_out", "unseen_free", "missing_keys")
        print(json.dumps({"split_check": "ok" if report["ok"] else "failed",
                          "scaffolds": report.get("scaffolds"),
                          **{k: len(report.get(k, [])) for k in keys}}, default=str))  # fmt: skip
        return 0 if report["ok"] else 1
    if report["ok"]:
        console.print(f"split check: no leak (distinct scaffolds per split: {report['scaffolds']})")
        return 0
    console.print(
        f"split check FAILED: {len(report['train_held_out'])} held-out scaffolds in training files, "
        f"{len(report['unseen_free'])} held-out records without an unseen scaffold, "
        f"{len(report['missing_keys'])} scaffolds missing from scaffolds.tsv"
    )
    return 1

"""``edt eval --model DIR --task T[,T2]``: score a trained model on built tasks or benchmark files.

Multiple-choice and yes/no questions are scored from answer-token probabilities (one forward, no
generation); numbers, SMILES and text are generated and parsed. The default split is ``test``
(``valid`` for model selection); ``--limit N`` scores a deterministic seeded subset.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Printed when neither ``--model`` nor a shipped default bridge exists.
NO_MODEL_HINT = (
    "no trained bridge is shipped yet and no --model was given; train one with "
    "`edt train all --preset smol --out runs/smol` and pass --model runs/smol/stage2/final"
)


def register(sub: Any) -> None:
    """Add ``edt eval``."""
    p = sub.add_parser(
        "eval",
        help="evaluate a trained model on tasks (accuracy, F1/AUC, MAE, exact match, BLEU ...)",
        description="Evaluate a trained model on built tasks or on benchmark files.",
    )
    p.add_argument("--model", help="trained model folder (default: the shipped bridge)")
    p.add_argument(
        "--task", required=True, help="task name(s), comma-separated (e.g. struct_mc,stereo)"
    )
    p.add_argument("--data", default="data_out", help="dataset folder from `edt data build`")
    p.add_argument("--split", default="test", choices=["test", "valid"], help="default test")
    p.add_argument(
        "--input", metavar="FILE", help="a benchmark file instead of --data (see --format)"
    )
    p.add_argument(
        "--smiles-column", metavar="NAME", default=None,
        help="with a CSV --input: the column with the SMILES (default: Drug or smiles)",
    )  # fmt: skip
    p.add_argument(
        "--id-column", metavar="NAME", default=None,
        help="with a CSV --input: the column that names each row (in --predictions; never a target)",
    )  # fmt: skip
    p.add_argument(
        "--format", choices=["moleculeqa", "mol-instructions", "csv"], help="--input format"
    )
    p.add_argument("--limit", type=int, help="score the first N records after a seeded shuffle")
    p.add_argument(
        "--per-kind", type=int, default=20, metavar="N",
        help="sheet_qa: questions per sheet fact kind and form (default 20; the README's: 8)",
    )  # fmt: skip
    p.add_argument(
        "--off-sheet", type=int, default=240, metavar="N",
        help="sheet_qa: off-sheet questions, answered by declining (default 240)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit shuffle (default 0)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per forward (default 8)")
    p.add_argument("--max-new-tokens", type=int, help="generation length (default per answer type)")
    p.add_argument(
        "--allow-leak", action="store_true", help="score a task whose labels the encoder saw"
    )
    p.add_argument(
        "--cloze",
        action="store_true",
        help="also score multiple choice by cloze (length-normalised log-likelihood of each "
        "option's text, lm-evaluation-harness acc_norm): cloze_* metrics",
    )
    p.add_argument("--json", action="store_true", help="print one JSON report per task and line")
    p.add_argument("--out", help="also write the reports to this JSON file")
    p.add_argument("--predictions", help="write every scored item to this JSONL file")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from edtformer.cli.ask import add_device_options

    add_device_options(p)
    p.set_defaults(func=run)


def _model_dir(arg: str | None) -> tuple[Path, str]:
    from edtformer.errors import EdtError
    from edtformer.model.checkpoint import default_bridge_dir, resolve_model_path

    if arg is not None:
        return resolve_model_path(arg), str(arg)
    folder = default_bridge_dir()
    if not (folder / "config.json").is_file():
        raise EdtError(NO_MODEL_HINT)
    return folder, "default"


def _text_only_encoders(folder: Path) -> tuple[str, ...]:
    """Encoders whose features reach the LLM (none for the SMILES-only connector)."""
    from edtformer.model.checkpoint import read_config

    cfg = read_config(folder)["config"]
    return () if cfg["bridge"].get("connector") == "none" else tuple(cfg["encoders"])


def _task_names(args: argparse.Namespace) -> list[str]:
    """The ``--task`` names, checked against the other options (an :class:`EdtError` if not)."""
    from edtformer.errors import EdtError

    tasks = [t.strip() for t in args.task.split(",") if t.strip()]
    if not tasks:
        raise EdtError("--task: give at least one task name")
    if args.limit is not None and args.limit < 1:
        raise EdtError(f"--limit must be at least 1, got {args.limit}")
    if args.input is not None and len(tasks) != 1:
        raise EdtError("--input reads one file: give exactly one --task name for its records")
    sheet = "sheet_qa" in tasks  # generated held-out-phrasing questions, not built records
    if sheet and args.input is not None:
        raise EdtError("sheet_qa asks generated questions about --data molecules; drop --input")
    if args.input is None and (args.smiles_column or args.id_column):
        raise EdtError("--smiles-column and --id-column name columns of --input FILE; no --input")
    return tasks


def _sheet_items(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The ``sheet_qa`` questions about the ``--data`` split's molecules (first ``--limit``)."""
    from edtformer.errors import EdtError
    from edtformer.evaluation.sheet_qa import build_items, split_molecules

    if args.per_kind < 1 or args.off_sheet < 0:
        raise EdtError(f"--per-kind must be >= 1 and --off-sheet >= 0, got {args.per_kind}, "
                       f"{args.off_sheet}")  # fmt: skip
    sheet_items = build_items(
        split_molecules(args.data, args.split), args.per_kind, args.seed, n_off_sheet=args.off_sheet
    )
    if args.limit is not None:
        sheet_items = sheet_items[: args.limit]
    return sheet_items


def _load_records(args: argparse.Namespace, tasks: list[str]) -> dict[str, Any]:
    """The records of every task except ``sheet_qa``, by task name."""
    from edtformer.evaluation.evaluator import load_eval_records

    return {
        t: load_eval_records(
            t,
            args.split,
            args.data,
            args.input,
            args.format,
            args.limit,
            args.seed,
            args.smiles_column,
            args.id_column,
        )
        for t in tasks
        if t != "sheet_qa"
    }


def _evaluate_task(model: Any, records: Any, task: str, args: argparse.Namespace, name: str) -> Any:
    """Score one task's records (undefined-metric warnings logged, not shown)."""
    from edtformer.evaluation.evaluator import evaluate_records
    from edtformer.evaluation.validation import UndefinedMetricWarning

    bar = _bar(len(records), task, args.no_progress)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UndefinedMetricWarning)
        result = evaluate_records(
            model, records, task, args.split, model_name=name, seed=args.seed,
            batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
            allow_leak=args.allow_leak, progress=bar.update, cloze=args.cloze,
        )  # fmt: skip
    bar.close()
    for w in caught:
        logger.info("%s: %s", task, w.message)
    return result


def _write_reports(args: argparse.Namespace, reports: list[Any], lines: list[str]) -> None:
    """Print the tables (unless ``--json``), then write ``--out`` and ``--predictions``."""
    from edtformer.utils.io import atomic_write_json, atomic_write_text

    if not args.json:
        from rich.console import Console

        console = Console()
        for r in reports:
            console.print(_table(r))
    if args.out:
        atomic_write_json(Path(args.out), {"reports": [r.to_dict() for r in reports]})
    if args.predictions:
        atomic_write_text(Path(args.predictions), "".join(line + "\n" for line in lines))


def run(args: argparse.Namespace) -> int:
    """Load the records (fail fast on bad input), then the model; score and print every task."""
    from edtformer.cli.ask import resolve_device
    from edtformer.evaluation.evaluator import load_model
    from edtformer.evaluation.leakage import check_leakage

    device, dtype = resolve_device(args.device, args.dtype)
    tasks = _task_names(args)
    sheet = "sheet_qa" in tasks  # generated held-out-phrasing questions, not built records
    sheet_items = _sheet_items(args) if sheet else []
    records = _load_records(args, tasks)
    folder, name = _model_dir(args.model)
    encoders = _text_only_encoders(folder)
    for t in records:  # refuse leaks before loading anything heavy
        check_leakage(encoders, t, allow=args.allow_leak)

    import torch

    from edtformer.cli.ask import _quiet_transformers

    _quiet_transformers()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(folder, device=device, dtype=dtype)
    reports: list[Any] = []
    lines: list[str] = []
    if sheet:
        reports.append(_sheet_report(model, sheet_items, args, name))
        lines += [
            json.dumps({"task": "sheet_qa", **r}, ensure_ascii=False) for r in reports[-1].rows
        ]
        if args.json:
            print(json.dumps(reports[-1].to_dict(), allow_nan=False), flush=True)
    for t in records:
        result = _evaluate_task(model, records[t], t, args, name)
        reports.append(result.report)
        lines += [json.dumps({"task": t, **vars(i)}, ensure_ascii=False) for i in result.items]
        if args.json:
            print(json.dumps(result.report.to_dict(), allow_nan=False), flush=True)
    _write_reports(args, reports, lines)
    sys.stdout.flush()
    return 0


class _SheetReport:
    """The ``sheet_qa`` scores in the shape of a task report (``task``, ``metrics``, ...)."""

    def __init__(self, rows: list[dict[str, Any]], metrics: dict[str, float], **info: Any) -> None:
        self.rows = rows
        self.metrics = metrics
        self.task, self.split, self.model = info["task"], info["split"], info["model"]
        self.training_mode, self.n = info["training_mode"], len(rows)
        self.n_unparseable = sum(r.get("output") is None for r in rows)
        self.notes = "held-out phrasings only (facts/templates/heldout.json)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task, "split": self.split, "model": self.model, "n": self.n,
            "training_mode": self.training_mode, "metrics": self.metrics, "notes": self.notes,
        }  # fmt: skip


def _sheet_report(model: Any, items: list[dict[str, Any]], args: Any, name: str) -> _SheetReport:
    """Score the held-out-phrasing sheet questions (:mod:`edtformer.evaluation.sheet_qa`)."""
    from edtformer.evaluation.sheet_qa import flat_metrics, score_items, summarise

    bar = _bar(len(items), "sheet_qa", args.no_progress)
    rows = score_items(model, items, batch_size=max(args.batch_size, 1), progress=bar.update)
    bar.close()
    return _SheetReport(
        rows, flat_metrics(summarise(rows)), task="sheet_qa", split=args.split, model=name,
        training_mode=model.config.trainable.mode,
    )  # fmt: skip


def _table(report: Any) -> Any:
    """One report as a two-column rich table (metric, value)."""
    from rich.table import Table

    title = (
        f"{report.task} [{report.split}] n={report.n} model={report.model} "
        f"({report.training_mode}), unparseable {report.n_unparseable}"
    )
    table = Table(title=title, caption=report.notes or None)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in report.metrics.items():
        table.add_row(key, f"{value:.4f}")
    return table


def _bar(total: int, task: str, disable: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=task, unit="q", disable=disable, file=sys.stderr, leave=False)

"""``edt bench``: the ablation table — every variant trained and scored under one budget and seed set.

Each variant x seed is a stage-2 run (:func:`edtformer.training.recipe.run_recipe`, the one
stage-2 runner) with the *same* steps, batch, learning rate, tasks and evaluation subset; only
the variant's own fields differ (connector, patch rule, encoders, stereo embedding, LoRA). The
trained model is then scored on the test split of the structure and stereo tasks. A run folder
``<out>/runs/<variant>/seed<k>/`` keeps the training config, metrics CSV, the final model and
``eval.json``; a finished ``eval.json`` is skipped on the next call, so an interrupted bench
resumes. Results are aggregated over seeds (mean ± sample std) into ``ablations.md``,
``ablations.json`` and ``ablations.png``.

This module runs the bench; the rows and budgets are :mod:`.bench_budgets`, the table and its
verdicts :mod:`.bench_report` (their names are importable from here too).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from edtformer.errors import EdtError
from edtformer.evaluation.report import MetricReport
from edtformer.experiments.bench_budgets import (
    BUDGETS,
    LEARN_KINDS,
    QUERY_CONNECTORS,
    VARIANT_NAMES,
    VARIANTS,
    Budget,
    Variant,
    get_variants,
    row_mode,
    train_config,
)
from edtformer.experiments.bench_report import (
    CHECKS,
    COUNT_COLUMNS,
    HEADLINE,
    LEARN_HEADLINE,
    MAX_LETTER_RATE,
    RunResult,
    aggregate,
    check_orderings,
    headline_for,
    markdown,
    mean_spread,
    metric,
    plot,
    write_outputs,
)
from edtformer.utils.io import atomic_write_json

logger = logging.getLogger(__name__)


def _test_records(budget: Budget, data_dir: str) -> dict[str, list[Any]]:
    """Task -> the test records every row of ``budget`` is scored on (fixed, seeded)."""
    # heavy (the evaluator and the trainers): 'edt bench --help' imports this module
    from edtformer.evaluation.evaluator import load_eval_records
    from edtformer.training.curve import curve_records

    if budget.recipe is not None:
        per_kind = budget.eval_limit or 10**9
        return dict(curve_records(data_dir, per_kind, 0, budget.eval_kinds, split="test"))
    return {
        task: list(load_eval_records(task, "test", data_dir, limit=budget.eval_limit, seed=0))
        for task in budget.eval_tasks
    }


def score_model(
    model: Any, variant: Variant, budget: Budget, seed: int, data_dir: str
) -> tuple[list[MetricReport], list[Any]]:
    """Every test task of ``budget``: its reports and all scored items."""
    # heavy (the evaluator loads the model's modules): 'edt bench --help' imports this module
    from edtformer.evaluation.evaluator import evaluate_records

    reports, items = [], []
    for task, records in _test_records(budget, data_dir).items():
        res = evaluate_records(
            model, records, task, "test", model_name=variant.name, seed=seed,
            batch_size=budget.eval_batch_size, max_new_tokens=budget.max_new_tokens,
            allow_leak=True,
        )  # fmt: skip
        res.report.training_mode = row_mode(variant, budget)
        reports.append(res.report)
        items += res.items
    return reports, items


def _by_kind(items: Sequence[Any], budget: Budget) -> list[Any]:
    """``items`` with their group set to their question kind of ``budget.eval_kinds`` (a whole
    task's items, e.g. BBBP's ``yesno``, take the task's name from their id ``<task>-<n>``)."""
    out = []
    for item in items:
        task = str(item.id).rsplit("-", 1)[0]
        kind = item.group if item.group in budget.eval_kinds else task
        out.append(replace(item, group=kind))
    return out


def run_one(
    variant: Variant, budget: Budget, seed: int, data_dir: str, run_dir: Path, llm: str | None
) -> RunResult:
    """Train (unless zero-shot) and evaluate one variant x seed; writes ``run_dir/eval.json`` last.

    Every row trains with :func:`~edtformer.training.recipe.run_recipe` (a ``recipe`` run on a
    recipe budget, a ``stage2`` run on the dataset's records otherwise); with
    ``budget.zero_tokens`` a trained row is scored again with its molecule tokens zeroed.
    """
    # heavy (the evaluator and the trainers): 'edt bench --help' imports this module
    from edtformer.evaluation.evaluator import load_model
    from edtformer.training.curve import COUNT_KINDS, paired_gap
    from edtformer.training.recipe import run_recipe
    from edtformer.training.record import hardware
    from edtformer.training.runner import build_stage2_model

    cfg = train_config(variant, budget, seed, data_dir, run_dir, llm)
    atomic_write_json(
        run_dir / "variant.json",
        {"variant": asdict(variant), "budget": asdict(budget), "config": cfg.to_dict()},
    )
    t0 = time.perf_counter()
    final_loss = None
    if variant.train:
        result = run_recipe(cfg, resume=(run_dir / "checkpoints").is_dir(), progress=False)
        final_loss = result.losses[-1] if result.losses else None
        model = load_model(run_dir / "final")
    else:
        torch.manual_seed(seed)
        model = build_stage2_model(cfg).eval()
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    reports, items = score_model(model, variant, budget, seed, data_dir)
    items = _by_kind(items, budget)
    zero_reports: list[MetricReport] = []
    gaps: dict[str, dict[str, float]] = {}
    if budget.zero_tokens and variant.train and not model.text_only:
        with model.molecule_tokens_zeroed():
            zero_reports, zero_items = score_model(model, variant, budget, seed, data_dir)
        for r in zero_reports:
            r.notes = (r.notes + " " if r.notes else "") + "zero-token control"
        zero_items = _by_kind(zero_items, budget)
        gaps = {k: paired_gap(items, zero_items, (k,)) for k in budget.eval_kinds}
        gaps["counts"] = paired_gap(items, zero_items, COUNT_KINDS)
        gaps = {k: v for k, v in gaps.items() if v}
    counted = {
        f"{i.group}|{i.id}": bool(i.correct)
        for i in items
        if i.group in COUNT_KINDS and i.correct is not None
    }
    run = RunResult(
        variant.name, seed, reports, train_s, time.perf_counter() - t1, final_loss,
        zero_reports=zero_reports, gaps=gaps, count_items=counted,
        # the precision the trainer resolved ("auto" -> what this CPU runs natively)
        precision=cfg.run.precision if variant.train else None, hardware=hardware(),
    )  # fmt: skip
    atomic_write_json(run_dir / "eval.json", run.to_dict())
    return run


def watch_parent(
    parent: int, interval: float = 5.0, stop: Callable[[int], Any] = os._exit
) -> threading.Thread:
    """A daemon thread that ends this process (``stop(1)``) once its parent ``parent`` is gone.

    A worker of ``edt bench --jobs N`` otherwise outlives a killed bench (``kill`` of the bench
    process, not of its group) and keeps training for an hour on cores the next bench needs; its
    checkpoints are written atomically, so the next bench resumes from the last one.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        logger.warning("bench: the bench process %d is gone; this worker stops", parent)
        stop(1)

    thread = threading.Thread(target=watch, name="edt-bench-parent-watch", daemon=True)
    thread.start()
    return thread


def _start_worker() -> None:
    """Each worker process of ``jobs > 1``, once: one torch thread, and it stops when the bench
    process is killed (:func:`watch_parent`)."""
    torch.set_num_threads(1)
    watch_parent(os.getppid())


def _train_and_score(
    todo: Sequence[tuple[Variant, int, Path]],
    budget: Budget,
    data_dir: str,
    llm: str | None,
    jobs: int,
) -> Iterator[tuple[Variant, int, RunResult]]:
    """Run each ``(variant, seed, run_dir)``, in this process or ``jobs`` worker processes.

    Yields ``(variant, seed, result)`` as runs finish (in order when ``jobs == 1``).
    """
    if jobs == 1 or len(todo) <= 1:
        for variant, seed, run_dir in todo:
            logger.info("bench: %s seed %d (%s budget)", variant.name, seed, budget.name)
            yield variant, seed, run_one(variant, budget, seed, data_dir, run_dir, llm)
        return

    ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
    workers = min(jobs, len(todo))
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_worker) as pool:
        futures = {
            pool.submit(run_one, v, budget, seed, data_dir, run_dir, llm): (v, seed)
            for v, seed, run_dir in todo
        }
        logger.info("bench: %d runs, %d at a time", len(todo), workers)
        for fut in as_completed(futures):
            v, seed = futures[fut]
            yield v, seed, fut.result()


def _budget_differences(saved: dict[str, Any], budget: Budget) -> list[str]:
    """The settings of ``budget`` whose saved value (``saved``, a JSON budget) differs."""
    now = json.loads(json.dumps(asdict(budget)))  # tuples -> lists, as saved
    return sorted(k for k in now if k in saved and saved[k] != now[k])


def _check_same_budget(run_dir: Path, budget: Budget) -> None:
    """Refuse to reuse a finished run trained under other budget settings."""
    path = run_dir / "variant.json"
    if not path.is_file():
        return
    saved = json.loads(path.read_text()).get("budget", {})
    differ = _budget_differences(saved, budget)
    if differ:
        now = json.loads(json.dumps(asdict(budget)))
        raise EdtError(
            f"{run_dir} was trained under other {budget.name} budget settings ({', '.join(differ)}"
            f" differ: {[saved[k] for k in differ]} vs {[now[k] for k in differ]}); use another "
            "--out or remove it"
        )


def _with_training_record(run: RunResult, run_dir: Path) -> RunResult:
    """``run`` with the precision and CPU of its ``final/training.json`` where its ``eval.json``
    (written before those fields) does not name them."""
    path = run_dir / "final" / "training.json"
    if run.precision is not None or not path.is_file():
        return run
    record = json.loads(path.read_text())
    return replace(run, precision=record.get("precision"), hardware=record.get("hardware"))


def recorded_runs(out: Path, budget: Budget) -> dict[tuple[str, int], RunResult]:
    """The runs recorded in ``out/ablations.json`` under the same ``budget`` settings.

    The report is small and committed with the repository, while run folders (weights,
    checkpoints) are not: on a fresh machine a bench resumes from the report's finished runs
    instead of training them again. A report of other budget settings gives nothing (logged).
    """
    path = out / "ablations.json"
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text())
        differ = _budget_differences(saved.get("budget", {}), budget)
        if saved.get("budget", {}).get("name") != budget.name or differ:
            logger.info("bench: %s is of other budget settings (%s); not reused", path, differ)
            return {}
        runs = [RunResult.from_dict(r) for r in saved.get("runs", [])]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("bench: cannot read the runs recorded in %s (%s); not reused", path, exc)
        return {}
    return {(r.variant, r.seed): r for r in runs}


def _write_so_far(
    done: dict[tuple[str, int], RunResult],
    variants: Sequence[Variant],
    seeds_of: dict[str, Sequence[int]],
    seeds: Sequence[int],
    budget: Budget,
    out: Path,
) -> list[RunResult]:
    """Write the report of the runs in ``done`` (table order; rows without a run left out)."""
    results = [
        done[(v.name, s)]
        for v in variants
        for s in seeds_of.get(v.name, seeds)
        if (v.name, s) in done
    ]
    present = [v for v in variants if any(r.variant == v.name for r in results)]
    if results:
        write_outputs(results, present, budget, list(seeds), out)
    return results


def run_bench(
    budget: Budget,
    seeds: Sequence[int],
    variants: Sequence[Variant],
    data_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    llm: str | None = None,
    on_run: Callable[[RunResult, bool], None] | None = None,
    jobs: int = 1,
    seeds_of: dict[str, Sequence[int]] | None = None,
) -> list[RunResult]:
    """Every variant x seed (finished runs are read back, not redone), then the aggregate files.

    ``jobs > 1`` trains that many runs at a time, each in its own process with one torch thread
    (on a small CPU two one-thread runs finish sooner than one two-thread run). ``on_run(result,
    reused)`` is called after each run (the CLI prints progress there); results keep table order.
    ``seeds_of`` gives some variants other seeds than ``seeds``. Runs live in
    ``<out>/runs/<budget>/<variant>/seed<k>/``; a finished run trained under other budget
    settings (e.g. another ``--max-steps``) is refused, not reused. A run with no folder that
    ``<out>/ablations.json`` records under the same budget is reused from there
    (:func:`recorded_runs`); the report is rewritten after every finished run.
    """
    if len(seeds) < 1:
        raise EdtError("give at least one seed (two or more for a spread)")
    seeds_of = dict(seeds_of or {})
    unknown = sorted(set(seeds_of) - {v.name for v in variants})
    if unknown:
        raise EdtError(f"seeds given for variant(s) {unknown} that are not in this bench")
    if jobs < 1:
        raise EdtError(f"jobs must be >= 1, got {jobs}")
    if budget.preset == "tiny" and llm is None:
        raise EdtError("the tiny budget needs --llm PATH (a tiny local LLM folder)")
    out = Path(out)
    recorded = recorded_runs(out, budget)
    done: dict[tuple[str, int], RunResult] = {}
    todo: list[tuple[Variant, int, Path]] = []
    for variant in variants:
        for seed in seeds_of.get(variant.name, seeds):
            run_dir = out / "runs" / budget.name / variant.name / f"seed{seed}"
            if (run_dir / "eval.json").is_file():
                _check_same_budget(run_dir, budget)
                run = _with_training_record(
                    RunResult.from_dict(json.loads((run_dir / "eval.json").read_text())), run_dir
                )
            elif (variant.name, seed) in recorded:
                run = recorded[(variant.name, seed)]
                logger.info(
                    "bench: %s seed %d reused from %s", variant.name, seed, out / "ablations.json"
                )
            else:
                todo.append((variant, seed, run_dir))
                continue
            done[(variant.name, seed)] = run
            if on_run:
                on_run(run, True)
    # seed-major (every variant's first seed before any second seed): a bench cut short still
    # has one run of every row to compare; the sort is stable, so rows keep table order
    todo.sort(key=lambda t: list(seeds_of.get(t[0].name, seeds)).index(t[1]))
    for variant, seed, run in _train_and_score(todo, budget, str(data_dir), llm, jobs):
        done[(variant.name, seed)] = run
        # the report after every finished run: it is what a later bench on a fresh machine reuses
        _write_so_far(done, variants, seeds_of, seeds, budget, out)
        if on_run:
            on_run(run, False)
    return _write_so_far(done, variants, seeds_of, seeds, budget, out)


__all__ = [
    "BUDGETS",
    "CHECKS",
    "COUNT_COLUMNS",
    "HEADLINE",
    "LEARN_HEADLINE",
    "LEARN_KINDS",
    "MAX_LETTER_RATE",
    "QUERY_CONNECTORS",
    "VARIANTS",
    "VARIANT_NAMES",
    "Budget",
    "RunResult",
    "Variant",
    "aggregate",
    "check_orderings",
    "get_variants",
    "headline_for",
    "markdown",
    "mean_spread",
    "metric",
    "plot",
    "recorded_runs",
    "row_mode",
    "run_bench",
    "run_one",
    "score_model",
    "train_config",
    "watch_parent",
    "write_outputs",
]

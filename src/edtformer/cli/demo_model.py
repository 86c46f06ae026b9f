"""The model half of ``edt demo``: data, the shipped bridge, held-out metrics, answers.

Steps (appended to :data:`edtformer.cli.demo.STEPS`):

2. ``data`` — ``edt data build --size small --seed 0`` into ``DIR/data`` (the build the shipped
   bridge was trained on, so its scaffold test split is held out from that training).
3. ``evaluate`` — the shipped default bridge on the scaffold **test** split of the structure,
   stereo and BBB tasks (a seeded subset of each; the size is ``EDT_DEMO_EVAL_LIMIT``,
   default 96), printed as a metrics table and written to ``DIR/evaluate/reports.json``.
4. ``ask`` — a few questions about the demo drugs, answered by the same model.
"""

from __future__ import annotations

import os
import time
from typing import Any

#: Tasks evaluated by the demo (all scored on the held-out scaffold test split).
DEMO_TASKS: tuple[str, ...] = ("struct_text", "struct_mc", "stereo", "bbbp")

#: Metrics shown in the demo's table (every metric is written to ``reports.json``).
HEADLINE: tuple[str, ...] = (
    "has_group/balanced_accuracy",
    "n_rings/exact_accuracy",
    "n_aromatic_rings/exact_accuracy",
    "hbd/exact_accuracy",
    "hba/exact_accuracy",
    "heavy_atoms/mae",
    "accuracy",
    "f1",
    "roc_auc",
    "same_stereoisomer/accuracy",
    "n_stereocentres/mae",
    "rs/exact_match",
    "rs/per_label_accuracy",
    "ez/exact_match",
)

#: Questions asked about the demo drugs.
DEMO_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("Aspirin", "Which functional groups does this molecule contain?"),
    ("Morphine", "How many defined stereocentres does this molecule have?"),
    ("Caffeine", "Can this molecule cross the blood-brain barrier?"),
    ("Ibuprofen", "Is ibuprofen, as written here, chiral?"),
    ("Aspirin", 'Give aspirin\'s Crippen logP as JSON with the key "logp".'),
    ("Aspirin", "What is the melting point of aspirin?"),
)


def _model(ctx: Any) -> Any:
    """The shipped default bridge (loaded once per demo, features through the cache)."""
    if "model" not in ctx.loaded:
        from edtformer.errors import CheckpointError
        from edtformer.evaluation.evaluator import load_model
        from edtformer.model.checkpoint import default_bridge_dir

        folder = default_bridge_dir()
        if not (folder / "config.json").is_file():
            raise CheckpointError(
                f"no shipped default bridge at {folder}; train one with `edt train --preset smol`"
            )
        ctx.loaded["model"] = load_model(folder)
    return ctx.loaded["model"]


def step_data(ctx: Any) -> dict[str, Any]:
    """Build the datasets (deterministic: the same bytes as the shipped bridge's training data)."""
    from edtformer.data import build_datasets, preset, read_manifest

    folder = ctx.out / "data"
    if not (folder / "manifest.json").is_file():
        from rich.progress import Progress

        with Progress(console=ctx.console, transient=True) as bar:
            task = bar.add_task("building datasets", total=None)

            def tick(stage: str, done: int, total: int) -> None:
                bar.update(task, description=f"data: {stage}", completed=done, total=total or None)

            build_datasets(folder, preset("small", seed=0), progress=tick)
    manifest = read_manifest(folder)
    counts = manifest.get("counts", {})
    ctx.console.print(
        f"datasets in {folder}: {sum(sum(v.values()) for v in counts.values())} records"
    )
    return {"folder": str(folder), "tasks": sorted(counts)}


def _have_bridge(ctx: Any) -> bool:
    from edtformer.model.checkpoint import default_bridge_dir

    if (default_bridge_dir() / "config.json").is_file():
        return True
    ctx.console.print(
        "[yellow]no shipped default bridge in this install; skipping (train one with "
        "`edt train --preset smol`)[/]"
    )
    return False


def step_evaluate(ctx: Any) -> dict[str, Any]:
    """Held-out scaffold-test metrics of the shipped bridge, as a table."""
    from rich.table import Table

    from edtformer.evaluation.evaluator import evaluate_records, load_eval_records
    from edtformer.utils.io import atomic_write_json

    if not _have_bridge(ctx):
        return {"skipped": "no shipped bridge"}
    model = _model(ctx)
    limit = int(os.environ.get("EDT_DEMO_EVAL_LIMIT", "96"))
    reports = []
    for task in DEMO_TASKS:
        recs = load_eval_records(task, "test", ctx.out / "data", limit=limit, seed=0)
        t0 = time.perf_counter()
        result = evaluate_records(model, recs, task, "test", model_name="default", seed=0)
        ctx.console.print(f"{task}: {len(recs)} test questions in {time.perf_counter() - t0:.1f} s")
        reports.append(result.report)
    table = Table(
        title="Shipped bridge, scaffold test split",
        caption=f"model: default ({reports[0].training_mode}), seed 0; every metric in reports.json",
    )
    for col in ("task", "n", "metric", "value"):
        table.add_column(col, justify="right" if col in ("n", "value") else "left")
    for r in reports:
        for name in HEADLINE:
            if name in r.metrics:
                table.add_row(r.task, str(r.n), name, f"{r.metrics[name]:.3f}")
    ctx.console.print(table)
    atomic_write_json(ctx.out / "evaluate" / "reports.json", [r.to_dict() for r in reports])
    return {r.task: r.metrics for r in reports}


def step_ask(ctx: Any) -> dict[str, Any]:
    """Answer a few questions about real drugs."""
    if not _have_bridge(ctx):
        return {"skipped": "no shipped bridge"}
    model = _model(ctx)
    smiles = dict(ctx.drugs)
    answers = []
    for name, question in DEMO_QUESTIONS:
        if name not in smiles:
            continue
        ans = model.ask(smiles[name], question, max_new_tokens=96)
        ctx.console.print(f"[bold]{name}[/] — {question}\n  → {ans.answer}")
        row = {"drug": name, "question": question, "answer": ans.answer}
        if ans.facts is not None:  # the fact-sheet lines the LLM read
            shown = ans.facts[0].replace("\n", " | ")
            ctx.console.print(f"  [dim]facts read: {shown}[/]", highlight=False)
            row["facts"] = ans.facts[0]
        answers.append(row)
    return {"answers": answers}

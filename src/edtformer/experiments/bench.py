"""``edt bench``: the ablation table — every variant trained and scored under one budget and seed set.

Each variant x seed is a stage-2 run (:func:`edtformer.training.runner.run_stage2`) with the
*same* steps, batch, learning rate, tasks and evaluation subset; only the variant's own fields
differ (connector, patch rule, encoders, stereo embedding, LoRA). The trained model is then
scored on the test split of the structure and stereo tasks. A run folder
``<out>/runs/<variant>/seed<k>/`` keeps the training config, metrics CSV, the final model and
``eval.json``; a finished ``eval.json`` is skipped on the next call, so an interrupted bench
resumes. Results are aggregated over seeds (mean ± sample std) into ``ablations.md``,
``ablations.json`` and ``ablations.png``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from edtformer.errors import EdtError
from edtformer.evaluation.report import MetricReport
from edtformer.training.curve import find_metric
from edtformer.utils.io import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One row of the ablation table (everything else is the budget's and identical across rows)."""

    name: str
    connector: str
    """``edt``, ``anchors_only``, ``dynamic_only``, ``mlp`` or ``none`` (SMILES text only)."""
    patch_rule: str = "combine"
    fused: bool = False
    """Use the budget's fused encoder pair instead of its single encoder."""
    stereo_embedding: bool | None = None
    """Override the bridge preset's trainable stereo embedding (``None``: preset default)."""
    lora_r: int | None = None
    """LoRA rank on the LLM (marks the row as *not* frozen-LLM)."""
    train: bool = True
    """``False``: evaluate the built model untrained (zero-shot)."""
    description: str = ""

    def training_mode(self) -> str:
        """What trains in this row (:meth:`TrainableConfig.describe`)."""
        from edtformer.llm.trainable import LoraSettings, TrainableConfig

        if not self.train:
            return TrainableConfig(bridge_trainable=False).describe()
        lora = LoraSettings(r=self.lora_r) if self.lora_r else None
        return TrainableConfig(lora=lora).describe(text_only=self.connector == "none")


#: The ablation rows, in table order.
VARIANTS: tuple[Variant, ...] = (
    Variant("full", "edt", "combine", description="anchors + entropy and BRICS dynamic tokens"),
    Variant("entropy_only", "edt", "quantile", description="dynamic tokens from entropy patches"),
    Variant("brics_only", "edt", "brics", description="dynamic tokens from BRICS (no entropy)"),
    Variant("anchors_only", "anchors_only", description="static Q-Former: anchors only"),
    Variant("dynamic_only", "dynamic_only", description="dynamic tokens only, no anchors"),
    Variant("mlp", "mlp", description="MLP projector, one token per atom"),
    Variant("smiles_lora", "none", lora_r=8, description="SMILES in the prompt, LoRA on the LLM"),
    Variant(
        "smiles_zeroshot", "none", train=False, description="SMILES in the prompt, no training"
    ),
    Variant("no_stereo_emb", "edt", stereo_embedding=False, description="full without stereo emb."),
    Variant("fused", "edt", fused=True, description="full on two fused encoders"),
)
VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIANTS)


#: Question kinds of the learnable setting (answers written nowhere in the prompt).
LEARN_KINDS: tuple[str, ...] = (
    "has_group",
    "n_rings",
    "n_aromatic_rings",
    "hbd",
    "hba",
    "n_stereocentres",
    "same_stereoisomer",
    "bbbp",
    "solubility",
)


@dataclass(frozen=True)
class Budget:
    """Training and evaluation settings shared by every row."""

    name: str
    preset: str
    max_steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    eval_limit: int | None
    """Test records scored per task (a fixed seeded subset; ``None``: all)."""
    encoder: str
    fused_encoder: str
    train_tasks: tuple[str, ...] = ("struct_mc", "stereo")
    eval_tasks: tuple[str, ...] = ("struct_mc", "stereo")
    max_new_tokens: int | None = None
    eval_batch_size: int = 8
    accelerator: str = "cpu"
    precision: str = "32-true"
    recipe: str | None = None
    """A named recipe config (``src/edtformer/recipes/<name>.yaml``): every row trains with
    :func:`~edtformer.training.recipe.run_recipe` on that recipe (its question stream, LoRA,
    valid curve) instead of the bare stage 2 on ``train_tasks``; ``lr`` is then the recipe's."""
    eval_kinds: tuple[str, ...] = ()
    """With ``recipe``: the question kinds scored on test, ``eval_limit`` seeded questions each
    (``training.curve.CURVE_KIND_TASK``; whole-task kinds get twice as many)."""
    zero_tokens: bool = False
    """Score every trained row a second time with its molecule tokens zeroed before the LLM."""
    curve_every: int | None = None
    """With ``recipe``: score the valid curve every N steps (``None``: the recipe's)."""
    overrides: tuple[str, ...] = ()
    """Further ``section.key=value`` settings of every row (on top of the recipe)."""


BUDGETS: dict[str, Budget] = {
    # Tests: the tiny random LLM given by --llm, random encoder, seconds per run.
    "tiny": Budget("tiny", "tiny", 4, 4, 3e-3, 1, 12, "random", "random,random", max_new_tokens=4),
    # 2-core CPU with SmolLM2-135M, one thread per run: ~4-7 s per step of 8 -> 9-14 min
    # training and ~1-2 min scoring per run (SMILES + LoRA ~30 min); all variants x 2 seeds in
    # about 2.5 h with --jobs 2 (measured 2026-11-26).
    "cpu": Budget("cpu", "smol", 120, 8, 3e-4, 8, 100, "minimol", "minimol,chemprop"),
    # The learnable setting (recipes/ablation.yaml): LoRA r=8, no fact sheet, per-atom streams,
    # the balanced stream of count / group / stereo / BBBP / solubility questions, scored with
    # and without the molecule tokens. The step count is the smallest at which the full model's
    # valid curve beat its zero-token control by > 3 SE on the count kinds
    # (benchmarks/results/ablation_curve.md).
    "learn": Budget(
        "learn",
        "smol",
        1200,
        8,
        1e-3,
        50,
        60,
        "minimol,rdkit_atoms",
        "minimol,rdkit_atoms",
        recipe="ablation",
        eval_kinds=LEARN_KINDS,
        zero_tokens=True,
        precision="auto",
    ),
    # The learnable setting at test size: the tiny LLM of --llm, random encoder, seconds per row.
    "tiny_learn": Budget(
        "tiny_learn",
        "tiny",
        3,
        4,
        3e-3,
        1,
        2,
        "random",
        "random,random",
        max_new_tokens=4,
        recipe="ablation",
        eval_kinds=LEARN_KINDS,
        zero_tokens=True,
        curve_every=3,
        overrides=("recipe.eval_per_kind=2", "recipe.eval_at_start=false"),
    ),
    # GPU scale (a config change, not run here).
    "paper": Budget(
        "paper",
        "paper",
        3000,
        32,
        1e-4,
        100,
        None,
        "minimol",
        "minimol,chemprop",
        eval_batch_size=32,
        accelerator="gpu",
        precision="bf16-mixed",
    ),
}

MAX_LETTER_RATE = "pred_rate/max"
"""Derived metric: the share of MC answers given to the most-chosen letter (0.25 = no bias)."""

#: Table columns: (task, metric key, header).
HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("struct_mc", "accuracy", "struct MC acc"),
    ("stereo", "accuracy", "stereo acc (all)"),
    ("stereo", "rs/exact_match", "R/S exact"),
    ("stereo", "ez/exact_match", "E/Z exact"),
    ("stereo", "same_stereoisomer/accuracy", "same-isomer acc"),
    ("stereo", "n_stereocentres/exact_accuracy", "#stereocentres exact"),
    # Does the row use the molecule at all? ROC-AUC 0.5 on the paired yes/no question and one
    # letter taking most MC answers mean the model learnt the answer priors, not the structure.
    ("stereo", "same_stereoisomer/roc_auc", "same-isomer AUC"),
    ("struct_mc", MAX_LETTER_RATE, "top MC letter share"),
)

#: Table columns of a recipe budget (the learnable setting): (task, metric key, header). Task
#: ``counts`` is the mean exact accuracy of the count kinds (equal questions per kind), ``zero:``
#: reads the zero-token control's reports, ``gap`` the paired gap over it.
LEARN_HEADLINE: tuple[tuple[str, str, str], ...] = (
    ("counts", "exact", "counts exact"),
    ("zero:counts", "exact", "counts exact, zero tokens"),
    ("gap", "counts", "counts gap (paired)"),
    ("struct_text", "n_rings/exact_accuracy", "rings"),
    ("struct_text", "n_aromatic_rings/exact_accuracy", "arom. rings"),
    ("struct_text", "hbd/exact_accuracy", "donors"),
    ("struct_text", "hba/exact_accuracy", "acceptors"),
    ("stereo", "n_stereocentres/exact_accuracy", "stereocentres"),
    ("struct_text", "has_group/balanced_accuracy", "group yes/no bal. acc"),
    ("stereo", "same_stereoisomer/accuracy", "same isomer"),
    ("bbbp", "roc_auc", "BBBP AUC"),
    ("solubility", "mae", "log S MAE"),
    ("solubility", "spearman", "log S Spearman"),
)

#: Count kinds' columns pooled as ``counts`` (task, metric key).
COUNT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("struct_text", "n_rings/exact_accuracy"),
    ("struct_text", "n_aromatic_rings/exact_accuracy"),
    ("struct_text", "hbd/exact_accuracy"),
    ("struct_text", "hba/exact_accuracy"),
    ("stereo", "n_stereocentres/exact_accuracy"),
)


def headline_for(budget: Budget) -> tuple[tuple[str, str, str], ...]:
    """The table columns of ``budget``'s rows."""
    return LEARN_HEADLINE if budget.recipe is not None else HEADLINE


#: Paper claims checked from the table: (winner, loser, metric columns, claim).
CHECKS: tuple[tuple[str, str, str], ...] = (
    ("full", "anchors_only", "the full model beats the static Q-Former (no dynamic tokens)"),
    ("full", "mlp", "the full model beats the MLP projector"),
    ("full", "smiles_lora", "the full model beats the SMILES-only LLM (LoRA)"),
    ("full", "brics_only", "full > no entropy patching (paper ablation)"),
    ("full", "no_stereo_emb", "the stereo embedding helps on stereo questions"),
)


def get_variants(names: Sequence[str] | None) -> list[Variant]:
    """The variants named (all of them for ``None``), in table order; unknown names raise."""
    if not names:
        return list(VARIANTS)
    unknown = [n for n in names if n not in VARIANT_NAMES]
    if unknown:
        raise EdtError(f"unknown bench variant(s) {unknown}; choose from {list(VARIANT_NAMES)}")
    return [v for v in VARIANTS if v.name in names]


#: Connectors with a query transformer (the only ones that can read the question's words).
QUERY_CONNECTORS: tuple[str, ...] = ("edt", "anchors_only", "dynamic_only")


def train_config(
    variant: Variant, budget: Budget, seed: int, data_dir: str, out: Path, llm: str | None
) -> Any:
    """The :class:`~edtformer.training.config.TrainConfig` of one run: the budget's preset (and
    recipe, if it names one) with the budget's and the variant's fields put in with
    :func:`dataclasses.replace`; nothing else differs between two rows."""
    from edtformer.training.config import build_config

    if budget.recipe is not None:
        base = build_config("recipe", budget.preset, budget.recipe, budget.overrides)
    else:
        base = build_config("stage2", budget.preset, None, budget.overrides)
    encoders = budget.fused_encoder if variant.fused else budget.encoder
    model = replace(
        base.model,
        connector=variant.connector,
        patch_rule=variant.patch_rule,
        encoders=tuple(e for e in encoders.split(",") if e),
        stereo_embedding=variant.stereo_embedding,
        llm=llm if llm is not None else base.model.llm,
    )
    optim = replace(
        base.optim,
        max_steps=budget.max_steps,
        batch_size=budget.batch_size,
        warmup_steps=budget.warmup_steps,
    )
    cfg = replace(
        base,
        model=model,
        optim=optim if budget.recipe is not None else replace(optim, lr=budget.lr),
        data=replace(base.data, dir=str(data_dir), tasks=tuple(budget.train_tasks)),
        run=replace(
            base.run,
            out_dir=str(out),
            seed=seed,
            accelerator=budget.accelerator,
            precision=budget.precision,
            ckpt_every=min(base.run.ckpt_every, budget.max_steps),
            keep_checkpoints=1,
        ),
        lora=base.lora if budget.recipe is not None else replace(base.lora, r=variant.lora_r or 0),
    )
    if budget.recipe is not None:
        recipe = cfg.recipe
        if budget.curve_every is not None:
            recipe = replace(recipe, eval_every=budget.curve_every)
        if variant.connector not in QUERY_CONNECTORS:  # nothing there reads the question
            recipe = replace(recipe, instruction_aware=False)
        cfg = replace(cfg, recipe=recipe)
    return cfg.validate()


@lru_cache(maxsize=8)
def _recipe_lora_r(preset: str, recipe: str, overrides: tuple[str, ...]) -> int:
    """The LoRA rank of a recipe budget's rows (the recipe file is read once per process)."""
    from edtformer.training.config import build_config

    return build_config("recipe", preset, recipe, overrides).lora.r


def row_mode(variant: Variant, budget: Budget) -> str:
    """What trains in ``variant``'s row under ``budget`` (the recipe's LoRA for every trained
    row of a recipe budget)."""
    if budget.recipe is None or not variant.train:
        return variant.training_mode()
    from edtformer.llm.trainable import LoraSettings, TrainableConfig

    r = _recipe_lora_r(budget.preset, budget.recipe, budget.overrides)
    lora = LoraSettings(r=r) if r else None
    return TrainableConfig(lora=lora).describe(text_only=variant.connector == "none")


@dataclass
class RunResult:
    """One variant x seed: its reports and timings (``eval.json`` of the run folder)."""

    variant: str
    seed: int
    reports: list[MetricReport]
    train_seconds: float
    eval_seconds: float
    final_loss: float | None = None
    notes: list[str] = field(default_factory=list)
    zero_reports: list[MetricReport] = field(default_factory=list)
    """The same test questions with the molecule tokens zeroed (the zero-token control)."""
    gaps: dict[str, dict[str, float]] = field(default_factory=dict)
    """Kind (and ``counts``: the count kinds pooled) -> paired accuracy gap over the zero-token
    control (:func:`~edtformer.training.curve.paired_gap`)."""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["reports"] = [r.to_dict() for r in self.reports]
        d["zero_reports"] = [r.to_dict() for r in self.zero_reports]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        d = dict(d)
        d["reports"] = [MetricReport.from_dict(r) for r in d["reports"]]
        d["zero_reports"] = [MetricReport.from_dict(r) for r in d.get("zero_reports", [])]
        d.setdefault("gaps", {})
        return cls(**d)


def _test_records(budget: Budget, data_dir: str) -> dict[str, list[Any]]:
    """Task -> the test records every row of ``budget`` is scored on (fixed, seeded)."""
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

    A recipe budget trains with :func:`~edtformer.training.recipe.run_recipe` (the shipped
    recipe's runner), others with :func:`~edtformer.training.runner.run_stage2`; with
    ``budget.zero_tokens`` a trained row is scored again with its molecule tokens zeroed.
    """
    import torch

    from edtformer.evaluation.evaluator import load_model
    from edtformer.training.curve import COUNT_KINDS, paired_gap
    from edtformer.training.recipe import build_recipe_model, run_recipe
    from edtformer.training.runner import build_stage2_model, run_stage2

    cfg = train_config(variant, budget, seed, data_dir, run_dir, llm)
    atomic_write_json(
        run_dir / "variant.json",
        {"variant": asdict(variant), "budget": asdict(budget), "config": cfg.to_dict()},
    )
    t0 = time.perf_counter()
    final_loss = None
    if variant.train:
        runner = run_recipe if budget.recipe is not None else run_stage2
        result = runner(cfg, resume=(run_dir / "checkpoints").is_dir(), progress=False)
        final_loss = result.losses[-1] if result.losses else None
        model = load_model(run_dir / "final")
    else:
        torch.manual_seed(seed)
        build = build_recipe_model if budget.recipe is not None else build_stage2_model
        model = build(cfg).eval()
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    reports, items = score_model(model, variant, budget, seed, data_dir)
    zero_reports: list[MetricReport] = []
    gaps: dict[str, dict[str, float]] = {}
    if budget.zero_tokens and variant.train and not model.text_only:
        with model.molecule_tokens_zeroed():
            zero_reports, zero_items = score_model(model, variant, budget, seed, data_dir)
        for r in zero_reports:
            r.notes = (r.notes + " " if r.notes else "") + "zero-token control"
        items, zero_items = _by_kind(items, budget), _by_kind(zero_items, budget)
        gaps = {k: paired_gap(items, zero_items, (k,)) for k in budget.eval_kinds}
        gaps["counts"] = paired_gap(items, zero_items, COUNT_KINDS)
        gaps = {k: v for k, v in gaps.items() if v}
    run = RunResult(
        variant.name, seed, reports, train_s, time.perf_counter() - t1, final_loss,
        zero_reports=zero_reports, gaps=gaps,
    )  # fmt: skip
    atomic_write_json(run_dir / "eval.json", run.to_dict())
    return run


def _run_in_child(
    variant: Variant, budget: Budget, seed: int, data_dir: str, run_dir: Path, llm: str | None
) -> RunResult:
    """:func:`run_one` in a worker process with one torch thread (``jobs > 1``)."""
    import torch

    torch.set_num_threads(1)
    return run_one(variant, budget, seed, data_dir, run_dir, llm)


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
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = mp.get_context("spawn")  # fork after torch has started threads can deadlock
    workers = min(jobs, len(todo))
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        futures = {
            pool.submit(_run_in_child, v, budget, seed, data_dir, run_dir, llm): (v, seed)
            for v, seed, run_dir in todo
        }
        logger.info("bench: %d runs, %d at a time", len(todo), workers)
        for fut in as_completed(futures):
            v, seed = futures[fut]
            yield v, seed, fut.result()


def _check_same_budget(run_dir: Path, budget: Budget) -> None:
    """Refuse to reuse a finished run trained under other budget settings."""
    path = run_dir / "variant.json"
    if not path.is_file():
        return
    saved = json.loads(path.read_text()).get("budget", {})
    now = json.loads(json.dumps(asdict(budget)))  # tuples -> lists, as saved
    differ = sorted(k for k in now if k in saved and saved[k] != now[k])
    if differ:
        raise EdtError(
            f"{run_dir} was trained under other {budget.name} budget settings ({', '.join(differ)}"
            f" differ: {[saved[k] for k in differ]} vs {[now[k] for k in differ]}); use another "
            "--out or remove it"
        )


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
    settings (e.g. another ``--max-steps``) is refused, not reused.
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
    done: dict[tuple[str, int], RunResult] = {}
    todo: list[tuple[Variant, int, Path]] = []
    for variant in variants:
        for seed in seeds_of.get(variant.name, seeds):
            run_dir = out / "runs" / budget.name / variant.name / f"seed{seed}"
            if (run_dir / "eval.json").is_file():
                _check_same_budget(run_dir, budget)
                run = RunResult.from_dict(json.loads((run_dir / "eval.json").read_text()))
                done[(variant.name, seed)] = run
                if on_run:
                    on_run(run, True)
            else:
                todo.append((variant, seed, run_dir))
    for variant, seed, run in _train_and_score(todo, budget, str(data_dir), llm, jobs):
        done[(variant.name, seed)] = run
        if on_run:
            on_run(run, False)
    results = [done[(v.name, s)] for v in variants for s in seeds_of.get(v.name, seeds)]
    write_outputs(results, variants, budget, list(seeds), out)
    return results


def metric(run: RunResult, task: str, key: str) -> float | None:
    """One table cell of ``run`` (see :data:`HEADLINE` / :data:`LEARN_HEADLINE`); ``None`` if
    the run has no such score."""
    reports = run.reports
    if task.startswith("zero:"):
        task, reports = task[len("zero:") :], run.zero_reports
    if task == "gap":
        gap = run.gaps.get(key, {}).get("gap")
        return None if gap is None else float(gap)
    if task == "counts":
        probe = RunResult(run.variant, run.seed, reports, 0.0, 0.0)
        cells = [metric(probe, t, k) for t, k in COUNT_COLUMNS]
        found = [c for c in cells if c is not None]
        return sum(found) / len(found) if found and len(found) == len(cells) else None
    for r in reports:
        if r.task == task:
            if key == MAX_LETTER_RATE:
                rates = [x for k, x in r.metrics.items() if k.startswith("pred_rate/")]
                return max(rates) if rates else None
            v = find_metric(r.metrics, key)
            return None if v is None or math.isnan(v) else float(v)
    return None


def mean_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def aggregate(
    results: Sequence[RunResult], variants: Sequence[Variant], budget: Budget
) -> list[dict[str, Any]]:
    """One row per variant: headline metrics as ``{"mean", "std", "n"}`` over seeds, and timings."""
    rows = []
    for v in variants:
        runs = [r for r in results if r.variant == v.name]
        if not runs:
            continue
        row: dict[str, Any] = {
            "variant": v.name, "connector": v.connector, "patch_rule": v.patch_rule,
            "fused": v.fused,
            "encoders": budget.fused_encoder if v.fused else budget.encoder,
            "training_mode": row_mode(v, budget), "description": v.description,
            "seeds": [r.seed for r in runs],
            "train_seconds": mean_spread([r.train_seconds for r in runs])[0],
            "eval_seconds": mean_spread([r.eval_seconds for r in runs])[0], "metrics": {},
        }  # fmt: skip
        for task, key, header in headline_for(budget):
            vals = [x for x in (metric(r, task, key) for r in runs) if x is not None]
            if vals:
                m, s = mean_spread(vals)
                row["metrics"][header] = {"mean": m, "std": s, "n": len(vals)}
        ses = [r.gaps["counts"]["gap_se"] for r in runs if "counts" in r.gaps]
        if ses:  # the paired test-sampling SE of one seed's gap, averaged over seeds
            row["counts_gap_se"] = sum(ses) / len(ses)
        rows.append(row)
    return rows


def check_orderings(
    rows: Sequence[dict[str, Any]],
    n_eval: int | None = None,
    headers: Sequence[str] = ("struct MC acc", "stereo acc (all)"),
    n_per_header: dict[str, int] | None = None,
) -> list[str]:
    """Plain-language verdicts of :data:`CHECKS`.

    A win ("holds") needs at least two seeds in both rows and a margin above both rows' seed
    spread (sample std). With ``n_eval`` (test questions per run) each line also gives the
    binomial standard error of the margin from test sampling alone, a floor under what any
    seed count can resolve, and a win inside two of those is marked as such
    (``n_per_header``: that count per column where it differs).
    """
    by = {r["variant"]: r for r in rows}
    lines = []
    for win, lose, claim in CHECKS:
        if win not in by or lose not in by:
            continue
        for header in headers:
            a, b = by[win]["metrics"].get(header), by[lose]["metrics"].get(header)
            if not a or not b:
                continue
            margin = a["mean"] - b["mean"]
            spread = max(a["std"], b["std"])
            verdict = (
                "one seed only, no spread to judge against" if min(a["n"], b["n"]) < 2
                else "holds" if margin > spread and margin > 0
                else "within the seed spread" if abs(margin) <= spread
                else "does NOT hold"
            )  # fmt: skip
            se = ""
            n_q = (n_per_header or {}).get(header, n_eval)
            if n_q:
                sampling_se = math.sqrt(
                    sum(
                        p * (1 - p) / (n_q * k)
                        for p, k in ((a["mean"], a["n"]), (b["mean"], b["n"]))
                    )
                )
                se = f", test-sampling SE {sampling_se:.3f}"
                if verdict == "holds" and margin <= 2 * sampling_se:
                    verdict = "holds against the seed spread, but within 2 SE of test sampling"
            lines.append(
                f"- {claim} — {header}: {a['mean']:.3f} vs {b['mean']:.3f} "
                f"(margin {margin:+.3f}, seed spread {spread:.3f}{se}): **{verdict}**"
            )
    return lines


def markdown(rows: Sequence[dict[str, Any]], budget: Budget, seeds: Sequence[int]) -> str:
    """The ``ablations.md`` text."""
    heads = [h for _, _, h in headline_for(budget)]
    if budget.recipe is not None:
        what = (
            f"Every row: `edt train recipe --config {budget.recipe}` (no fact sheet, per-atom "
            f"encoder streams, LoRA r=8 on the frozen LLM, the balanced question stream), "
            f"{budget.max_steps} steps x batch {budget.batch_size}, preset `{budget.preset}`; "
            f"scored on the test split ({budget.eval_limit} seeded questions per kind, BBBP and "
            f"log S {2 * (budget.eval_limit or 0)}); seeds {list(seeds)}. Cells: mean ± sample "
            "std over seeds. `counts exact`: mean exact accuracy of the ring, aromatic-ring, "
            "donor, acceptor and stereocentre counts; `zero tokens`: the same questions with the "
            "row's molecule tokens replaced by zeros before the LLM; `gap`: the paired "
            "difference (its test-sampling SE in the JSON, `counts_gap_se`)."
        )
    else:
        what = (
            f"Every row: stage 2 only, {budget.max_steps} steps x batch {budget.batch_size}, lr "
            f"{budget.lr}, preset `{budget.preset}`, trained on {', '.join(budget.train_tasks)}; "
            f"scored on the test split ({budget.eval_limit or 'all'} seeded records per task); "
            f"seeds {list(seeds)}. Cells: mean ± sample std over seeds. Chance: MC 0.25, yes/no 0.5."
        )
    lines = [
        f"# Ablations ({budget.name} budget)",
        "",
        f"{what} Encoders: `{budget.encoder}` (fused rows: `{budget.fused_encoder}`).",
        "",
        "| variant | connector | patches | encoders | mode | seeds | "
        + " | ".join(heads)
        + " | train s | eval s |",
        "|" + "---|" * (8 + len(heads)),
    ]
    for r in rows:
        cells = [
            f"{r['metrics'][h]['mean']:.3f} ± {r['metrics'][h]['std']:.3f}"
            if h in r["metrics"]
            else "–"
            for h in heads
        ]
        patches = r["patch_rule"] if r["connector"] in ("edt", "dynamic_only") else "–"
        lines.append(
            f"| {r['variant']} | {r['connector']} | {patches} | {r['encoders']} | {r['training_mode']} | "
            f"{','.join(map(str, r['seeds']))} | "
            + " | ".join(cells) + f" | {r['train_seconds']:.0f} | {r['eval_seconds']:.0f} |"
        )  # fmt: skip
    if budget.recipe is not None:
        n = budget.eval_limit or 0
        checks = check_orderings(
            rows,
            n,
            ("counts exact", "group yes/no bal. acc", "same isomer"),
            {"counts exact": 5 * n},
        )
    else:
        checks = check_orderings(rows, budget.eval_limit)
    lines += ["", "## Checks", "", *(checks or ["- (not enough rows to check)"])]
    if any(r["fused"] for r in rows) and "chemprop" in budget.fused_encoder:
        lines += [
            "",
            "Note: the fused rows use `chemprop` (admet-ai), trained on TDC ADMET labels incl. "
            "BBB and FreeSolv; the structure and stereo questions here are computed by RDKit and "
            "are not among those labels, but property tasks would leak.",
        ]
    return "\n".join(lines) + "\n"


def plot(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Bar plot of the headline accuracies with seed std error bars (needs ``[plot]``)."""
    from edtformer.errors import require

    require("matplotlib", "plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = [h for h in ("struct MC acc", "stereo acc (all)", "counts exact",
                         "counts exact, zero tokens", "group yes/no bal. acc")
             if any(h in r["metrics"] for r in rows)]  # fmt: skip
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(rows)), 3.6))
    width = 0.8 / max(len(heads), 1)
    for k, h in enumerate(heads):
        xs = [i + (k - (len(heads) - 1) / 2) * width for i in range(len(rows))]
        ms = [r["metrics"].get(h, {}).get("mean", 0.0) for r in rows]
        ss = [r["metrics"].get(h, {}).get("std", 0.0) for r in rows]
        ax.bar(xs, ms, width, yerr=ss, capsize=3, label=h)
    ax.axhline(0.25, color="grey", lw=0.8, ls="--", label="MC chance")
    ax.set_xticks(range(len(rows)), [r["variant"] for r in rows], rotation=30, ha="right")
    ax.set_ylabel("accuracy (test)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_outputs(
    results: Sequence[RunResult],
    variants: Sequence[Variant],
    budget: Budget,
    seeds: list[int],
    out: Path,
) -> dict[str, Path]:
    """Write ``ablations.md``, ``ablations.json`` and ``ablations.png`` into ``out``."""
    rows = aggregate(results, variants, budget)
    paths: dict[str, Path] = {
        "md": atomic_write_text(out / "ablations.md", markdown(rows, budget, seeds)),
        "json": atomic_write_json(
            out / "ablations.json",
            {
                "budget": asdict(budget),
                "seeds": seeds,
                "rows": rows,
                "runs": [r.to_dict() for r in results],
            },
        ),
    }
    try:
        paths["png"] = plot(rows, out / "ablations.png")
    except EdtError as exc:
        logger.warning("no plot: %s", exc)
    return paths

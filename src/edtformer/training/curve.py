"""The valid learning curve of a recipe run: a fixed, seeded valid sample scored every N steps,
optionally also with the molecule tokens zeroed (the zero-token control), with the count kinds'
paired gap (:func:`paired_gap`). ``curve.jsonl`` in the run folder holds one row per point.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from edtformer.errors import EdtError

logger = logging.getLogger(__name__)

#: Valid-split scoring of the learning curve: task -> the question kinds scored.
CURVE_TASKS: dict[str, tuple[str, ...]] = {
    "struct_text": (
        "has_group",
        "n_rings",
        "n_aromatic_rings",
        "hbd",
        "hba",
        "heavy_atoms",
        "groups",
        "formula",
    ),
    "stereo": ("n_stereocentres", "same_stereoisomer", "rs", "ez"),
    "struct_mc": ("*",),
    "bbbp": ("*",),
}


#: Curve question kind -> its built task (``*``: every record of the task).
CURVE_KIND_TASK: dict[str, str] = {
    **{k: "struct_text" for k in CURVE_TASKS["struct_text"]},
    **{k: "stereo" for k in CURVE_TASKS["stereo"]},
    "struct_mc": "struct_mc",
    "bbbp": "bbbp",
    "solubility": "solubility",
}

#: The count kinds pooled for the zero-token comparison (exact-match answers, no wording left
#: to guess from: the answer is a small integer the molecule alone decides).
COUNT_KINDS: tuple[str, ...] = ("n_rings", "n_aromatic_rings", "hbd", "hba", "n_stereocentres")


def curve_tasks(kinds: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
    """Task -> scored kinds of the curve: :data:`CURVE_TASKS`, or only ``kinds`` (names of
    :data:`CURVE_KIND_TASK`; whole-task kinds become ``*``)."""
    if not kinds:
        return dict(CURVE_TASKS)
    unknown = sorted(set(kinds) - set(CURVE_KIND_TASK))
    if unknown:
        raise EdtError(
            f"recipe.curve_kinds: unknown kind(s) {unknown}; known: {list(CURVE_KIND_TASK)}"
        )
    out: dict[str, tuple[str, ...]] = {}
    for kind in kinds:
        task = CURVE_KIND_TASK[kind]
        out[task] = (*out.get(task, ()), "*" if kind == task else kind)
    return out


def curve_records(
    data_dir: str,
    per_kind: int,
    seed: int = 0,
    kinds: Sequence[str] = (),
    split: str = "valid",
) -> dict[str, list[dict[str, Any]]]:
    """A fixed, seeded sample of the *valid* split (the bench's test scoring: ``split="test"``):
    ``per_kind`` questions per scored kind (``kinds``: see :func:`curve_tasks`; whole tasks get
    twice as many)."""
    # light: 'edt bench --help' imports this module (find_metric); the data readers load here
    from edtformer.data import load_task

    out: dict[str, list[dict[str, Any]]] = {}
    for task, task_kinds in curve_tasks(kinds).items():
        recs: list[dict[str, Any]] = [dict(r) for r in load_task(Path(data_dir), task, split)]
        picked: list[dict[str, Any]] = []
        for kind in task_kinds:
            pool = [r for r in recs if kind == "*" or (r["meta"] or {}).get("kind") == kind]
            random.Random(f"{seed}:{task}:{kind}").shuffle(pool)
            picked += pool[: per_kind * (2 if kind == "*" else 1)]
        out[task] = picked
    return out


def find_metric(metrics: dict[str, float], key: str) -> float | None:
    """``metrics[key]``, or else the first metric named ``<group>/<key>`` (a task scored in one
    group reports its metrics under the group's name); ``None`` if neither."""
    if key in metrics:
        return metrics[key]
    return next((v for k, v in metrics.items() if k.endswith("/" + key)), None)


def headline(metrics_by_task: dict[str, dict[str, float]]) -> dict[str, float]:
    """The curve's columns: one score per question kind (higher is better, except MAE)."""
    st = metrics_by_task.get("struct_text", {})
    so = metrics_by_task.get("stereo", {})
    mc = metrics_by_task.get("struct_mc", {})
    bb = metrics_by_task.get("bbbp", {})
    sol = metrics_by_task.get("solubility", {})
    cols = {
        "has_group_bal_acc": st.get("has_group/balanced_accuracy"),
        "has_group_auc": st.get("has_group/roc_auc"),
        "n_rings_exact": st.get("n_rings/exact_accuracy"),
        "n_aromatic_rings_exact": st.get("n_aromatic_rings/exact_accuracy"),
        "hbd_exact": st.get("hbd/exact_accuracy"),
        "hba_exact": st.get("hba/exact_accuracy"),
        "heavy_atoms_mae": st.get("heavy_atoms/mae"),
        "groups_exact": st.get("groups/exact_match"),
        "formula_exact": st.get("formula/exact_match"),
        "n_stereocentres_exact": so.get("n_stereocentres/exact_accuracy"),
        "same_stereoisomer_acc": so.get("same_stereoisomer/accuracy"),
        "rs_exact": so.get("rs/exact_match"),
        "rs_per_centre": so.get("rs/per_label_accuracy"),
        "ez_exact": so.get("ez/exact_match"),
        "struct_mc_acc": mc.get("accuracy"),
        "bbbp_auc": bb.get("roc_auc"),
        "solubility_mae": find_metric(sol, "mae"),
        "solubility_spearman": find_metric(sol, "spearman"),
    }
    return {k: float(v) for k, v in cols.items() if v is not None and not math.isnan(v)}


def paired_gap(
    items: Sequence[Any], control: Sequence[Any], groups: Sequence[str] = COUNT_KINDS
) -> dict[str, float]:
    """Accuracy of ``items`` minus that of ``control`` (the same questions, scored twice) over the
    items of ``groups``, with the standard error of the paired difference.

    Returns ``{"n", "acc", "acc_control", "gap", "gap_se", "gap_in_se"}`` (empty if no item).
    """
    ctrl = {(c.id, c.group): c.correct for c in control}
    pairs = [
        (bool(i.correct), bool(ctrl[(i.id, i.group)]))
        for i in items
        if i.group in groups and i.correct is not None and (i.id, i.group) in ctrl
    ]
    n = len(pairs)
    if n == 0:
        return {}
    diffs = [float(a) - float(b) for a, b in pairs]
    gap = sum(diffs) / n
    var = sum((d - gap) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    se = math.sqrt(var / n)
    return {
        "n": float(n),
        "acc": sum(a for a, _ in pairs) / n,
        "acc_control": sum(b for _, b in pairs) / n,
        "gap": gap,
        "gap_se": se,
        "gap_in_se": gap / se if se > 0 else (math.inf if gap > 0 else 0.0),
    }


class ValidCurve:
    """Scores the model on a fixed valid sample every ``every`` steps and at ``last_step``;
    appends to ``curve.jsonl``. With ``zero_tokens`` each point is also scored with the molecule
    tokens replaced by zeros before the LLM (``EDTFormer.zero_molecule_tokens``: prompt and any
    written facts untouched), as columns ``zero/<column>``, and the count kinds' paired gap
    (:func:`paired_gap`) as ``count_gap`` / ``count_gap_se``."""

    def __init__(
        self,
        model: Any,
        records: dict[str, list[dict[str, Any]]],
        every: int,
        path: Path,
        last_step: int = 0,
        zero_tokens: bool = False,
    ) -> None:
        self.model = model
        self.records = records
        self.every = every
        self.path = path
        self.last_step = last_step
        self.zero_tokens = zero_tokens

    def score(self) -> dict[str, dict[str, float]]:
        """Metrics of every curve task on the valid sample."""
        return self.score_items()[0]

    def score_items(self) -> tuple[dict[str, dict[str, float]], list[Any]]:
        """Metrics of every curve task on the valid sample, and every scored item."""
        # heavy (the evaluator loads the model's modules): 'edt bench --help' imports this module
        from edtformer.evaluation.evaluator import evaluate_records

        out = {}
        items: list[Any] = []
        for task, recs in self.records.items():
            if recs:
                batch: Any = recs  # builder records (the Record TypedDict)
                res = evaluate_records(
                    self.model, batch, task, split="valid", batch_size=16, allow_leak=True
                )
                out[task] = res.report.metrics
                items += res.items
        return out, items

    def __call__(self, step: int, samples: int, module: nn.Module) -> None:
        if self.every <= 0 or (step % self.every and step != self.last_step):
            return
        start = time.perf_counter()
        metrics, items = self.score_items()
        row: dict[str, Any] = {"step": step, "samples": samples, **headline(metrics)}
        record: dict[str, Any] = {"metrics": metrics}
        if self.zero_tokens and not getattr(self.model, "text_only", False):
            with self.model.molecule_tokens_zeroed():
                zero, zero_items = self.score_items()
            row.update({f"zero/{k}": v for k, v in headline(zero).items()})
            gap = paired_gap(items, zero_items)
            row.update({f"count_{k}": v for k, v in gap.items()})
            record["zero_metrics"] = zero
        row["eval_seconds"] = round(time.perf_counter() - start, 1)
        logger.info("valid curve: %s", json.dumps(row))
        with self.path.open("a") as fh:
            fh.write(json.dumps({**row, **record}) + "\n")


__all__ = [
    "COUNT_KINDS",
    "CURVE_KIND_TASK",
    "CURVE_TASKS",
    "ValidCurve",
    "curve_records",
    "curve_tasks",
    "find_metric",
    "headline",
    "paired_gap",
]

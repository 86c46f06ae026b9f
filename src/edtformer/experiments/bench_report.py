"""The ablation table of ``edt bench``: each run's result (:class:`RunResult`, ``eval.json``), the
table's columns, the rows aggregated over seeds, the verdicts on the paper's claims, and the
files (``ablations.md``, ``ablations.json``, ``ablations.png``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edtformer.errors import EdtError, require
from edtformer.evaluation.report import MetricReport
from edtformer.experiments.bench_budgets import Budget, Variant, row_mode
from edtformer.training.curve import find_metric
from edtformer.utils.io import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

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
    precision: str | None = None
    """The Lightning precision the run trained in (``training.json``; ``None``: not recorded)."""
    hardware: str | None = None
    """Where it trained (``training.json``'s CPU line)."""
    count_items: dict[str, bool] = field(default_factory=dict)
    """``"kind|id"`` -> right, for every count question scored (the pooled ``counts exact``):
    rows scored on the same questions compare by a paired difference (:func:`paired_margin`)."""

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
        d.setdefault("count_items", {})
        return cls(**d)


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
            "runs": [
                {"seed": r.seed, "precision": r.precision, "hardware": r.hardware,
                 "train_seconds": r.train_seconds}
                for r in runs
            ],
            "count_items": {str(r.seed): r.count_items for r in runs if r.count_items},
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


def paired_margin(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, float, int] | None:
    """The counts-exact margin of row ``a`` over row ``b`` on the questions both were scored on,
    seed by seed (each row's ``count_items``), with the standard error of that paired
    difference over the pooled pairs: ``(margin, se, pairs)``, or ``None`` unless both rows
    recorded the items of every seed they ran (runs from before items were kept have none)."""
    for row in (a, b):
        if set(row.get("count_items") or {}) != {str(seed) for seed in row.get("seeds", [])}:
            return None
    diffs: list[float] = []
    for seed, items_a in (a.get("count_items") or {}).items():
        items_b = (b.get("count_items") or {}).get(seed, {})
        diffs += [float(items_a[k]) - float(items_b[k]) for k in items_a if k in items_b]
    n = len(diffs)
    if n < 2:
        return None
    mean, std = mean_spread(diffs)
    return mean, std / math.sqrt(n), n


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
            paired = paired_margin(by[win], by[lose]) if header == "counts exact" else None
            if paired is not None:  # the same questions: the paired difference's SE
                p_margin, p_se, n_pairs = paired
                se = f", paired test-sampling SE {p_se:.3f} over {n_pairs} question pairs"
                if verdict == "holds" and p_margin <= 2 * p_se:
                    verdict = "holds against the seed spread, but within 2 SE of test sampling"
            elif n_q:
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


def _cell(m: dict[str, Any]) -> str:
    """``mean ± std`` over seeds; the mean alone for one seed (no spread to show)."""
    if m.get("n", 2) < 2:
        return f"{m['mean']:.3f}"
    return f"{m['mean']:.3f} ± {m['std']:.3f}"


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
        cells = [_cell(r["metrics"][h]) if h in r["metrics"] else "–" for h in heads]
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
    if any(r.get("runs") for r in rows):
        lines += ["", "## Runs", "", "| variant | seed | precision | trained on | train s |"]
        lines.append("|---|---|---|---|---|")
        for r in rows:
            for run in r.get("runs", []):
                lines.append(
                    f"| {r['variant']} | {run['seed']} | {run['precision'] or 'not recorded'} | "
                    f"{run['hardware'] or 'not recorded'} | {run['train_seconds']:.0f} |"
                )
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
    require("matplotlib", "plot")
    # optional dependency (the 'plot' extra), checked by require above
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use(): pyplot picks its backend when imported

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
                # (each row's per-question results are its runs', written with them below)
                "rows": [{k: v for k, v in r.items() if k != "count_items"} for r in rows],
                "runs": [r.to_dict() for r in results],
            },
        ),
    }
    try:
        paths["png"] = plot(rows, out / "ablations.png")
    except EdtError as exc:
        logger.warning("no plot: %s", exc)
    return paths


__all__ = [
    "CHECKS",
    "COUNT_COLUMNS",
    "HEADLINE",
    "LEARN_HEADLINE",
    "MAX_LETTER_RATE",
    "RunResult",
    "aggregate",
    "check_orderings",
    "headline_for",
    "markdown",
    "mean_spread",
    "metric",
    "paired_margin",
    "plot",
    "write_outputs",
]

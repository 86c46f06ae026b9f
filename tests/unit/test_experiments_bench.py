"""The ablation table's aggregation and verdicts, on hand-made run results (no training)."""

from __future__ import annotations

import math

import pytest

from edtformer.evaluation.report import MetricReport
from edtformer.experiments.bench import (
    BUDGETS,
    RunResult,
    aggregate,
    check_orderings,
    get_variants,
    markdown,
)


def _run(variant: str, seed: int, mc: float, stereo: float, letters: dict[str, float]) -> RunResult:
    mc_metrics = {"accuracy": mc, **{f"pred_rate/{k}": v for k, v in letters.items()}}
    reports = [
        MetricReport("struct_mc", "test", variant, seed, "bridge", 100, mc_metrics),
        MetricReport("stereo", "test", variant, seed, "bridge", 100, {"accuracy": stereo}),
    ]
    return RunResult(variant, seed, reports, train_seconds=10.0, eval_seconds=2.0)


FLAT = {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}
BIASED = {"A": 0.7, "B": 0.1, "C": 0.1, "D": 0.1}


def test_mean_std_and_letter_share() -> None:
    runs = [_run("full", 0, 0.5, 0.4, FLAT), _run("full", 1, 0.7, 0.4, BIASED)]
    (row,) = aggregate(runs, get_variants(["full"]), BUDGETS["cpu"])
    mc = row["metrics"]["struct MC acc"]
    assert mc["mean"] == pytest.approx(0.6) and mc["n"] == 2
    assert mc["std"] == pytest.approx(math.sqrt(0.02))  # sample std of 0.5, 0.7
    share = row["metrics"]["top MC letter share"]
    assert share["mean"] == pytest.approx((0.25 + 0.7) / 2)


def test_verdicts_need_two_seeds_and_a_margin_above_the_spread() -> None:
    budget = BUDGETS["cpu"]
    one_seed = aggregate(
        [_run("full", 0, 0.6, 0.4, FLAT), _run("mlp", 0, 0.3, 0.4, FLAT)],
        get_variants(["full", "mlp"]),
        budget,
    )
    lines = check_orderings(one_seed)
    assert len(lines) == 2 and all("one seed only" in line for line in lines)

    runs = [
        _run("full", 0, 0.60, 0.40, FLAT), _run("full", 1, 0.62, 0.30, FLAT),
        _run("mlp", 0, 0.30, 0.36, FLAT), _run("mlp", 1, 0.32, 0.34, FLAT),
    ]  # fmt: skip
    rows = aggregate(runs, get_variants(["full", "mlp"]), budget)
    mc_line, stereo_line = check_orderings(rows, n_eval=100)
    assert "**holds**" in mc_line and "margin +0.300" in mc_line
    # test-sampling SE of the MC margin: sqrt(.61*.39/200 + .31*.69/200)
    assert f"SE {math.sqrt(0.61 * 0.39 / 200 + 0.31 * 0.69 / 200):.3f}" in mc_line
    assert "within the seed spread" in stereo_line  # 0.35 vs 0.35, std 0.07
    flipped = aggregate(
        [_run("full", s, 0.2 + 0.01 * s, 0.3, FLAT) for s in (0, 1)]
        + [_run("mlp", s, 0.5 + 0.01 * s, 0.3, FLAT) for s in (0, 1)],
        get_variants(["full", "mlp"]),
        budget,
    )
    assert "does NOT hold" in check_orderings(flipped)[0]
    small = aggregate(
        [_run("full", s, 0.30 + 0.01 * s, 0.3, FLAT) for s in (0, 1)]
        + [_run("mlp", s, 0.25 + 0.01 * s, 0.3, FLAT) for s in (0, 1)],
        get_variants(["full", "mlp"]),
        budget,
    )
    # margin 0.05 beats the seed spread (0.007) but not 2 SE of 100 questions x 2 seeds (~0.09)
    assert "within 2 SE of test sampling" in check_orderings(small, n_eval=100)[0]
    assert "**holds**" in check_orderings(small)[0]
    text = markdown(rows, budget, [0, 1])
    assert "| full |" in text and "0.610 ± 0.014" in text and "## Checks" in text

"""Regression metrics against hand-worked values; unparseable answers counted."""

from __future__ import annotations

import math

import pytest

from edtformer.evaluation import (
    MetricInputError,
    UndefinedMetricWarning,
    regression_metrics,
    spearman,
)


def test_regression_hand_worked() -> None:
    preds = ["1.0", "about 2", "no idea", 4.0]
    targets = [1.5, 2.0, 3.0, 3.0]
    r = regression_metrics(preds, targets)
    # parsed: 1.0, 2.0, -, 4.0 vs 1.5, 2.0, 3.0 -> errors -0.5, 0, 1.0
    # MAE = 1.5 / 3 = 0.5; RMSE = sqrt((0.25 + 0 + 1) / 3) = sqrt(1.25 / 3)
    assert r.mae == pytest.approx(0.5)
    assert r.rmse == pytest.approx(math.sqrt(1.25 / 3))
    assert r.spearman == pytest.approx(1.0)  # both in the same order
    assert (r.n, r.n_parsed, r.n_unparseable) == (4, 3, 1)
    assert r.as_dict()["n_unparseable"] == 1.0


def test_spearman_with_ties() -> None:
    # ranks x: 1, 2.5, 2.5, 4; y: 1, 3, 2, 4 (means 2.5)
    # dx = -1.5, 0, 0, 1.5; dy = -1.5, 0.5, -0.5, 1.5
    # r = (2.25 + 2.25) / sqrt(4.5 * 5) = 4.5 / sqrt(22.5) = sqrt(0.9)
    assert spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(math.sqrt(0.9))
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    # monotone but non-linear: still 1
    assert spearman([1, 2, 3, 4], [1, 8, 27, 1000]) == pytest.approx(1.0)


def test_spearman_undefined() -> None:
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(spearman([1.0], [2.0]))
    with pytest.warns(UndefinedMetricWarning, match="constant"):
        assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_all_unparseable_gives_nan_and_counts() -> None:
    with pytest.warns(UndefinedMetricWarning):
        r = regression_metrics(["?", None], [1.0, 2.0])
    assert math.isnan(r.mae) and math.isnan(r.rmse) and r.n_unparseable == 2


def test_regression_bad_input() -> None:
    with pytest.raises(MetricInputError):
        regression_metrics([], [])
    with pytest.raises(MetricInputError):
        regression_metrics(["1"], [1.0, 2.0])
    with pytest.raises(MetricInputError, match="index 1"):
        regression_metrics(["1", "2"], [1.0, float("nan")])

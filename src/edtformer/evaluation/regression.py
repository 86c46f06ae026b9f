"""Regression metrics from generated numbers: MAE, RMSE, Spearman; unparseable answers counted."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from edtformer.evaluation.parsing import parse_number
from edtformer.evaluation.validation import MetricInputError, check_paired, undefined

logger = logging.getLogger(__name__)


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation (scipy's ``spearmanr``; ties share a rank).

    NaN (with :class:`UndefinedMetricWarning`) for fewer than two points or a constant input.
    """
    # heavy: scipy loads only when this metric runs
    from scipy.stats import spearmanr

    check_paired("spearman", x, y, ("x values", "y values"))
    if len(x) < 2:
        return undefined("Spearman", "fewer than two points")
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.all(a == a[0]) or np.all(b == b[0]):
        return undefined("Spearman", "an input is constant")
    return float(spearmanr(a, b).statistic)


@dataclass(frozen=True)
class RegressionResult:
    """Regression scores over the parseable answers.

    Attributes:
        mae: mean absolute error.
        rmse: root mean squared error.
        spearman: Spearman rank correlation.
        n: number of items.
        n_parsed: answers that gave a number (the metrics use these).
        n_unparseable: answers that gave no number (excluded from the metrics and reported).
    """

    mae: float
    rmse: float
    spearman: float
    n: int
    n_parsed: int
    n_unparseable: int

    def as_dict(self) -> dict[str, float]:
        """All fields as floats."""
        return {k: float(v) for k, v in asdict(self).items()}


def regression_metrics(
    predictions: Sequence[str | float | None], targets: Sequence[float]
) -> RegressionResult:
    """Score predicted numbers (or generated text holding them) against targets.

    Text is parsed with :func:`parse_number`; answers without a number (and ``None`` / NaN) are
    excluded from MAE, RMSE and Spearman and counted in ``n_unparseable``. When no answer parses,
    the metrics are NaN (with :class:`UndefinedMetricWarning`).

    Raises:
        MetricInputError: empty or unequal inputs, or a non-finite target.
    """
    n = check_paired("regression_metrics", targets, predictions, ("targets", "predictions"))
    y = np.asarray(targets, dtype=np.float64)
    if not np.all(np.isfinite(y)):
        i = int(np.flatnonzero(~np.isfinite(y))[0])
        raise MetricInputError(f"regression_metrics: target {y[i]} at index {i}; expected finite")
    parsed = [parse_number(p) for p in predictions]
    keep = np.asarray([v is not None and math.isfinite(v) for v in parsed])
    n_parsed = int(keep.sum())
    if n_parsed < n:
        logger.info("regression: %d of %d answers gave no number", n - n_parsed, n)
    if n_parsed == 0:
        nan = undefined("regression metrics", "no answer gave a number")
        return RegressionResult(nan, nan, nan, n, 0, n)
    yhat = np.asarray([v for v in parsed if v is not None and math.isfinite(v)], dtype=np.float64)
    err = yhat - y[keep]
    return RegressionResult(
        mae=float(np.abs(err).mean()),
        rmse=float(math.sqrt(float((err**2).mean()))),
        spearman=spearman(yhat, y[keep]),
        n=n,
        n_parsed=n_parsed,
        n_unparseable=n - n_parsed,
    )

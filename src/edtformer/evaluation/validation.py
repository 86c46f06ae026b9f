"""Input checks shared by the metric functions, and the error and warning they raise."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sized

from edtformer.errors import EdtError


class MetricInputError(EdtError, ValueError):
    """Inputs a metric cannot score: empty, of different lengths, or malformed.

    The message names the metric, what was received and what was expected.
    """


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for the given inputs (e.g. ROC-AUC with one class); NaN is returned."""


def check_paired(metric: str, first: Sized, second: Sized, names: tuple[str, str]) -> int:
    """Check two paired inputs are non-empty and of equal length; return that length.

    Raises:
        MetricInputError: either is empty, or the lengths differ.
    """
    n_a, n_b = len(first), len(second)
    if n_a == 0 or n_b == 0:
        raise MetricInputError(
            f"{metric}: got {n_a} {names[0]} and {n_b} {names[1]}; expected at least one of each"
        )
    if n_a != n_b:
        raise MetricInputError(
            f"{metric}: got {n_a} {names[0]} but {n_b} {names[1]}; expected one per item"
        )
    return n_a


def undefined(metric: str, reason: str) -> float:
    """Warn with :class:`UndefinedMetricWarning` and return NaN (the value of an undefined metric)."""
    warnings.warn(
        f"{metric} is undefined: {reason}; returning NaN", UndefinedMetricWarning, stacklevel=3
    )
    return math.nan

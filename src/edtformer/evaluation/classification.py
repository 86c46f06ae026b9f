"""Classification metrics: multiple-choice accuracy per category; binary accuracy, F1, ROC-AUC.

The standard metrics are scikit-learn's (``roc_auc_score``, ``f1_score``,
``balanced_accuracy_score``) behind our input checks (paired lengths, 0/1 labels, finite
scores) and NaN-with-a-warning where a metric is undefined.

Binary tasks are scored from the answer-token probabilities (one forward pass, no generation):
``p_yes`` is the probability of the positive answer token, optionally renormalised against the
negative one (``p_yes / (p_yes + p_no)``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from edtformer.evaluation.parsing import parse_choice
from edtformer.evaluation.validation import MetricInputError, check_paired, undefined

logger = logging.getLogger(__name__)


def _binary_labels(metric: str, y: Sequence[int] | Sequence[bool] | np.ndarray) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise MetricInputError(f"{metric}: labels must be 1-D, got shape {arr.shape}")
    bad = ~np.isin(arr, (0, 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MetricInputError(f"{metric}: label {arr[i]!r} at index {i}; expected 0/1 or bool")
    return arr.astype(np.int64)


def accuracy(y_true: Sequence[object], y_pred: Sequence[object]) -> float:
    """Fraction of items where the prediction equals the label (``None`` predictions are wrong)."""
    check_paired("accuracy", y_true, y_pred, ("labels", "predictions"))
    hits = sum(p is not None and p == t for t, p in zip(y_true, y_pred, strict=True))
    return hits / len(y_true)


def balanced_accuracy(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray
) -> float:
    """Mean of the recall on positives and the recall on negatives (NaN if a class is absent)."""
    # heavy: sklearn loads only when this metric runs
    from sklearn.metrics import balanced_accuracy_score

    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    if t.all() or not t.any():
        return float("nan")
    return float(balanced_accuracy_score(t, p))


def f1_score(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray) -> float:
    """F1 of the positive class (label 1): ``2 TP / (2 TP + FP + FN)`` (scikit-learn).

    NaN (with :class:`UndefinedMetricWarning`) when there are no positive labels and no
    positive predictions, where F1 is 0/0.
    """
    # heavy: sklearn loads only when this metric runs
    from sklearn.metrics import f1_score as sk_f1

    check_paired("f1_score", y_true, y_pred, ("labels", "predictions"))
    t = _binary_labels("f1_score", y_true)
    p = _binary_labels("f1_score", y_pred)
    if not t.any() and not p.any():
        return undefined("F1", "no positive labels and no positive predictions")
    return float(sk_f1(t, p, pos_label=1, zero_division=0.0))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``; tied values share the mean of the ranks they span (scipy)."""
    # heavy: scipy loads only when this metric runs
    from scipy.stats import rankdata

    return np.asarray(rankdata(np.asarray(values, dtype=np.float64), method="average"))


def roc_auc(y_true: Sequence[int] | np.ndarray, y_score: Sequence[float] | np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn's ``roc_auc_score``; ties count one half).

    NaN (with :class:`UndefinedMetricWarning`) when only one class is present.
    """
    # heavy: sklearn loads only when this metric runs
    from sklearn.metrics import roc_auc_score

    check_paired("roc_auc", y_true, y_score, ("labels", "scores"))
    t = _binary_labels("roc_auc", y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if not np.all(np.isfinite(s)):
        i = int(np.flatnonzero(~np.isfinite(s))[0])
        raise MetricInputError(f"roc_auc: score {s[i]} at index {i}; expected finite numbers")
    n_pos = int(t.sum())
    n_neg = len(t) - n_pos
    if n_pos == 0 or n_neg == 0:
        return undefined("ROC-AUC", f"only one class present ({n_pos} positive, {n_neg} negative)")
    return float(roc_auc_score(t, s))


def binary_metrics(
    y_true: Sequence[int] | np.ndarray,
    p_yes: Sequence[float] | np.ndarray,
    p_no: Sequence[float] | np.ndarray | None = None,
    threshold: float = 0.5,
) -> dict[str, float]:
    """Accuracy, F1 and ROC-AUC of a yes/no task from answer-token probabilities.

    Args:
        y_true: 0/1 labels (1 = the "yes" answer).
        p_yes: probability of the positive answer token per item.
        p_no: probability of the negative answer token; when given, the score is
            ``p_yes / (p_yes + p_no)`` (the model's choice restricted to the two answers).
        threshold: predict positive when the score is at least this.

    Returns:
        ``{"accuracy", "balanced_accuracy", "f1", "roc_auc", "n", "positive_rate"}``.
    """
    n = check_paired("binary_metrics", y_true, p_yes, ("labels", "probabilities"))
    score = np.asarray(p_yes, dtype=np.float64)
    if p_no is not None:
        check_paired("binary_metrics", y_true, p_no, ("labels", "p_no values"))
        total = score + np.asarray(p_no, dtype=np.float64)
        if np.any(total <= 0):
            raise MetricInputError("binary_metrics: p_yes + p_no must be positive for every item")
        score = score / total
    t = _binary_labels("binary_metrics", y_true)
    pred = (score >= threshold).astype(np.int64)
    return {
        "accuracy": accuracy(t.tolist(), pred.tolist()),
        "balanced_accuracy": balanced_accuracy(t, pred),
        "f1": f1_score(t, pred),
        "roc_auc": roc_auc(t, score),
        "n": float(n),
        "positive_rate": float(t.mean()),
    }


@dataclass(frozen=True)
class MultipleChoiceResult:
    """Multiple-choice accuracy overall and per category.

    Attributes:
        accuracy: fraction correct over all items (unparseable answers count as wrong).
        n: number of items.
        n_unparseable: answers from which no single letter could be parsed.
        per_category: category -> accuracy.
        category_counts: category -> number of items.
    """

    accuracy: float
    n: int
    n_unparseable: int
    per_category: dict[str, float] = field(default_factory=dict)
    category_counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """Flat metrics: ``accuracy`` and ``accuracy/<category>``."""
        out = {"accuracy": self.accuracy}
        out.update({f"accuracy/{c}": v for c, v in self.per_category.items()})
        return out


def multiple_choice_accuracy(
    predicted: Sequence[str | None],
    gold: Sequence[str],
    categories: Sequence[str] | None = None,
) -> MultipleChoiceResult:
    """Accuracy of parsed letters against gold letters, overall and per category.

    Args:
        predicted: parsed letters (``None`` = unparseable, counted wrong and reported).
        gold: gold letters.
        categories: a category per item (e.g. MoleculeQA's Structure/Source/Property/Application).
    """
    n = check_paired("multiple_choice_accuracy", gold, predicted, ("gold letters", "predictions"))
    if categories is not None:
        check_paired("multiple_choice_accuracy", gold, categories, ("gold letters", "categories"))
    pred = [p.strip().upper() if p else None for p in predicted]
    gold_u = [g.strip().upper() for g in gold]
    correct = [p is not None and p == g for p, g in zip(pred, gold_u, strict=True)]
    per_cat: dict[str, float] = {}
    counts: dict[str, int] = {}
    if categories is not None:
        for cat in sorted(set(categories)):
            idx = [i for i, c in enumerate(categories) if c == cat]
            counts[cat] = len(idx)
            per_cat[cat] = sum(correct[i] for i in idx) / len(idx)
    n_unparseable = sum(p is None for p in pred)
    if n_unparseable:
        logger.info("multiple choice: %d of %d answers unparseable", n_unparseable, n)
    return MultipleChoiceResult(sum(correct) / n, n, n_unparseable, per_cat, counts)


def score_multiple_choice(
    answers: Sequence[str | None],
    gold: Sequence[str],
    options: Sequence[Sequence[str]] | None = None,
    categories: Sequence[str] | None = None,
) -> MultipleChoiceResult:
    """Parse free-text answers with :func:`parse_choice` and score them per category."""
    if options is not None:
        check_paired("score_multiple_choice", answers, options, ("answers", "option lists"))
        parsed = [parse_choice(a, o) for a, o in zip(answers, options, strict=True)]
    else:
        parsed = [parse_choice(a) for a in answers]
    return multiple_choice_accuracy(parsed, gold, categories)

"""Classification metrics against hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edtformer.evaluation import (
    MetricInputError,
    UndefinedMetricWarning,
    accuracy,
    average_ranks,
    balanced_accuracy,
    binary_metrics,
    f1_score,
    multiple_choice_accuracy,
    roc_auc,
    score_multiple_choice,
)


def test_accuracy_counts_none_as_wrong() -> None:
    # hits at 0 and 2; index 1 wrong; index 3 unparseable -> 2 / 4
    assert accuracy([1, 0, 1, 1], [1, 1, 1, None]) == 0.5


def test_f1_hand_worked() -> None:
    # y = 1 1 0 0 1, p = 1 0 1 0 1 -> TP = 2 (0, 4), FP = 1 (2), FN = 1 (1)
    # F1 = 2*2 / (2*2 + 1 + 1) = 4 / 6
    assert f1_score([1, 1, 0, 0, 1], [1, 0, 1, 0, 1]) == pytest.approx(2 / 3)


def test_f1_undefined_when_no_positives_at_all() -> None:
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(f1_score([0, 0], [0, 0]))
    assert f1_score([1, 0], [0, 0]) == 0.0  # 0 / (0 + 0 + 1)


def test_average_ranks_ties() -> None:
    # sorted: 10 -> 1; the three 20s share ranks 2, 3, 4 -> 3; 30 -> 5
    np.testing.assert_allclose(average_ranks(np.array([10, 20, 20, 30, 20])), [1, 3, 3, 5, 3])


def test_roc_auc_hand_worked() -> None:
    # scores ranked 0.1 -> 1, 0.35 -> 2, 0.4 -> 3, 0.8 -> 4; positives' rank sum R = 2 + 4 = 6
    # AUC = (R - n_pos (n_pos + 1) / 2) / (n_pos n_neg) = (6 - 3) / 4 = 0.75
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_roc_auc_ties_count_half() -> None:
    # ranks: 0.2 -> 1, the two 0.5s -> 2.5, 0.9 -> 4; positives are 0.5 and 0.9: R = 6.5
    # AUC = (6.5 - 3) / 4 = 0.875 = pairs (0.5>0.2) + (0.5=0.5: 1/2) + (0.9>0.2) + (0.9>0.5), / 4
    assert roc_auc([0, 1, 0, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(0.875)
    assert roc_auc([1, 0], [0.3, 0.3]) == pytest.approx(0.5)
    assert roc_auc([True, False], [0.0, 1.0]) == 0.0


def test_roc_auc_single_class_is_nan_with_warning() -> None:
    with pytest.warns(UndefinedMetricWarning, match="one class"):
        assert math.isnan(roc_auc([1, 1, 1], [0.2, 0.5, 0.9]))


@pytest.mark.parametrize(
    ("y", "s"),
    [([], []), ([0, 1], [0.5]), ([0, 2], [0.1, 0.2]), ([0, 1], [0.1, float("nan")])],
)
def test_roc_auc_bad_input(y: list[int], s: list[float]) -> None:
    with pytest.raises(MetricInputError):
        roc_auc(y, s)


def test_empty_inputs_raise() -> None:
    with pytest.raises(MetricInputError, match="at least one"):
        accuracy([], [])
    with pytest.raises(MetricInputError, match="3 labels but 2"):
        accuracy([1, 0, 1], [1, 0])


def test_binary_metrics_from_token_probabilities() -> None:
    y = [1, 0, 1, 0]
    p_yes = [0.6, 0.2, 0.1, 0.3]
    p_no = [0.2, 0.6, 0.3, 0.1]
    # renormalised: 0.75, 0.25, 0.25, 0.75 -> predictions 1, 0, 0, 1 -> acc 2/4
    # TP = 1, FP = 1, FN = 1 -> F1 = 2 / 4; AUC: ranks 0.25,0.25 -> 1.5, 0.75,0.75 -> 3.5;
    # positives (0.75, 0.25): R = 3.5 + 1.5 = 5 -> (5 - 3) / 4 = 0.5
    m = binary_metrics(y, p_yes, p_no)
    assert m["accuracy"] == 0.5
    assert m["f1"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx(0.5)
    assert m["n"] == 4 and m["positive_rate"] == 0.5
    assert m["balanced_accuracy"] == 0.5  # recall 1/2 on positives and 1/2 on negatives
    # without p_no the raw p_yes is the score: preds 1, 0, 0, 0 -> acc 3/4; AUC ranks
    # 0.1 -> 1, 0.2 -> 2, 0.3 -> 3, 0.6 -> 4; positives 0.6, 0.1: R = 5 -> 0.5
    m = binary_metrics(y, p_yes)
    assert m["accuracy"] == 0.75
    assert m["balanced_accuracy"] == 0.75  # positives 1/2, negatives 2/2
    assert np.isnan(balanced_accuracy([1, 1], [1, 0]))  # undefined with one class
    assert m["roc_auc"] == pytest.approx(0.5)


def test_multiple_choice_per_category() -> None:
    gold = ["A", "B", "C", "D", "A"]
    pred = ["A", "C", "C", None, "a"]
    cats = ["structure", "structure", "property", "property", "source"]
    r = multiple_choice_accuracy(pred, gold, cats)
    # correct: 0, 2, 4 -> 3/5; structure 1/2, property 1/2 (None is wrong), source 1/1
    assert r.accuracy == pytest.approx(0.6)
    assert r.per_category == {"property": 0.5, "source": 1.0, "structure": 0.5}
    assert r.category_counts == {"property": 2, "source": 1, "structure": 2}
    assert r.n == 5 and r.n_unparseable == 1
    assert r.as_dict()["accuracy/source"] == 1.0


def test_score_multiple_choice_parses_then_scores() -> None:
    options = [["ring", "chain", "cage", "sheet"]] * 3
    answers = ["Answer: B", "A molecule like this is a cage.", "A molecule like this."]
    r = score_multiple_choice(answers, ["B", "C", "A"], options)
    # parsed B (right), C (right, from option text), None (wrong, not "A")
    assert r.accuracy == pytest.approx(2 / 3)
    assert r.n_unparseable == 1

"""Evaluation: answer parsing, metrics and result records.

Running a model over a task lives in :mod:`edtformer.evaluation.evaluator` (``edt eval``), the
per-answer-type scoring in :mod:`edtformer.evaluation.tasks`; import them from there (the
model-facing ones import torch). Evaluation never imports training: the ablation bench, which
trains and scores, is :mod:`edtformer.experiments.bench` (``edt bench``).

Metrics are pure functions of predictions and references; each raises
:class:`MetricInputError` on empty or unequal inputs and returns NaN with an
:class:`UndefinedMetricWarning` when a metric is undefined (e.g. ROC-AUC with one class).
"""

from edtformer.evaluation.classification import (
    MultipleChoiceResult,
    accuracy,
    average_ranks,
    balanced_accuracy,
    binary_metrics,
    f1_score,
    multiple_choice_accuracy,
    roc_auc,
    score_multiple_choice,
)
from edtformer.evaluation.hallucination import (
    FUNCTIONAL_GROUPS,
    Claim,
    HallucinationResult,
    check_claims,
    find_claims,
    hallucination_rate,
)
from edtformer.evaluation.leakage import LEAKS, LeakageError, check_leakage
from edtformer.evaluation.molecules import (
    canonical_smiles,
    levenshtein,
    molecule_generation_metrics,
    tanimoto,
)
from edtformer.evaluation.parsing import extract_smiles, parse_choice, parse_number
from edtformer.evaluation.regression import RegressionResult, regression_metrics, spearman
from edtformer.evaluation.report import MetricReport, markdown_table, rich_table
from edtformer.evaluation.text import (
    caption_metrics,
    corpus_bleu,
    meteor,
    rouge_l,
    rouge_n,
    tokenize,
)
from edtformer.evaluation.validation import MetricInputError, UndefinedMetricWarning

__all__ = [
    "FUNCTIONAL_GROUPS",
    "LEAKS",
    "Claim",
    "HallucinationResult",
    "LeakageError",
    "MetricInputError",
    "MetricReport",
    "MultipleChoiceResult",
    "RegressionResult",
    "UndefinedMetricWarning",
    "accuracy",
    "average_ranks",
    "balanced_accuracy",
    "binary_metrics",
    "canonical_smiles",
    "caption_metrics",
    "check_claims",
    "check_leakage",
    "corpus_bleu",
    "extract_smiles",
    "f1_score",
    "find_claims",
    "hallucination_rate",
    "levenshtein",
    "markdown_table",
    "meteor",
    "molecule_generation_metrics",
    "multiple_choice_accuracy",
    "parse_choice",
    "parse_number",
    "regression_metrics",
    "rich_table",
    "roc_auc",
    "rouge_l",
    "rouge_n",
    "score_multiple_choice",
    "spearman",
    "tanimoto",
    "tokenize",
]

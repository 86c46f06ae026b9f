"""Task scoring: records + model outputs -> metrics, per answer type (pure functions, no model).

How each answer type is scored (the model side is :mod:`edtformer.evaluation.evaluator`):

=========  ==========================  ==========================================================
type       model output                metrics
=========  ==========================  ==========================================================
``mc``     letter probabilities (one   accuracy overall, per category and per question kind; the
           forward, no generation)     predicted and gold letter rates (no letter bias)
``yesno``  ``yes``/``no`` probabilities accuracy, F1, ROC-AUC (from ``p_yes / (p_yes + p_no)``)
``number`` generated text              :func:`parse_number` -> MAE/RMSE/Spearman, unparseable
                                       count; exact accuracy when the gold values are integers
``smiles`` generated text              :func:`extract_smiles` -> canonical exact match, validity,
                                       fingerprint similarity, ...
``text``   generated text              label answers (R/S lists, E/Z, formula, group lists):
                                       exact match; free text: BLEU/ROUGE/METEOR (+ functional-
                                       group hallucination rate for descriptions)
=========  ==========================  ==========================================================

A task may mix types (``stereo`` has numbers, R/S lists and yes/no); records are scored in
*groups* keyed by the question kind (``meta.kind``) or, without one, the answer type. Metric names
carry the group as a prefix (``rs/exact_match``) unless the task has a single group; a mixed task
also gets ``accuracy`` over every item with a right/wrong outcome.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edtformer.data.schema import LETTERS, Record
from edtformer.evaluation.classification import binary_metrics, multiple_choice_accuracy
from edtformer.evaluation.hallucination import hallucination_rate
from edtformer.evaluation.molecules import canonical_smiles, molecule_generation_metrics
from edtformer.evaluation.parsing import extract_smiles, parse_number
from edtformer.evaluation.regression import regression_metrics
from edtformer.evaluation.text import caption_metrics

#: Answer types scored from answer-token probabilities (one forward pass) instead of generation.
CHOICE_TYPES: tuple[str, ...] = ("mc", "yesno")

#: Short label answers of ``text`` questions and how they are compared: ``list`` (order matters),
#: ``set`` (comma-separated, order free) or ``exact`` (one label).
LABEL_KINDS: dict[str, str] = {"rs": "list", "ez": "exact", "formula": "exact", "groups": "set"}

#: Default generation lengths (new tokens) per answer type; label kinds use ``label``.
MAX_NEW_TOKENS: dict[str, int] = {"number": 16, "label": 24, "smiles": 128, "text": 128}


@dataclass
class ItemResult:
    """One scored item.

    Attributes:
        id: record id.
        group: scoring group (question kind or answer type).
        gold: the reference answer.
        prediction: chosen option (``mc``/``yesno``) or generated text.
        correct: right/wrong where defined (``None`` for free text and real-valued targets).
        probs: option probabilities renormalised over the options (choice types only).
    """

    id: str
    group: str
    gold: str
    prediction: str | None
    correct: bool | None
    probs: list[float] | None = None


def select_records(records: Sequence[Record], limit: int | None, seed: int = 0) -> list[Record]:
    """All records, or the first ``limit`` after a shuffle seeded by ``seed`` (deterministic)."""
    out = list(records)
    if limit is not None and limit < len(out):
        random.Random(seed).shuffle(out)
        out = out[:limit]
    return out


def group_of(rec: Record) -> str:
    """Scoring group of a record: ``mc`` for every multiple-choice record (its kinds are
    reported inside the group), else its ``meta.kind`` if any, else its answer type."""
    kind = (rec.get("meta") or {}).get("kind")
    return str(kind) if kind and rec["answer_type"] != "mc" else rec["answer_type"]


def group_records(records: Sequence[Record]) -> dict[str, list[Record]]:
    """Records by scoring group, in first-seen order; a group holds one answer type."""
    groups: dict[str, list[Record]] = {}
    for rec in records:
        key = group_of(rec)
        if groups.get(key) and groups[key][0]["answer_type"] != rec["answer_type"]:
            key = f"{key}:{rec['answer_type']}"
        groups.setdefault(key, []).append(rec)
    return groups


def choice_options(records: Sequence[Record]) -> list[str]:
    """The options scored for a group of ``mc`` or ``yesno`` records.

    ``mc``: the letters of the largest choice list. ``yesno``: ``yes``/``no`` written as the
    training answers write them (``Yes``/``No`` when most gold answers are capitalised).
    """
    kind = records[0]["answer_type"]
    if kind == "mc":
        return list(LETTERS[: max(len(r["choices"] or ()) for r in records)])
    capital = sum(r["answer"][:1].isupper() for r in records) > len(records) / 2
    return ["Yes", "No"] if capital else ["yes", "no"]


def generation_length(group: str, answer_type: str) -> int:
    """Default ``max_new_tokens`` for a generated group."""
    return MAX_NEW_TOKENS["label" if group in LABEL_KINDS else answer_type]


def score_mc(
    records: Sequence[Record], probs: np.ndarray
) -> tuple[dict[str, float], list[ItemResult]]:
    """Multiple-choice accuracy from letter probabilities ``probs`` ``[N, C]``.

    Letters beyond a record's own choice count are never predicted. Adds the predicted and gold
    letter rates (``pred_rate/A`` ...) so a letter bias is visible.
    """
    letters = LETTERS[: probs.shape[1]]
    preds, items = [], []
    for rec, p in zip(records, probs, strict=True):
        n = len(rec["choices"] or ())
        pred = letters[int(np.argmax(p[:n]))]
        preds.append(pred)
        items.append(
            ItemResult(
                rec["id"], group_of(rec), rec["answer"], pred, pred == rec["answer"], p.tolist()
            )
        )
    gold = [r["answer"] for r in records]
    res = multiple_choice_accuracy(preds, gold, [r["category"] for r in records])
    metrics = res.as_dict()
    kinds = [str((r.get("meta") or {}).get("kind", "")) for r in records]
    if len(set(kinds)) > 1:
        kind_res = multiple_choice_accuracy(preds, gold, kinds)
        metrics.update({f"accuracy/kind={k}": v for k, v in kind_res.per_category.items()})
    for letter in letters:
        metrics[f"pred_rate/{letter}"] = preds.count(letter) / len(preds)
        metrics[f"gold_rate/{letter}"] = gold.count(letter) / len(gold)
    return metrics, items


def score_yesno(
    records: Sequence[Record], probs: np.ndarray, options: Sequence[str]
) -> tuple[dict[str, float], list[ItemResult]]:
    """Accuracy, F1, ROC-AUC from ``probs`` ``[N, 2]`` over ``(yes, no)``."""
    y = [1 if r["answer"].strip().lower() == "yes" else 0 for r in records]
    p_yes = probs[:, 0]
    metrics = binary_metrics(y, p_yes, probs[:, 1])
    metrics.pop("n", None)
    items = []
    for rec, label, p in zip(records, y, probs, strict=True):
        pred = options[0] if p[0] >= p[1] else options[1]
        items.append(
            ItemResult(
                rec["id"],
                group_of(rec),
                rec["answer"],
                pred,
                bool(p[0] >= p[1]) == bool(label),
                p.tolist(),
            )
        )
    return metrics, items


def _is_integer(text: str) -> bool:
    return re.fullmatch(r"[-+]?\d+", text.strip()) is not None


def score_number(
    records: Sequence[Record], texts: Sequence[str]
) -> tuple[dict[str, float], list[ItemResult]]:
    """Regression metrics of generated numbers; exact accuracy when every gold value is an integer."""
    gold = [float(r["answer"]) for r in records]
    res = regression_metrics(list(texts), gold)
    metrics = res.as_dict()
    metrics.pop("n", None)
    integer = all(_is_integer(r["answer"]) for r in records)
    items = []
    for rec, text, g in zip(records, texts, gold, strict=True):
        value = parse_number(text)
        correct = (value is not None and value == g) if integer else None
        items.append(ItemResult(rec["id"], group_of(rec), rec["answer"], text, correct))
    if integer:
        metrics["exact_accuracy"] = sum(bool(i.correct) for i in items) / len(items)
    return metrics, items


def score_smiles(
    records: Sequence[Record], texts: Sequence[str]
) -> tuple[dict[str, float], list[ItemResult]]:
    """Molecule generation metrics of the SMILES extracted from generated text."""
    preds = [extract_smiles(t) for t in texts]
    metrics = molecule_generation_metrics(preds, [r["answer"] for r in records])
    metrics.pop("n", None)
    items = []
    for rec, text, pred in zip(records, texts, preds, strict=True):
        hit = pred is not None and canonical_smiles(pred) == canonical_smiles(rec["answer"])
        items.append(ItemResult(rec["id"], group_of(rec), rec["answer"], text, hit))
    return metrics, items


def _labels(text: str, mode: str) -> Any:
    norm = text.strip().strip(".").strip()
    if mode == "exact":
        return re.sub(r"\s+", "", norm).casefold()
    parts = [p.strip().casefold() for p in re.split(r"[,;]|\band\b", norm) if p.strip()]
    if mode == "list":
        parts = [re.sub(r"\s+", "", p) for p in parts]
        return parts
    return frozenset(parts)


def score_text(
    records: Sequence[Record], texts: Sequence[str], group: str, task: str
) -> tuple[dict[str, float], list[ItemResult]]:
    """Exact match for label answers (:data:`LABEL_KINDS`), else captioning metrics.

    Descriptions (a task whose name holds ``description``) also get the functional-group
    hallucination rate checked by RDKit.
    """
    mode = LABEL_KINDS.get(group)
    items: list[ItemResult] = []
    if mode is not None:
        right, total = 0, 0
        for rec, text in zip(records, texts, strict=True):
            got, gold = _labels(text, mode), _labels(rec["answer"], mode)
            items.append(ItemResult(rec["id"], group, rec["answer"], text, got == gold))
            if mode == "list":  # per-label: position k of the answer vs gold label k
                right += sum(a == b for a, b in zip(got, gold, strict=False))
                total += len(gold)
        metrics = {"exact_match": sum(bool(i.correct) for i in items) / len(items)}
        if mode == "list" and total:
            metrics["per_label_accuracy"] = right / total
        return metrics, items
    metrics = caption_metrics(list(texts), [r["answer"] for r in records])
    if "description" in task.lower():
        hall = hallucination_rate(list(texts), [r["smiles"][0] for r in records])
        metrics["fg_hallucination_rate"] = hall.rate
    items = [
        ItemResult(r["id"], group, r["answer"], t, None)
        for r, t in zip(records, texts, strict=True)
    ]
    return metrics, items


def unparseable(answer_type: str, items: Sequence[ItemResult]) -> int:
    """Answers that gave nothing to score: no number, no valid SMILES, or empty text."""
    if answer_type == "number":
        return sum(parse_number(i.prediction) is None for i in items)
    if answer_type == "smiles":
        return sum(extract_smiles(i.prediction) is None for i in items)
    if answer_type == "text":
        return sum(not (i.prediction or "").strip() for i in items)
    return 0


def combine_groups(
    per_group: dict[str, dict[str, float]], items: Sequence[ItemResult]
) -> dict[str, float]:
    """Flat metrics of a task: unprefixed for one group; ``group/metric`` plus ``accuracy`` for several."""
    if len(per_group) == 1:
        return dict(next(iter(per_group.values())))
    out: dict[str, float] = {}
    judged = [i.correct for i in items if i.correct is not None]
    if judged:
        out["accuracy"] = float(sum(judged) / len(judged))
        out["n_judged"] = float(len(judged))
    for group, metrics in per_group.items():
        out.update({f"{group}/{k}": v for k, v in metrics.items()})
    return out


__all__ = [
    "CHOICE_TYPES",
    "LABEL_KINDS",
    "MAX_NEW_TOKENS",
    "ItemResult",
    "choice_options",
    "combine_groups",
    "generation_length",
    "group_of",
    "group_records",
    "score_mc",
    "score_number",
    "score_smiles",
    "score_text",
    "score_yesno",
    "select_records",
    "unparseable",
]

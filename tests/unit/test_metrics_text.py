"""Captioning metrics against hand-worked values.

(Also cross-checked offline on random token sequences against NLTK's ``corpus_bleu`` and
``meteor_score`` with an identity stemmer and no WordNet, and ``rouge-score`` without stemming;
neither package is a dependency.)
"""

from __future__ import annotations

import math

import pytest

from edtformer.evaluation import (
    MetricInputError,
    caption_metrics,
    corpus_bleu,
    meteor,
    rouge_l,
    rouge_n,
    tokenize,
)

HYP = ["the", "cat", "sat", "on", "the", "mat"]
REF = ["the", "cat", "is", "on", "the", "mat"]


def test_tokenize() -> None:
    assert tokenize("The cat, SAT.") == ["the", "cat", ",", "sat", "."]


def test_bleu2_hand_worked() -> None:
    # unigrams: the x2, cat, on, mat match -> p1 = 5/6
    # bigrams: (the cat), (on the), (the mat) match of 5 -> p2 = 3/5
    # c = r = 6 -> BP = 1; BLEU-2 = sqrt(5/6 * 3/5) = sqrt(1/2)
    assert corpus_bleu([HYP], [[REF]], max_n=2) == pytest.approx(math.sqrt(0.5))
    # no 4-gram matches -> unsmoothed BLEU-4 is 0
    assert corpus_bleu([HYP], [[REF]], max_n=4) == pytest.approx(0.0, abs=1e-12)  # NLTK: ~1e-78


def test_bleu4_with_brevity_penalty() -> None:
    # hyp a b c d e (c = 5), ref a b c d f g (r = 6)
    # p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2 -> product 0.2; BP = exp(1 - 6/5)
    got = corpus_bleu([list("abcde")], [[list("abcdfg")]], max_n=4)
    assert got == pytest.approx(math.exp(-0.2) * 0.2**0.25)


def test_bleu_is_corpus_level_not_mean_of_sentences() -> None:
    # item 1: a b / a b -> 2/2 unigrams, 1/1 bigrams; item 2: c d / c e -> 1/2, 0/1
    # pooled: p1 = 3/4, p2 = 1/2 -> sqrt(3/8) (a mean of sentence scores would be 0.5)
    got = corpus_bleu([["a", "b"], ["c", "d"]], [[["a", "b"]], [["c", "e"]]], max_n=2)
    assert got == pytest.approx(math.sqrt(3 / 8))


def test_bleu_clipping_and_closest_reference() -> None:
    # "the" x4 against one "the": clipped to 1 -> p1 = 1/4; c = 4 > r = 2 -> BP = 1
    assert corpus_bleu([["the"] * 4], [[["the", "cat"]]], max_n=1) == pytest.approx(0.25)
    # refs of length 5 and 2 for a hypothesis of 3: closest is 2 -> no brevity penalty
    got = corpus_bleu([list("abc")], [[list("abcde"), list("ab")]], max_n=1)
    assert got == pytest.approx(1.0)
    # a single reference of length 5 -> BP = exp(1 - 5/3)
    got = corpus_bleu([list("abc")], [[list("abcde")]], max_n=1)
    assert got == pytest.approx(math.exp(1 - 5 / 3))


def test_rouge_hand_worked() -> None:
    # ROUGE-1: overlap 5, P = R = 5/6; ROUGE-2: overlap 3, P = R = 3/5
    # ROUGE-L: LCS "the cat on the mat" = 5 -> 5/6
    assert rouge_n(HYP, REF, 1) == pytest.approx(5 / 6)
    assert rouge_n(HYP, REF, 2) == pytest.approx(3 / 5)
    assert rouge_l(HYP, REF) == pytest.approx(5 / 6)
    # hyp a b c, ref a c d b: LCS 2, P = 2/3, R = 2/4 -> F = 2PR/(P+R) = 4/7
    assert rouge_l(list("abc"), list("acdb")) == pytest.approx(4 / 7)
    assert rouge_n(["x"], ["y"], 1) == 0.0


def test_meteor_hand_worked() -> None:
    # alignment: the-the, cat-cat, on-on, the-the, mat-mat: m = 5, P = R = 5/6
    # Fmean = PR / (0.9 P + 0.1 R) = 5/6; chunks: [the cat] [on the mat] = 2
    # penalty = 0.5 * (2/5)^3 = 0.032 -> 5/6 * 0.968
    assert meteor(HYP, REF) == pytest.approx(5 / 6 * 0.968)
    # identical: m = 3, one chunk, penalty = 0.5 * (1/3)^3 -> 1 - 1/54
    assert meteor(list("abc"), list("abc")) == pytest.approx(1 - 1 / 54)
    # hyp a b, ref a b c d: P = 1, R = 1/2 -> Fmean = 0.5 / (0.9 + 0.05); chunks 1 of 2
    # penalty = 0.5 * (1/2)^3 = 0.0625
    assert meteor(list("ab"), list("abcd")) == pytest.approx(0.5 / 0.95 * 0.9375)
    assert meteor(["x"], ["y"]) == 0.0


def test_caption_metrics_identical_and_multi_reference() -> None:
    texts = ["the molecule is a carboxylic acid .", "it is an aromatic amine ."]
    m = caption_metrics(texts, texts)
    assert m["bleu2"] == pytest.approx(1.0) and m["bleu4"] == pytest.approx(1.0)
    assert m["rouge1"] == m["rouge2"] == m["rougeL"] == pytest.approx(1.0)
    assert 0.95 < m["meteor"] < 1.0  # METEOR's fragmentation penalty never reaches 0
    # with several references, the best one counts for ROUGE / METEOR
    m2 = caption_metrics(["the cat sat"], [["a dog ran", "the cat sat"]])
    assert m2["rouge1"] == pytest.approx(1.0)


def test_caption_metrics_bad_input() -> None:
    with pytest.raises(MetricInputError):
        caption_metrics([], [])
    with pytest.raises(MetricInputError):
        caption_metrics(["a"], ["a", "b"])
    with pytest.raises(MetricInputError, match="no reference"):
        caption_metrics(["a"], [[]])


def test_meteor_stem_stage_matches_inflections() -> None:
    # "acids" / "acid" match through NLTK's Porter stems (exact-only METEOR would give 0.5 recall)
    hyp, ref = ["carboxylic", "acids"], ["carboxylic", "acid"]
    assert meteor(hyp, ref) == pytest.approx(meteor(ref, ref))

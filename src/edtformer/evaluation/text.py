"""Captioning metrics with the libraries the MolT5 / MolCA protocol uses: NLTK's corpus BLEU-n
and METEOR, Google's ``rouge-score`` ROUGE-1/2/L F-measure.

Tokenisation (:func:`tokenize`): lower-cased word runs and single punctuation marks, for BLEU,
ROUGE and METEOR alike. MolT5's script tokenises with SciBERT's WordPiece tokenizer (a hub
download), so scores are comparable between our models and close to, but not digit-for-digit
with, published ones.

METEOR is NLTK's ``single_meteor_score`` (Banerjee & Lavie 2005; alpha=0.9, beta=3, gamma=0.5)
with its exact and Porter-stem stages. Its WordNet synonym stage needs NLTK's WordNet corpus,
which is a separate download: when it is not installed the synonym stage matches nothing, and
reports can say so (:func:`meteor_synonyms_available`).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence

from edtformer.evaluation.validation import MetricInputError, check_paired


class _NoSynonyms:
    """Stands in for NLTK's WordNet reader when its corpus is not installed: no synonyms."""

    @staticmethod
    def synsets(*_: object, **__: object) -> list[object]:
        return []


def _wordnet() -> tuple[object, bool]:
    try:
        # heavy: nltk loads only when METEOR needs WordNet
        from nltk.corpus import wordnet

        wordnet.synsets("molecule")
        return wordnet, True
    except LookupError:
        return _NoSynonyms(), False


def meteor_synonyms_available() -> bool:
    """Whether METEOR's WordNet synonym stage is active (NLTK's WordNet corpus installed)."""
    return _wordnet()[1]


_TOKEN = re.compile(r"\w+|[^\w\s]")

Tokens = Sequence[str]
#: One reference text or several references for one item.
References = Sequence[str] | Sequence[Sequence[str]]


def tokenize(text: str) -> list[str]:
    """Lower-cased words (``\\w+`` runs) and single punctuation marks."""
    return _TOKEN.findall(text.lower())


def ngrams(tokens: Tokens, n: int) -> Counter[tuple[str, ...]]:
    """Counts of the ``n``-grams of ``tokens``."""
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(
    hypotheses: Sequence[Tokens], references: Sequence[Sequence[Tokens]], max_n: int = 4
) -> float:
    """Corpus-level BLEU (Papineni et al., 2002; NLTK's ``corpus_bleu``), uniform weights.

    Clipped n-gram matches and hypothesis n-gram counts are summed over the corpus before the
    precisions ``p_n`` are formed; ``BLEU = BP * exp(mean_n log p_n)`` with
    ``BP = exp(1 - r / c)`` when the total hypothesis length ``c`` is below the total reference
    length ``r`` (per item the reference closest in length, the shorter on ties), else 1.
    Unsmoothed: BLEU is 0 when some order has no match. As in NLTK's ``corpus_bleu`` (which
    MolT5-style evaluations use), a hypothesis shorter than ``n`` adds 1 to the order-``n``
    denominator, so scores match NLTK's exactly.

    Args:
        hypotheses: tokenised hypotheses.
        references: for each hypothesis, one or more tokenised references.
        max_n: highest n-gram order (2 for BLEU-2, 4 for BLEU-4).
    """
    # heavy: nltk loads only when this metric runs
    from nltk.translate.bleu_score import corpus_bleu as nltk_corpus_bleu

    check_paired("corpus_bleu", hypotheses, references, ("hypotheses", "reference lists"))
    if max_n < 1:
        raise MetricInputError(f"corpus_bleu: max_n={max_n}; expected 1 or more")
    for i, refs in enumerate(references):
        if not refs:
            raise MetricInputError(f"corpus_bleu: item {i} has no reference")
    if sum(len(h) for h in hypotheses) == 0:
        return 0.0
    with warnings.catch_warnings():  # NLTK warns when an order has no match: BLEU is then 0
        warnings.simplefilter("ignore")
        score = nltk_corpus_bleu(
            [[list(r) for r in refs] for refs in references],
            [list(h) for h in hypotheses],
            weights=tuple([1.0 / max_n] * max_n),
        )
    return float(score)


class _Given:
    """rouge-score tokenizer for text that is already tokenised (tokens joined by spaces)."""

    @staticmethod
    def tokenize(text: str) -> list[str]:
        return text.split()


def _rouge(hypothesis: Tokens, reference: Tokens, kind: str) -> float:
    # heavy: rouge-score loads only when this metric runs
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer([kind], tokenizer=_Given())
    score = scorer.score(" ".join(reference), " ".join(hypothesis))[kind]
    return float(score.fmeasure)


def rouge_n(hypothesis: Tokens, reference: Tokens, n: int) -> float:
    """ROUGE-n F-measure of one pair (``rouge-score``): clipped n-gram overlap, ``F = 2PR/(P+R)``."""
    return _rouge(hypothesis, reference, f"rouge{n}")


def rouge_l(hypothesis: Tokens, reference: Tokens) -> float:
    """ROUGE-L F-measure of one pair (``rouge-score``): longest common subsequence."""
    return _rouge(hypothesis, reference, "rougeL")


def meteor(
    hypothesis: Tokens,
    reference: Tokens,
    alpha: float = 0.9,
    beta: float = 3.0,
    gamma: float = 0.5,
) -> float:
    """METEOR of one pair: NLTK's ``single_meteor_score`` (exact, Porter-stem and, when NLTK's
    WordNet corpus is installed, synonym matching).

    With ``m`` aligned unigrams, ``P = m / |hyp|``, ``R = m / |ref|``,
    ``Fmean = P R / (alpha P + (1 - alpha) R)``; ``chunks`` = runs of matches contiguous in both
    texts; ``penalty = gamma (chunks / m) ** beta``; ``score = Fmean (1 - penalty)``.
    """
    # heavy: nltk loads only when this metric runs
    from nltk.translate.meteor_score import single_meteor_score

    if not hypothesis or not reference:
        return 0.0
    wordnet, _ = _wordnet()
    return float(
        single_meteor_score(
            list(reference), list(hypothesis), alpha=alpha, beta=beta, gamma=gamma, wordnet=wordnet
        )
    )


def _as_reference_lists(references: References, n: int) -> list[list[str]]:
    refs = [[r] if isinstance(r, str) else list(r) for r in references]
    if len(refs) != n:
        raise MetricInputError(f"caption_metrics: got {n} predictions but {len(refs)} references")
    return refs


def caption_metrics(predictions: Sequence[str], references: References) -> dict[str, float]:
    """BLEU-2/4 (corpus), ROUGE-1/2/L and METEOR (means over items; best reference per item).

    Args:
        predictions: generated texts.
        references: one reference text per prediction, or a list of references per prediction.

    Returns:
        ``{"bleu2", "bleu4", "rouge1", "rouge2", "rougeL", "meteor"}``, each in [0, 1].
    """
    n = check_paired("caption_metrics", predictions, references, ("predictions", "references"))
    refs = _as_reference_lists(references, n)
    hyp_tok = [tokenize(p) for p in predictions]
    ref_tok = [[tokenize(r) for r in rs] for rs in refs]
    for i, rs in enumerate(ref_tok):
        if not rs:
            raise MetricInputError(f"caption_metrics: item {i} has no reference")

    def mean_best(score: Callable[[Tokens, Tokens], float]) -> float:
        return sum(max(score(h, r) for r in rs) for h, rs in zip(hyp_tok, ref_tok, strict=True)) / n

    return {
        "bleu2": corpus_bleu(hyp_tok, ref_tok, max_n=2),
        "bleu4": corpus_bleu(hyp_tok, ref_tok, max_n=4),
        "rouge1": mean_best(lambda h, r: rouge_n(h, r, 1)),
        "rouge2": mean_best(lambda h, r: rouge_n(h, r, 2)),
        "rougeL": mean_best(rouge_l),
        "meteor": mean_best(meteor),
    }

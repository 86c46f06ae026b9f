"""Captioning metrics in pure Python: corpus BLEU-n, ROUGE-1/2/L F-measure, METEOR (exact match).

Tokenisation (:func:`tokenize`): lower-cased word runs and single punctuation marks. Scores are
therefore comparable between our models but not digit-for-digit with papers that tokenise with
a BERT or Moses tokenizer, stem for ROUGE, or use WordNet synonyms for METEOR.

METEOR here is the **exact-match-only** variant of Banerjee & Lavie (2005) as parameterised in
NLTK (alpha=0.9, beta=3, gamma=0.5): no stem or synonym stages, so it is at most the full score.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence

from edtformer.evaluation.validation import MetricInputError, check_paired

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
    """Corpus-level BLEU (Papineni et al., 2002) with uniform weights and brevity penalty.

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
    check_paired("corpus_bleu", hypotheses, references, ("hypotheses", "reference lists"))
    if max_n < 1:
        raise MetricInputError(f"corpus_bleu: max_n={max_n}; expected 1 or more")
    matches = [0] * max_n
    totals = [0] * max_n
    hyp_len = ref_len = 0
    for i, (hyp, refs) in enumerate(zip(hypotheses, references, strict=True)):
        if not refs:
            raise MetricInputError(f"corpus_bleu: item {i} has no reference")
        hyp_len += len(hyp)
        ref_len += min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1]
        for n in range(1, max_n + 1):
            counts = ngrams(hyp, n)
            max_ref: Counter[tuple[str, ...]] = Counter()
            for r in refs:
                max_ref |= ngrams(r, n)
            matches[n - 1] += sum(min(c, max_ref[g]) for g, c in counts.items())
            totals[n - 1] += max(1, sum(counts.values()))  # NLTK: at least 1 per item
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / max_n
    bp = 1.0 if hyp_len >= ref_len else math.exp(1.0 - ref_len / hyp_len)
    return bp * math.exp(log_p)


def _f1(overlap: int, n_hyp: int, n_ref: int) -> float:
    if overlap == 0:
        return 0.0
    p, r = overlap / n_hyp, overlap / n_ref
    return 2 * p * r / (p + r)


def rouge_n(hypothesis: Tokens, reference: Tokens, n: int) -> float:
    """ROUGE-n F-measure of one pair: n-gram overlap (clipped counts), ``F = 2PR / (P + R)``."""
    h, r = ngrams(hypothesis, n), ngrams(reference, n)
    overlap = sum((h & r).values())
    return _f1(overlap, sum(h.values()), sum(r.values()))


def lcs_length(a: Tokens, b: Tokens) -> int:
    """Length of the longest common subsequence (dynamic programming, O(len(a) len(b)))."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hypothesis: Tokens, reference: Tokens) -> float:
    """ROUGE-L F-measure of one pair: ``P = LCS / |hyp|``, ``R = LCS / |ref|``, ``F = 2PR / (P + R)``."""
    return _f1(lcs_length(hypothesis, reference), len(hypothesis), len(reference))


def _exact_alignment(hypothesis: Tokens, reference: Tokens) -> list[tuple[int, int]]:
    """NLTK's exact-match stage: hypothesis words from last to first, each to the last free equal reference word."""
    free = list(range(len(reference)))
    pairs: list[tuple[int, int]] = []
    for i in range(len(hypothesis) - 1, -1, -1):
        for k in range(len(free) - 1, -1, -1):
            if reference[free[k]] == hypothesis[i]:
                pairs.append((i, free.pop(k)))
                break
    return sorted(pairs)


def meteor(
    hypothesis: Tokens,
    reference: Tokens,
    alpha: float = 0.9,
    beta: float = 3.0,
    gamma: float = 0.5,
) -> float:
    """METEOR of one pair with exact unigram matching only (no stemming, no WordNet synonyms).

    With ``m`` aligned unigrams, ``P = m / |hyp|``, ``R = m / |ref|``,
    ``Fmean = P R / (alpha P + (1 - alpha) R)``; ``chunks`` = runs of matches contiguous in both
    texts; ``penalty = gamma (chunks / m) ** beta``; ``score = Fmean (1 - penalty)``.
    """
    pairs = _exact_alignment(hypothesis, reference)
    m = len(pairs)
    if m == 0:
        return 0.0
    p, r = m / len(hypothesis), m / len(reference)
    fmean = p * r / (alpha * p + (1 - alpha) * r)
    chunks = 1 + sum(
        not (b[0] == a[0] + 1 and b[1] == a[1] + 1) for a, b in itertools.pairwise(pairs)
    )
    return fmean * (1.0 - gamma * (chunks / m) ** beta)


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

"""Lettered answer options written inside a question, and the bare question without them.

A chemist (or a benchmark such as MoleculeQA) asks "How many rings? A) 1 B) 2 C) 3 D) 4" in many
layouts: one option per line (``a) 1``, ``(B) 2``, ``C. 3``, ``D | 4``, ``  A 1``) or inline
(``A = 1, B = 2``, ``(A) 1 (B) 2``, ``A: 1; B: 2``). :func:`parse_options` finds the options and
the question without them, so that the model can score each option's text as the answer to the
bare question (cloze scoring, how lm-evaluation-harness scores small models) and reply with the
letter, instead of generating a letter it cannot bind to an option.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

LETTERS = "ABCDEFGH"

#: One option per line: optional bullet/paren, the letter, a delimiter (or only spaces), the text.
_LINE = re.compile(r"^\s*[-*•]?\s*[\(\[]?([A-Ha-h])(?:\s*(?:[\).:|=\]]|-(?=\s))\s*|\s+)(\S.*?)\s*$")
#: An inline option marker: "(A)", "A)", "A.", "A:", "A =", "A |", at a word start.
_INLINE = r"(?:(?<=^)|(?<=[\s,;]))[\(\[]?{L}\s*(?:\)|\]|\.(?!\d)|:|=|\|)\s+"
#: Words that introduce the list ("Options:", "Choices:", "Possible answers:") and are dropped.
_INTRO = re.compile(
    r"(?:\b(?:the\s+)?(?:options|choices|answers|possible answers|answer choices|candidates)\s*(?:are)?\s*:?\s*)$",
    re.IGNORECASE,
)
#: Sentence-final instructions after the last option ("Answer with the letter.") end it.
_TAIL = re.compile(
    r"(?:(?<=\S)[.?!]\s+|\s*\n|\s+(?=(?:Answer|Reply|Respond|Pick|Choose|Give|State|Return|Write|"
    r"Select|Your|Please|Only|Just|Which|What)\b)).*$",
    re.DOTALL,
)


@dataclass(frozen=True)
class LetteredQuestion:
    """A question with lettered options.

    Attributes:
        stem: the question without its options and answer-format instructions.
        letters: the option letters in order (``["A", "B", ...]``, upper case).
        options: each option's text.
        letter_only: the question asks for the letter alone ("only the letter", "just the letter").
    """

    stem: str
    letters: list[str]
    options: list[str]
    letter_only: bool

    def reply(self, index: int) -> str:
        """The answer naming option ``index``: its letter, and its text unless only the letter was asked."""
        letter = self.letters[index]
        return letter if self.letter_only else f"{letter}) {self.options[index]}"


def cloze_probs(logps: Sequence[float], options: Sequence[str]) -> list[float]:
    """Option probabilities from their answers' summed log-likelihoods: each divided by its
    option's length in characters (lm-evaluation-harness's ``acc_norm``), softmaxed."""
    norm = [lp / max(len(t), 1) for lp, t in zip(logps, options, strict=True)]
    top = max(norm)
    z = [math.exp(x - top) for x in norm]
    return [x / sum(z) for x in z]


def _clean(text: str) -> str:
    return text.strip().strip(",;").strip().removesuffix(" or").removesuffix(",").strip()


def _from_lines(question: str) -> tuple[int, int, list[str]] | None:
    """Options written one per line: the first and last line index and the texts."""
    lines = question.split("\n")
    for start, line in enumerate(lines):
        m = _LINE.match(line)
        if m is None or m.group(1).upper() != "A":
            continue
        texts, k = [m.group(2)], start + 1
        while k < len(lines):
            nxt = _LINE.match(lines[k])
            if nxt is None or nxt.group(1).upper() != LETTERS[len(texts)]:
                break
            texts.append(nxt.group(2))
            k += 1
            if len(texts) == len(LETTERS):
                break
        if len(texts) >= 2:
            return start, k, [_clean(t) for t in texts]
    return None


def _inline(question: str) -> tuple[int, int, list[str]] | None:
    """Options written on one line: the character span of the list and the texts."""
    for case in (str.upper, str.lower):
        first = re.search(_INLINE.format(L=case("A")), question)
        if first is None:
            continue
        marks = [first]
        while len(marks) < len(LETTERS):
            nxt = re.compile(_INLINE.format(L=case(LETTERS[len(marks)]))).search(
                question, marks[-1].end()
            )
            if nxt is None:
                break
            marks.append(nxt)
        if len(marks) < 2:
            continue
        texts = [question[a.end() : b.start()] for a, b in itertools.pairwise(marks)]
        last = question[marks[-1].end() :]
        tail = _TAIL.search(last)
        end = marks[-1].end() + (tail.start() if tail else len(last))
        texts.append(question[marks[-1].end() : end])
        texts = [_clean(t) for t in texts]
        if all(texts) and all("\n" not in t for t in texts):
            return first.start(), end, texts
    return None


def parse_options(question: str) -> LetteredQuestion | None:
    """The lettered options of ``question`` (at least two, lettered A, B, ... in order), or ``None``.

    >>> q = parse_options("How many rings does it have? A) 1 B) 2 C) 3 D) 4")
    >>> q.stem, q.options
    ('How many rings does it have?', ['1', '2', '3', '4'])
    >>> parse_options("Is vitamin A an alcohol?") is None
    True
    """
    letter_only = bool(
        re.search(r"\b(?:only|just|single|capital)\b[^.?!\n]{0,30}\bletter\b", question, re.I)
        or re.search(r"\bletter\b[^.?!\n]{0,20}\b(?:only|alone)\b", question, re.I)
    )
    found = _from_lines(question)
    if found is not None:
        first, last, texts = found
        lines = question.split("\n")
        before, after = "\n".join(lines[:first]), "\n".join(lines[last:])
    else:
        span = _inline(question)
        if span is None:
            return None
        start, end, texts = span
        before, after = question[:start], question[end:]
    if len(set(t.casefold() for t in texts)) < len(texts):
        return None  # two options the same: not a list this parser can trust
    stem = _INTRO.sub("", before.strip()).strip()
    if not stem:  # the question follows the options ("A) 1 B) 2. Which is the ring count?")
        stem = _TAIL.sub("", after.strip().lstrip(".?!;,").strip()) or after.strip()
    kept = (re.sub(r"[ \t]+", " ", line).strip() for line in stem.splitlines())
    stem = "\n".join(line for line in kept if line)
    if not stem:
        return None
    return LetteredQuestion(stem, list(LETTERS[: len(texts)]), texts, letter_only)


__all__ = ["LETTERS", "LetteredQuestion", "cloze_probs", "parse_options"]

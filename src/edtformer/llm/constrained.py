"""Answers decoded as a list of names given in advance: the functional groups a sheet lists
(or one name of a few: the largest of a salt's fragments).

A 135M LLM asked "Which functional groups does it have?" reads the sheet's list and often copies
it badly: a name repeated until the token budget runs out ("ester, ester, ester, ..."), a word of
the question instead of the list ("group", "group"), a name the sheet does not hold. When the
one fact a question asks is such a list, :class:`NameListConstraint` lets the LLM write only
distinct names of the list, in the order and number it chooses, separated as the format asks
(``a, b, c`` as text, ``"a", "b"]}`` inside a JSON list begun ``["``): its own scores pick among
the tokens that keep the answer a prefix of such a list (the ``top_k`` best tokens are tried,
best first), and it may stop only after a whole name. The LLM still answers; the constraint
only keeps the answer inside the sheet, as JSON-schema enums do in structured-output decoding.

The same processor keeps a JSON value to its type (:class:`JsonScalar`): after ``{"veber":``
a yes/no fact is ``true`` or ``false`` and a count or a weight a number, never ``4`` for a
verdict or a formula for a weight.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import Tensor


@dataclass(frozen=True)
class NameList:
    """The answers allowed for one prompt: distinct ``names`` joined as text or a JSON list,
    or one of them (:attr:`single`).

    Attributes:
        names: the names an answer may list (at least one).
        json: inside a JSON list begun ``["``: each name closed by ``"``, the next begun
            ``, "``, the list and object closed by ``]}`` (one name: inside a JSON string begun
            ``"``, closed by ``"}``); otherwise names joined by ``", "``.
    """

    names: tuple[str, ...]
    json: bool = False
    single: bool = False
    """Exactly one name (a JSON string begun ``"`` and closed ``"}``), not a list."""
    every: bool = False
    """Every name, each once, in the order the LLM chooses: the list may end only after the
    last (the group list a question asks whole: a shorter list would be a wrong answer)."""

    @property
    def _parts(self) -> tuple[str, str, str]:
        """(after a name, between names, after the last name); no separator (``""``) for
        :attr:`single`."""
        if self.single:
            return ('"', "", "}") if self.json else ("", "", "")
        return ('"', ', "', "]}") if self.json else ("", ", ", "")

    def allows(self, text: str) -> bool:
        """Whether ``text`` is the start of an allowed answer."""
        return _state(self, _lead(text)) >= 1

    def complete(self, text: str) -> bool:
        """Whether ``text`` is a whole allowed answer (the LLM may stop here)."""
        return _state(self, _lead(text)) == 2

    def continuations(self, text: str) -> list[str]:
        """What may follow ``text``, each up to the end of a name (or the list's closing)."""
        stripped = _lead(text)
        nexts = _nexts(self, stripped, frozenset())
        return [" " + t for t in nexts] + nexts if not stripped else nexts


_NUMBER_PREFIX = re.compile(r"-?(?:\d+(?:\.\d*)?)?")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class JsonScalar:
    """A JSON value of one type after a begun ``{"key":``: a number (``-12.5``) or a boolean
    (``true`` / ``false``), then the object's ``}`` (JSON-schema typing, as structured-output
    decoding does: which number, or which of the two, is the LLM's choice).

    Attributes:
        kind: ``"number"`` or ``"boolean"``.
    """

    kind: str
    plain: bool = False
    """A plain answer, not JSON: the number alone, no closing ``}`` (a count asked in words:
    "Can you tally the rule-of-five breaches?" is answered ``2``, never ``no``)."""
    or_begun: str = ""
    """A plain answer may instead begin with this text and go on freely (the decline "I can't
    tell": a question the selector took for a count may be one no structure answers)."""

    def __post_init__(self) -> None:
        if self.kind not in ("number", "boolean"):
            raise ValueError(f"JsonScalar kind must be 'number' or 'boolean', got {self.kind!r}")
        if self.plain and self.kind != "number":
            raise ValueError("a plain JsonScalar is a number")

    def _begun_otherwise(self, t: str) -> bool:
        """Whether ``t`` is (the start of) an answer begun with :attr:`or_begun`."""
        return bool(self.or_begun and t) and (
            self.or_begun.startswith(t) or t.startswith(self.or_begun)
        )

    def allows(self, text: str) -> bool:
        """Whether ``text`` is the start of an allowed value."""
        t = _lead(text)
        if self._begun_otherwise(t):
            return True
        if self.kind == "boolean":
            return any(w.startswith(t) for w in ("true}", "false}"))
        if t.endswith("}") and not self.plain:
            return _NUMBER.fullmatch(t[:-1]) is not None
        return _NUMBER_PREFIX.fullmatch(t) is not None

    def complete(self, text: str) -> bool:
        """Whether ``text`` is a whole value (the LLM may stop here)."""
        if self.or_begun and _lead(text).startswith(self.or_begun):
            return True
        t = _lead(text).removesuffix("}")
        if self.kind == "boolean":
            return t in ("true", "false")
        return _NUMBER.fullmatch(t) is not None

    def continuations(self, text: str) -> list[str]:
        """What may follow ``text``: the rest of ``true}`` / ``false}``, or a digit, point,
        sign or closing that keeps a number."""
        t = _lead(text)
        if self.kind == "boolean":
            nexts = [w[len(t) :] for w in ("true}", "false}") if w.startswith(t) and w != t]
        else:
            ends = [] if self.plain else ["}"]
            nexts = [c for c in [*"0123456789", ".", "-", *ends] if self.allows(t + c)]
            if self._begun_otherwise(t) and len(t) < len(self.or_begun):
                nexts.append(self.or_begun[len(t) :])
            elif not t and self.or_begun:
                nexts.append(self.or_begun)
        return [" " + n for n in nexts] + nexts if not t else nexts


#: What a constrained answer keeps to: names from a list, or a typed JSON value.
AnswerSpec = NameList | JsonScalar


def tokens_needed(tokenizer: Any, spec: AnswerSpec) -> int:
    """The tokens a whole answer of ``spec`` may take when it is one name (:attr:`NameList.single`:
    the longest name, its closing and a space), so that a long name (a salt's main fragment, 70
    tokens of SMILES) is never cut by the answer budget, or every name (:attr:`NameList.every`:
    the whole list); 0 for a list whose length is the LLM's choice."""
    if not isinstance(spec, NameList) or not (spec.single or spec.every):
        return 0
    end, sep, close = spec._parts
    if spec.every:  # the whole list, its separators and closing
        whole = sep.join(n + end for n in spec.names) + close
        return 2 + len(tokenizer.encode(" " + whole, add_special_tokens=False))
    return 2 + max(len(tokenizer.encode(" " + n + end + close, add_special_tokens=False))
                   for n in spec.names)  # fmt: skip


@lru_cache(maxsize=65536)
def _state(spec: NameList, text: str) -> int:
    """:func:`_walk` from the answer's start, cached (each step asks about the same prefixes)."""
    return _walk(spec, text, frozenset())


def _lead(text: str) -> str:
    """``text`` without the one space a tokenizer may put before the first word."""
    return text[1:] if text.startswith(" ") else text


def _after_names(
    spec: NameList, text: str, used: frozenset[str]
) -> Iterator[tuple[str, str | None]]:
    """For each unused name ``text`` (from a name's start) agrees with: ``(the rest of the
    name, None)`` when ``text`` stops inside it, ``(name, what follows it)`` when ``text`` holds
    it whole (its closing quote included)."""
    end = spec._parts[0]
    for name in spec.names:
        if name in used:
            continue
        whole = name + end
        if len(text) < len(whole):
            if whole.startswith(text):
                yield whole[len(text) :], None
        elif text.startswith(whole):
            yield name, text[len(whole) :]


def _may_end(spec: NameList, used: frozenset[str]) -> bool:
    """Whether a list of the names ``used`` may end (:attr:`NameList.every`: all of them)."""
    return not spec.every or len(used) == len(set(spec.names))


def _nexts(spec: NameList, text: str, used: frozenset[str]) -> list[str]:
    """The texts that carry ``text`` (from a name's start) on to the end of its next name or to
    the closing of the list: what the LLM may write next, whatever its tokens."""
    end, sep, close = spec._parts
    out: list[str] = []
    for name, rest in _after_names(spec, text, used):
        if rest is None:  # inside a name: its rest
            out.append(name)
            continue
        if close.startswith(rest) and rest != close and _may_end(spec, used | {name}):
            out.append(close[len(rest) :])
        if not sep:
            continue
        if sep.startswith(rest) and rest != sep:
            gone = used | {name}
            out += [sep[len(rest) :] + n + end for n in spec.names if n not in gone]
        elif rest.startswith(sep):
            out += _nexts(spec, rest[len(sep) :], used | {name})
    return [t for t in out if t]


def _walk(spec: NameList, text: str, used: frozenset[str]) -> int:
    """0: ``text`` (from a name's start) leads nowhere allowed; 1: a prefix of an allowed
    answer; 2: a whole allowed answer."""
    _, sep, close = spec._parts
    best = 1 if not text else 0
    # after one more name (never one of ``used``): none left to follow a separator
    full = len(used) + 1 >= len(set(spec.names))
    ends = full or not spec.every  # (:func:`_may_end` of ``used`` and that name)
    for name, rest in _after_names(spec, text, used):
        if rest is None:
            best = max(best, 1)
        elif not rest:
            best = max(best, 1 if close or not ends else 2)  # plain text may stop after a name
        elif rest == close and ends:
            best = 2
        elif (close.startswith(rest) and ends) or (sep and sep.startswith(rest) and not full):
            best = max(best, 1)
        elif sep and rest.startswith(sep) and not full:
            best = max(best, _walk(spec, rest[len(sep) :], used | {name}))
        if best == 2:
            break
    return best


class NameListConstraint:
    """A ``transformers`` logits processor keeping each constrained row's answer in its
    :class:`NameList` (rows with ``None`` are left alone).

    Called with the tokens generated so far (``input_ids``, ``[B, T]``: ``generate`` from
    ``inputs_embeds`` passes only new tokens) and the next-token scores (``[B, V]``); returns
    the scores with every token that would leave the allowed answers set to ``-inf``. The
    tokens tried are the row's ``top_k`` best and the first token of each allowed continuation
    (:meth:`NameList.continuations`), so a row can always go on; a row that has ended, or whose
    text left the list some other way, is not constrained.
    """

    def __init__(
        self,
        tokenizer: Any,
        specs: Sequence[AnswerSpec | None],
        eos_ids: Sequence[int],
        top_k: int = 48,
    ) -> None:
        self.tokenizer = tokenizer
        self.specs = list(specs)
        self.eos_ids = [int(i) for i in eos_ids]
        self.top_k = top_k
        self._piece = lru_cache(maxsize=65536)(self._piece_uncached)
        self._first = lru_cache(maxsize=65536)(self._first_uncached)

    def _piece_uncached(self, token: int) -> str:
        """One token's text (byte-level BPE: a text's tokens decode to its pieces joined, for
        the ASCII names checked here)."""
        return str(self.tokenizer.decode([token], skip_special_tokens=True))

    def _decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def _first_tokens(self, spec: AnswerSpec, text: str) -> list[int]:
        """The first token of each allowed continuation of ``text`` as the tokenizer writes it
        (so the answer can go on when none of the LLM's best tokens would keep it allowed)."""
        firsts = (self._first(cont) for cont in spec.continuations(text))
        return [t for t in firsts if t is not None]

    def _first_uncached(self, text: str) -> int | None:
        """The first token of ``text`` as the tokenizer writes it (``None``: no token)."""
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return int(ids[0]) if ids else None

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        out = scores
        for b, spec in enumerate(self.specs):
            if spec is None:
                continue
            ids = tuple(int(t) for t in input_ids[b].tolist())
            if any(t in self.eos_ids for t in ids):
                continue  # finished row (padding follows)
            text = self._decode(ids)
            if not spec.allows(text):
                continue  # already outside (e.g. a prefix was joined differently): leave it
            top = torch.topk(scores[b], min(self.top_k, scores.shape[-1])).indices.tolist()
            keep = [
                t
                for t in dict.fromkeys([*top, *self._first_tokens(spec, text)])
                if t not in self.eos_ids and self._piece(t) and spec.allows(text + self._piece(t))
            ]
            if spec.complete(text):
                keep += self.eos_ids
            if not keep:
                continue
            if out is scores:
                out = scores.clone()
            row = torch.full_like(out[b], float("-inf"))
            idx = torch.tensor(keep, device=out.device)
            row[idx] = scores[b, idx]
            out[b] = row
        return out


__all__ = ["AnswerSpec", "JsonScalar", "NameList", "NameListConstraint", "tokens_needed"]

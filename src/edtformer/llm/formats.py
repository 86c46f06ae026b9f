"""Answer formats a question asks for by name, and how an answer in that format starts.

A chemist or a benchmark asks "... Give the answer as JSON with the key \"n_rings\"." A 135M LLM
then often writes a bare number, or a key of its own ("stereocentric" for "stereocenters").
:func:`json_key` finds the key the question names, and :func:`answer_prefix` the text the answer
must begin with (``{"n_rings":``); generation continues from there, as structured-output
decoding of larger systems does, so the asked key is always the one written.
"""

from __future__ import annotations

import json
import re

#: A question asks for JSON: the word "JSON" (any case).
_JSON = re.compile(r"\bjson\b", re.IGNORECASE)
#: A key as questions quote it: "key", 'key' or `key` (letters, digits, _, -, ., space; at most
#: 40 characters; starting with a letter or _).
_QUOTED = re.compile(r"(?<![A-Za-z0-9])[\"'`“‘]([A-Za-z_][A-Za-z0-9_.\- ]{0,39})[\"'`”’]")


#: A JSON object written in the question as the answer's shape: ``{"rings": N}``.
_SHOWN = re.compile(r"\{\s*[\"']([A-Za-z_][A-Za-z0-9_.\- ]{0,39})[\"']\s*:")


def json_key(question: str) -> str | None:
    """The JSON key ``question`` asks its answer to be stored under, or ``None``.

    The question must name JSON — the key is the first quoted name after the word JSON (or, if
    none follows it, the last quoted name before it): ``Emit JSON; store the result under
    "mf".`` -> ``mf``, ``Put it under "count" as JSON`` -> ``count`` — or write the answer's
    shape: ``Return {"rings": N}.`` -> ``rings``.
    """
    shown = _SHOWN.search(question)  # 'Return {"rings": N}': the answer's shape, written out
    if shown is not None:
        return shown.group(1).strip() or None
    m = _JSON.search(question)
    if m is None:
        return None
    after = _QUOTED.search(question, m.end())
    if after is not None:
        return after.group(1).strip() or None
    before = _QUOTED.findall(question[: m.start()])
    return before[-1].strip() or None if before else None


#: How a JSON value of each known kind opens (:func:`answer_prefix`'s ``value_type``).
VALUE_OPENINGS: dict[str, str] = {"list": ' ["', "text": ' "'}


def answer_prefix(question: str, value_type: str | None = None) -> str | None:
    """The text an answer to ``question`` starts with, or ``None`` when it asks for no format
    that fixes one: ``{"key":`` for JSON with a named key, followed by the opening of the value
    when its kind is known (``value_type``: ``"list"`` -> ``{"key": ["``, ``"text"`` ->
    ``{"key": "``; a list of names or a label is then never written as a bare number)."""
    key = json_key(question)
    if key is None:
        return None
    if value_type is not None and value_type not in VALUE_OPENINGS:
        raise ValueError(f"unknown JSON value type {value_type!r}; known: {list(VALUE_OPENINGS)}")
    return "{" + json.dumps(key) + ":" + VALUE_OPENINGS.get(value_type or "", "")


#: Bumped whenever :func:`join_prefix` changes what an answer reads (evaluations that reuse
#: earlier answers re-answer the begun ones then).
FORMAT_VERSION = 2


def join_prefix(prefix: str, continuation: str) -> str:
    """``prefix`` and the generated ``continuation`` as one answer (``{"n":`` + ``3}`` ->
    ``{"n": 3}``). An answer begun as JSON always ends as valid JSON (:func:`finish_json`)."""
    rest = continuation.strip()
    if not rest:
        text = prefix
    elif prefix.endswith(('"', "[")):  # inside a begun value: no space
        text = prefix + rest
    else:
        text = prefix + rest if rest[0] in ",.;:!?)]}" else f"{prefix} {rest}"
    return finish_json(text) if prefix.startswith("{") else text


def finish_json(text: str) -> str:
    """``text``, an answer begun ``{"key":``, as valid JSON: kept when it parses; otherwise the
    one key with the value written after it — a JSON value when one parses (``3``, ``"S"``,
    ``[..]``, ``true``), else the bare words as a string (``{"mf": C9H13N3O5`` ->
    ``{"mf": "C9H13N3O5"}``). Structured output for a small LLM that opens JSON but does not
    always close or quote it."""
    try:
        if isinstance(json.loads(text), dict):
            return text
    except json.JSONDecodeError:
        pass
    m = re.match(r'\{\s*("(?:[^"\\]|\\.)*")\s*:\s*(.*)$', text, re.DOTALL)
    if m is None:
        return text
    key = json.loads(m.group(1))
    raw = m.group(2).strip()
    return json.dumps({key: _value(raw)})


def _value(raw: str) -> object:
    """The JSON value at the start of ``raw``, a list cut short closed after its last whole
    element, or the bare words up to the next ``,`` / ``}`` as a string (``None`` if empty)."""
    decoder = json.JSONDecoder()
    tries = [raw]
    if raw.startswith("["):
        cut = raw.rstrip().rstrip(",")
        # closed as written, then without a name cut short (an answer stopped mid-name)
        tries += [cut + "]", raw[: max(raw.rfind(","), 1)] + "]", cut + '"]']
    elif raw.startswith('"'):
        tries.append(re.split(r"[}\n]", raw, maxsplit=1)[0].rstrip() + '"')
    for t in tries:
        try:
            value = decoder.raw_decode(t)[0]
        except json.JSONDecodeError:
            continue
        if not (isinstance(value, list) and any("]" in str(x) for x in value)):
            return value  # (a list whose closing bracket was quoted into an item is no value)
    if raw.startswith("["):  # bare names: [aromatic ring, ester
        inner = re.split(r"[\]}\n]", raw[1:], maxsplit=1)[0]
        names = [w.strip().strip('"').strip() for w in inner.split(",")]
        return [w for w in names if w]
    if raw.startswith('"'):  # an unclosed string: the text up to the line's end
        return re.split(r'["}\n]', raw[1:], maxsplit=1)[0].strip() or None
    bare = re.split(r"[,}\n]", raw, maxsplit=1)[0].strip().strip('"').strip()
    return bare or None


__all__ = [
    "FORMAT_VERSION",
    "VALUE_OPENINGS",
    "answer_prefix",
    "finish_json",
    "join_prefix",
    "json_key",
]

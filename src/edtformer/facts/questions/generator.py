"""The question generator: one :class:`QAItem` per call, every draw a function of ``rng``.

:func:`generate` picks a fact kind and a form (plain, JSON, multiple choice, two facts,
off-sheet), then one builder below writes the question from the split's templates. Nothing
raises for a valid sheet (salts, no carbon, no ring, no stereo).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from edtformer.facts.questions.answers import (
    DECLINE,
    FACT_NAMES,
    GENERIC_JSON_KEYS,
    JSON_KEYS,
    KIND_TYPES,
    QAItem,
    fact_kinds,
    field_name,
    format_answer,
    gold_value,
)
from edtformer.facts.questions.distractors import distractors
from edtformer.facts.questions.subjects import (
    GROUP_ALIAS_RATE,
    capitalise,
    draw_element,
    draw_group,
    group_aliases,
    group_vocabulary,
    mol_phrase,
)
from edtformer.facts.questions.templates import fill, load_templates
from edtformer.facts.sheet import element_name

#: Option letters of a multiple-choice question.
LETTERS = "ABCD"

#: Probabilities of the forms when ``form`` is None (the rest is "plain"). Lettered questions
#: are few: the model answers them by cloze-scoring the options' texts as answers to the plain
#: question (:mod:`edtformer.llm.options`), so plain answers are what it must learn.
FORM_RATES = {"json": 0.20, "mc": 0.05, "two_facts": 0.07}
#: How often a plain question carries a format request of its type.
FORMAT_REQUEST_RATE = 0.4
#: How often an off-sheet question carries a (number or text) format request.
OFF_SHEET_REQUEST_RATE = 0.25


# --------------------------------------------------------------------------- question text


def _fact_question(
    t: dict, kind: str, subject: str | None, phrase: str, rng: random.Random
) -> tuple[str, int]:
    templates = t["kinds"][kind]
    index = rng.randrange(len(templates))
    fills = {"mol": phrase}
    if kind == "element_count":
        fills["element"] = element_name(subject or "C")
    template = templates[index]
    if kind == "has_group":
        name = subject or ""
        aliases = group_aliases(name)
        if aliases and rng.random() < GROUP_ALIAS_RATE:
            name = rng.choice(aliases)
        fills["group"] = name
        article = "an" if (name or "x")[0].lower() in "aeiou" else "a"
        template = re.sub(r"\b[aA] \{group\}", lambda m: f"{article} {{group}}", template)
    return capitalise(fill(template, **fills), phrase), index


def _request_type(kind: str) -> str:
    return {"int": "number", "float": "number", "bool": "yes_no"}.get(KIND_TYPES[kind], "text")


def _append(question: str, request: str, rng: random.Random) -> str:
    """The question and a format request, on one line or two (always two after a bare SMILES or
    a question without end punctuation)."""
    question = question.rstrip()
    ends = question[-1:] in (".", "?", "!", ")", ":")
    sep = " " if ends and rng.random() < 0.7 else "\n"
    return f"{question}{sep}{request.strip()}"


# --------------------------------------------------------------------------- item builders


def _plain(values, smiles, rng, t, split, kind, subject) -> QAItem:
    phrase = mol_phrase(smiles, rng)
    question, index = _fact_question(t, kind, subject, phrase, rng)
    meta: dict[str, Any] = {"split": split, "template": index, "mol_phrase": phrase}
    if rng.random() < FORMAT_REQUEST_RATE:
        rtype = _request_type(kind)
        requests = t["format_requests"][rtype]
        r = rng.randrange(len(requests))
        question = _append(question, requests[r], rng)
        meta.update(format_request=r, request_type=rtype)
    if subject is not None:
        meta["subject"] = subject
    return QAItem(
        kind=kind,
        field=field_name(kind, subject),
        question=question,
        answer=format_answer(values, kind, subject),
        answer_type=KIND_TYPES[kind],
        gold=gold_value(values, kind, subject),
        meta=meta,
    )


def _json_item(values, smiles, rng, t, split, kind, subject) -> QAItem:
    phrase = mol_phrase(smiles, rng)
    question, index = _fact_question(t, kind, subject, phrase, rng)
    keys = list(JSON_KEYS[kind]) + list(GENERIC_JSON_KEYS)
    if kind == "element_count" and subject:
        keys += [f"n_{subject}", f"{element_name(subject)}_count"]
    key = rng.choice(keys)
    requests = t["format_requests"]["json"]
    r = rng.randrange(len(requests))
    question = _append(question, fill(requests[r], key=key), rng)
    gold = {key: gold_value(values, kind, subject)}
    meta: dict[str, Any] = {
        "split": split, "template": index, "mol_phrase": phrase, "json_key": key,
        "format_request": r, "fact_kind": kind,
    }  # fmt: skip
    if subject is not None:
        meta["subject"] = subject
    return QAItem(kind, field_name(kind, subject), question, json.dumps(gold), "json", gold, meta)


def _layout(t: dict, question: str, options: list[str], rng: random.Random) -> tuple[str, int]:
    layouts = t["mc_layouts"]
    index = rng.randrange(len(layouts))
    fills = {"q": question, **{f"o{i}": o for i, o in enumerate(options)}}
    return fill(layouts[index], **fills), index


def _group_choice(values, smiles, rng, t, split) -> QAItem | None:
    present = list(values.get("groups") or [])
    absent = [g for g in group_vocabulary() if g not in present]
    phrase = mol_phrase(smiles, rng)
    if len(present) >= 3 and len(absent) >= 1 and rng.random() < 0.35:
        which, right, wrong = "absent", rng.choice(absent), rng.sample(present, 3)
    elif present and len(absent) >= 3:
        which, right, wrong = "present", rng.choice(present), rng.sample(absent, 3)
    else:
        return None
    templates = t["group_choice"][which]
    index = rng.randrange(len(templates))
    stem = capitalise(fill(templates[index], mol=phrase), phrase)
    position = rng.randrange(4)
    options = list(wrong)
    options.insert(position, right)
    question, layout = _layout(t, stem, options, rng)
    letter = LETTERS[position]
    meta = {
        "split": split, "template": index, "mol_phrase": phrase, "layout": layout,
        "options": options, "correct": position, "fact_kind": "has_group", "choice": which,
    }  # fmt: skip
    return QAItem("mc", f"groups:{right}", question, letter, "letter", letter, meta)


def _mc_item(values, smiles, rng, t, split, kind, subject) -> QAItem:
    if kind == "has_group":
        item = _group_choice(values, smiles, rng, t, split)
        if item is not None:
            return item
    phrase = mol_phrase(smiles, rng)
    stem, index = _fact_question(t, kind, subject, phrase, rng)
    correct = format_answer(values, kind, subject)
    wrong = distractors(values, kind, subject, rng)
    position = rng.randrange(4)
    options = list(wrong)
    options.insert(position, correct)
    question, layout = _layout(t, stem, options, rng)
    letter = LETTERS[position]
    meta: dict[str, Any] = {
        "split": split, "template": index, "mol_phrase": phrase, "layout": layout,
        "options": options, "correct": position, "fact_kind": kind,
    }  # fmt: skip
    if subject is not None:
        meta["subject"] = subject
    return QAItem("mc", field_name(kind, subject), question, letter, "letter", letter, meta)


def _two_facts(values, smiles, rng, t, split, first: str | None) -> QAItem:
    names = [k for k in FACT_NAMES if k in values]
    a = first if first in FACT_NAMES and first in values else rng.choice(names)
    b = rng.choice([k for k in names if k != a])
    phrase = mol_phrase(smiles, rng)
    templates = t["two_facts"]
    index = rng.randrange(len(templates))
    question = capitalise(
        fill(templates[index], a=FACT_NAMES[a], b=FACT_NAMES[b], mol=phrase), phrase
    )
    answer = (
        f"{FACT_NAMES[a]} {format_answer(values, a)}, {FACT_NAMES[b]} {format_answer(values, b)}"
    )
    gold = {a: gold_value(values, a, None), b: gold_value(values, b, None)}
    meta = {"split": split, "template": index, "mol_phrase": phrase, "facts": [a, b]}
    return QAItem("two_facts", f"{a}+{b}", question, answer, "text", gold, meta)


def _off_sheet(smiles, rng, t, split, subject: str | None) -> QAItem:
    off = t["off_sheet"]
    offkind = subject if subject in off else rng.choice(sorted(off))
    questions = off[offkind]
    index = rng.randrange(len(questions))
    phrase = mol_phrase(smiles, rng)
    question = capitalise(fill(questions[index], mol=phrase), phrase)
    meta: dict[str, Any] = {
        "split": split, "template": index, "mol_phrase": phrase, "off_kind": offkind,
    }  # fmt: skip
    if rng.random() < OFF_SHEET_REQUEST_RATE:
        rtype = rng.choice(("number", "text"))
        requests = t["format_requests"][rtype]
        r = rng.randrange(len(requests))
        question = _append(question, requests[r], rng)
        meta.update(format_request=r, request_type=rtype)
    return QAItem("off_sheet", "", question, DECLINE, "decline", None, meta)


def generate(
    values: dict,
    smiles: str,
    rng: random.Random,
    split: str,
    kind: str | None = None,
    subject: str | None = None,
    form: str | None = None,
) -> QAItem:
    """One question about the molecule whose sheet values are ``values``.

    ``kind``: a fact kind (None draws one uniformly), or "off_sheet" / "two_facts" / "mc".
    ``subject``: the element symbol (element_count), group name (has_group) or off-sheet kind.
    ``form``: "plain" | "json" | "mc" | "two_facts" | "off_sheet" | None (None draws: mostly
    plain, ~15 % json, ~20 % mc, ~7 % two_facts; off-sheet only when asked for).
    """
    t = load_templates(split)
    if kind in ("off_sheet", "two_facts", "mc") and form is None:
        form = kind
    if kind in ("off_sheet", "two_facts", "mc"):
        kind = None
    if form == "off_sheet":
        return _off_sheet(smiles, rng, t, split, subject)
    if kind is not None and kind not in KIND_TYPES:
        raise ValueError(f"unknown kind {kind!r}; expected one of {fact_kinds()}")
    if form not in (None, "plain", "json", "mc", "two_facts"):
        raise ValueError(f"unknown form {form!r}")
    explicit_kind = kind is not None
    if kind is None and form != "two_facts":
        kind = rng.choice(fact_kinds())
    if form is None:
        r = rng.random()
        if r < FORM_RATES["json"]:
            form = "json"
        elif r < FORM_RATES["json"] + FORM_RATES["mc"]:
            form = "mc"
        elif r < sum(FORM_RATES.values()) and (not explicit_kind or kind in FACT_NAMES):
            form = "two_facts"
        else:
            form = "plain"
    if form == "two_facts":
        return _two_facts(values, smiles, rng, t, split, kind)
    assert kind is not None
    if kind == "element_count" and subject is None:
        subject = draw_element(values, rng)
    elif kind == "has_group" and subject is None:
        subject = draw_group(values, rng)
    elif kind not in ("element_count", "has_group"):
        subject = None
    if form == "json":
        return _json_item(values, smiles, rng, t, split, kind, subject)
    if form == "mc":
        return _mc_item(values, smiles, rng, t, split, kind, subject)
    return _plain(values, smiles, rng, t, split, kind, subject)

"""Which lines of the fact sheet a question names: the sheet the LLM reads, cut to what is asked.

A 135M LLM pays for every token it reads (the whole sheet is ~330 SmolLM2 tokens, ten times a
short question), and copies a fact more reliably from a few lines than from a page.
:func:`lines_for` matches a question against chemists' words for each line of
:func:`edtformer.facts.sheet.sheet_lines` (``rotatable`` for "nRotB?", ``descriptors`` for
"cLogP", ``groups`` for any functional-group name or alias of the vocabulary, ``composition`` for
element names, ...). The molecule's own SMILES is removed from the question first, so its atoms
never match element words. A question that names no line gets the whole sheet: off-sheet
questions ("melting point?") and unforeseen wordings see every fact, and the LLM decides.

The word lists (:mod:`edtformer.facts.vocabulary`) were written from chemistry vocabulary and
checked against the *train* templates only (a test: every train template of an on-sheet kind
selects the line that answers it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from edtformer.facts.groups import GROUP_RULES
from edtformer.facts.sheet import (
    ELEMENT_NAMES,
    LINE_FIELDS,
    LINE_NAMES,
    SHEET_FIELDS,
    element_name,
)
from edtformer.facts.vocabulary import (
    ABSENT_WORDS,
    ASKED_COUNT_WORDS,
    ASKS_A_NUMBER,
    CENTRE_WORDS,
    CIP_STRONG_WORDS,
    COMPANIONS,
    COUNTED_CENTRE_WORDS,
    COUNTING_WORDS,
    DOUBLE_BOND_WORDS,
    FUZZY_RATIO,
    FUZZY_WORDS,
    H_NOT_ELEMENT_WORDS,
    ITEM_OVERRIDES,
    ITEM_WITH,
    ITEM_WORDS,
    LARGEST_FRAGMENT_WORDS,
    LINE_NAMED,
    LINE_WORDS,
    NARROWED_LINES,
    OFF_SHEET_WORDS,
    ONE_LETTER_SYMBOLS,
    RING_TYPE_WORDS,
    SMILES_CHARS,
    STEREO_BOND_WORDS,
    TEXT_ITEMS,
    TWO_LETTER_SYMBOLS,
    WHOLE_SHEET_WORDS,
)


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    """One compiled alternation per line, with the vocabulary's group names / aliases and the
    element names added."""
    words = {k: list(v) for k, v in LINE_WORDS.items()}
    for rule in GROUP_RULES:
        for name in (rule.name, *rule.aliases):
            if _askable(name):
                end = "" if len(name) >= 4 else r"s?(?![a-z0-9])"
                words["groups"].append(r"\b" + re.escape(name.lower()) + end)
    for name in ELEMENT_NAMES.values():
        words["composition"].append(r"\b" + re.escape(name.lower()))
    words["composition"] += [
        r"\b(cl|br|na|si|se|li|mg|ca|zn|fe)\b",
        r"\b[chnopsfbik]\b(?= ?atoms?)",
    ]
    return {k: re.compile("|".join(v), re.IGNORECASE) for k, v in words.items()}


def _askable(name: str) -> bool:
    """A group name or alias a question can name: ASCII, 4+ characters, or 3 letters / digits
    (``azo``, ``thf``, ``no2``; matched as whole words)."""
    return name.isascii() and (len(name) >= 4 or (len(name) == 3 and name.isalnum()))


def strip_smiles(question: str, smiles: Iterable[str] = ()) -> str:
    """``question`` without the given SMILES and without words that look like SMILES (brackets,
    ring digits, bond symbols), so a molecule's atoms never read as words."""
    for s in sorted(smiles, key=len, reverse=True):
        if s:
            question = question.replace(s, " ")
    kept = [
        w for w in question.split()
        if _UNIT.fullmatch(w)
        or not (len(w) >= 6 and sum(c in SMILES_CHARS for c in w) >= 0.25 * len(w))
    ]  # fmt: skip
    return " ".join(kept)


#: A unit in brackets ("(g/mol)", "[mg/mL]"): words, though its brackets and slash look like SMILES.
_UNIT = re.compile(r"[(\[]?(?:k?g/mol|mg/m?l|g/l|mol/l|da|kda)[)\].,;:?]*", re.IGNORECASE)


def lines_for(question: str, smiles: Iterable[str] = ()) -> set[str] | None:
    """The sheet lines ``question`` names (names of :data:`LINE_WORDS`; every line for a
    question asking for the whole sheet, :data:`WHOLE_SHEET_WORDS`), or ``None`` when it names
    none or asks about a topic no structure answers (:data:`OFF_SHEET_WORDS`; then the whole
    sheet is written, and a model with ``decline_unnamed`` declines)."""
    text = strip_smiles(question, smiles)
    if WHOLE_SHEET_WORDS.search(text):
        return set(LINE_NAMES)
    if OFF_SHEET_WORDS.search(text):
        return None
    found = {k for k, pat in _patterns().items() if pat.search(text)}
    for word in re.findall(r"[a-z][a-z0-9-]{4,}", text.lower()):
        for line, words in FUZZY_WORDS.items():
            if line not in found and any(_close(word, w) for w in words):
                found.add(line)
    return found or None


@lru_cache(maxsize=1)
def _item_patterns() -> dict[str, re.Pattern[str]]:
    words = {**ITEM_WORDS, **{f"line:{k}": v for k, v in LINE_NAMED.items()}}
    return {k: re.compile("|".join(v), re.IGNORECASE) for k, v in words.items()}


@dataclass(frozen=True)
class SheetRequest:
    """What of a molecule's sheet a question reads (:func:`narrow`).

    Attributes:
        lines: the lines to write (:data:`~edtformer.facts.sheet.LINE_NAMES`), ``None`` for
            the whole sheet.
        asked: single elements / groups the question names (:func:`asked_facts`).
        items: the items of the narrowed lines the question names
            (:func:`~edtformer.facts.sheet.render_sheet`'s ``items``).
    """

    lines: frozenset[str] | None
    asked: tuple[str, ...]
    items: frozenset[str]


def narrow(question: str, smiles: Iterable[str] = ()) -> SheetRequest:
    """:func:`_narrow` of ``question`` (cached: the answer's start, the decline check and the
    processor's sheet all read one request per prompt)."""
    return _narrow(question, tuple(smiles))


@lru_cache(maxsize=4096)
def _narrow(question: str, smiles: tuple[str, ...]) -> SheetRequest:
    """The lines, asked facts and single items of the sheet ``question`` needs: "What does it
    weigh per mole?" reads ``molecular weight`` only, "How many stereocentres lack a
    configuration?" ``unspecified stereocentres`` only. Within a line :func:`lines_for` selects,
    the items :data:`ITEM_WORDS` names are kept (a line naming none is written whole); when
    some line's items (or an asked element / group) are named, lines naming nothing
    (:data:`LINE_NAMED` for whole lines) are dropped; the stereocentre line is dropped for a
    question about double bonds only, and the group "aromatic ring" when a ring count is asked
    ("How many aromatic rings?"); a question that names no line reads the whole sheet."""
    text = strip_smiles(question, smiles)
    lines = lines_for(question, smiles)
    asked = asked_facts(question, smiles)
    if H_NOT_ELEMENT_WORDS.search(text):
        asked = [a for a in asked if a != "element:H"]
    if lines is None:
        return SheetRequest(None, tuple(asked), frozenset())
    if set(LINE_NAMES) <= lines:  # the whole sheet asked for ("Describe this molecule")
        return SheetRequest(frozenset(lines), tuple(asked), frozenset())
    lines = set(lines)
    if (
        {"stereo", "double_bonds"} <= lines
        and DOUBLE_BOND_WORDS.search(text)
        and not CENTRE_WORDS.search(text)
    ):
        lines.discard("stereo")
    pats = _item_patterns()
    items: set[str] = set()
    named: set[str] = set()
    for line in lines:
        if line in NARROWED_LINES:
            hits = _line_items(line, text, pats)
            items |= hits
            if hits:
                named.add(line)
        elif f"line:{line}" in pats and pats[f"line:{line}"].search(text):
            named.add(line)
            if line == "groups":
                items.add("groups")  # the list itself asked for ("Which groups does it have?")
    if items & set(NARROWED_LINES["rings"]) and COUNTING_WORDS.search(text):
        asked = [a for a in asked if a != "group:aromatic ring"]
    if COUNTING_WORDS.search(text):  # "Chlorine count?" asks the atoms, not the group "chlorine"
        counted = {f"group:{element_name(a[8:])}" for a in asked if a.startswith("element:")}
        asked = [a for a in asked if a not in counted]
    named |= {"groups" if a.startswith("group:") else "composition" for a in asked}
    if named:
        lines &= named
    return SheetRequest(frozenset(lines), tuple(asked), frozenset(items))


def value_type(request: SheetRequest, question: str, smiles: Iterable[str] = ()) -> str | None:
    """What kind of value answers ``question`` when its request names one fact whose value is
    not a number or a yes/no: ``"list"`` for the functional-group list ("Which groups does it
    have?"), ``"fragment"`` for the largest fragment's SMILES ("main component?"),
    ``"formula"`` for the formula, ``"text"`` for CIP or E/Z labels; ``None`` otherwise (numbers,
    verdicts, several facts, or a count: "How many stereocentres?"). A JSON answer is begun
    with that value's opening (:func:`edtformer.llm.formats.answer_prefix`)."""
    if request.lines is None or request.asked:
        return None
    text = strip_smiles(question, smiles)
    if request.items == {"groups"} and request.lines == {"groups"}:
        return "list"
    if request.lines == {"fragments"} and not ASKS_A_NUMBER.search(text):
        return "fragment" if LARGEST_FRAGMENT_WORDS.search(text) else None
    named = set(request.items) - {"groups"}
    if "cip" in named:
        named -= COMPANIONS
    if "formula" in named:
        named.discard("atoms")  # "formula (element counts)": the formula is how counts are written
        if named == {"formula"}:  # a count word does not make it a number here
            return "formula"
    if len(named) == 1 and named <= TEXT_ITEMS and not ASKS_A_NUMBER.search(text):
        return "text"
    return None


#: Words that make a question about one numeric fact a yes/no or a comparison ("Is its weight
#: above 500?", "Does it have more than 2 rings?"): its JSON value is then not that number. A
#: polite request ("Can you tally the rule-of-five breaches?") is no yes/no question.
_NOT_THE_VALUE = re.compile(
    r"^\W*(?:[\w' ]{1,30}:\s*)?(?:is|are|does|do|did|has|have|can(?! you)|could(?! you)"
    r"|would(?! you)|will(?! you)|should|was|were)\b|\bwhether\b|\bif\b|exceed|more than"
    r"|less than|fewer than|at (?:least|most)"
    r"|greater|smaller|larger|above|below|between|\bor\b",
    re.IGNORECASE,
)


def scalar_type(request: SheetRequest, question: str, smiles: Iterable[str] = ()) -> str | None:
    """The JSON type of the value answering ``question`` when its request names one sheet
    fact that is a number or a yes/no (:data:`~edtformer.facts.sheet.SHEET_FIELDS` kinds):
    ``"boolean"`` for a verdict (macrocycle, chiral, Lipinski, Veber), ``"number"`` for a
    count or a measure asked as such (not "Is it above 500?": :data:`_NOT_THE_VALUE`), the
    request reading one sheet line, or a rule named with its thresholds (:data:`RULE_CRITERIA`);
    ``None`` otherwise, also for an element or a group asked by name."""
    if request.lines is None or request.asked:
        return None
    items, text = set(request.items), strip_smiles(question, smiles)
    for rule, criteria in RULE_CRITERIA.items():  # a rule named with its own thresholds
        if rule in items and items - {rule} <= criteria and _THRESHOLD.search(text):
            return "boolean"
    if len(request.lines) != 1:
        return None  # (two lines: "the functional groups and ring types" is no one number)
    named = items - {"groups"}
    for k in list(named):
        named -= set(ITEM_WITH.get(k, ())) - {k}
    if not named:  # a line of one fact: "How many rotatable bonds?"
        fields = LINE_FIELDS.get(next(iter(request.lines)), ())
        if len(fields) != 1 or LARGEST_FRAGMENT_WORDS.search(text):  # (or the main component)
            return None
        kind = FIELD_KINDS[fields[0]]
    elif len(named) == 1:
        kind = FIELD_KINDS.get(next(iter(named)), "")
    else:
        return None
    if kind == "bool":
        return "boolean"
    if kind in ("int", "float") and (
        not _NOT_THE_VALUE.search(text) or _NUMBER_REQUESTED.search(text)
    ):
        return "number"
    return None


#: The facts each yes/no rule judges: "Would Veber's rule (at most 10 rotatable bonds, TPSA at
#: most 140) accept it?" names them beside the rule and still asks the rule's verdict.
RULE_CRITERIA: dict[str, frozenset[str]] = {
    "veber": frozenset({"rotatable_bonds", "tpsa"}),
    "lipinski": frozenset({"mol_weight", "logp", "hbd", "hba", "lipinski_violations"}),
}

#: A number asked for in so many words ("Respond numerically, without units or words."): the
#: value, whatever "or" the format request holds.
_NUMBER_REQUESTED = re.compile(
    r"\bnumeric(?:al)?(?:ly)?\b|\b(?:just|only) the (?:number|value|count)\b"
    r"|\bas an? (?:number|integer)\b|\bdigits? only\b",
    re.IGNORECASE,
)

#: A threshold written in a question ("at most 10", "under 500", "<= 140").
_THRESHOLD = re.compile(
    r"(?:at most|at least|under|below|above|over|less than|more than|fewer than|no more than"
    r"|up to|[<>≤≥]=?)\s*\d",
    re.IGNORECASE,
)

#: Each scalar sheet fact's kind (``int``, ``float``, ``bool``, ``text``).
FIELD_KINDS: dict[str, str] = {f.key: f.kind for f in SHEET_FIELDS}


def _line_items(line: str, text: str, pats: dict[str, re.Pattern[str]]) -> set[str]:
    """The items of ``line`` the question ``text`` names (see :func:`narrow`)."""
    hits = {k for k in NARROWED_LINES[line] if pats[k].search(text)}
    hits -= {o for k in hits for o in ITEM_OVERRIDES.get(k, ()) if o != k}
    if {"cip", "specified_stereocentres"} <= hits and not CIP_STRONG_WORDS.search(text):
        hits.discard("cip")  # "how many carry an explicit configuration" counts, lists nothing
    if line == "stereo" and not hits - {"chiral"} and COUNTED_CENTRE_WORDS.search(text):
        hits.add("stereocentres")  # "How many stereocentres?" names the count itself
    if line == "rings":
        specific = hits - {"rings"}
        if specific and not re.search(r"\btotal\b|\bsssr\b|altogether|\bin all\b", text, re.I):
            hits.discard("rings")
        elif (
            not hits
            and re.search(r"\brings?\b", text, re.I)
            and (not RING_TYPE_WORDS.search(text) or COUNTING_WORDS.search(text))
        ):
            hits.add("rings")  # (ring types, not counted, are named in the group list)
    for k in list(hits):
        hits |= set(ITEM_WITH.get(k, ()))
    return hits


def ring_kinds_only(question: str, smiles: Iterable[str] = ()) -> bool:
    """Whether ``question`` asks the kinds of rings by name and no other group ("What ring
    types are present?"): its group list holds only the ring names."""
    text = strip_smiles(question, smiles)
    if not RING_TYPE_WORDS.search(text) or COUNTING_WORDS.search(text):
        return False
    return not re.search(r"functional|\bgroups?\b|moiet|substructure|\bclass", text, re.I)


#: Words that ask a part of the group list chosen by a property no rule on the sheet decides
#: ("Which groups make it acidic?"); a group's name that holds one ("carboxylic acid") is not one.
_LIST_QUALIFIERS = re.compile(
    r"\b(acid(ic|ity)?|bas(e|ic|icity)|ioni[sz]\w*|hydroly\w*|reactiv\w*|labile|metaboli\w*"
    r"|protonat\w*|deprotonat\w*|responsible|contribut\w*|toxic\w*|pharmacophor\w*"
    r"|makes? (it|this|the)\b|render\w*|account for|cause\w*)\b",
    re.I,
)
_NAMES_WITH_QUALIFIERS = re.compile(
    r"\b(carboxylic|sulfonic|sulphonic|phosphonic|phosphoric|amino|boronic|sulfinic|hydroxamic"
    r"|fatty)\s+acids?\b|\bacid (halides?|chlorides?|anhydrides?)\b|\bschiff bases?\b"
    r"|\bnucleobases?\b",
    re.I,
)


def list_qualified(question: str, smiles: Iterable[str] = ()) -> bool:
    """Whether ``question`` asks only the groups with a property the sheet does not decide
    ("Which groups make it acidic?", "Which of its groups could be hydrolysed?"): the answer is
    some of the group list, the LLM's choice, not every name."""
    text = _NAMES_WITH_QUALIFIERS.sub(" ", strip_smiles(question, smiles))
    return bool(_LIST_QUALIFIERS.search(text))


def items_for(question: str, smiles: Iterable[str] = ()) -> set[str]:
    """The single sheet items ``question`` names (:func:`narrow`'s ``items``)."""
    return set(narrow(question, smiles).items)


@lru_cache(maxsize=65536)
def _close(word: str, target: str) -> bool:
    return SequenceMatcher(None, word, target).ratio() >= FUZZY_RATIO


@lru_cache(maxsize=1)
def _asked_patterns() -> tuple[
    list[tuple[re.Pattern[str], str]], list[tuple[re.Pattern[str], str]]
]:
    """(element-name pattern, symbol) and (group-name pattern, rule name), longest names first."""
    names = {"sulphur": "S", "aluminum": "Al", "cesium": "Cs"}
    names.update({n: s for s, n in ELEMENT_NAMES.items()})
    elements = [
        (re.compile(r"\b" + re.escape(n) + r"s?\b", re.IGNORECASE), s)
        for n, s in sorted(names.items(), key=lambda kv: -len(kv[0]))
    ]
    groups = []
    for rule in GROUP_RULES:
        for name in (rule.name, *rule.aliases):
            if _askable(name) and not any(c in name for c in "=#/"):
                groups.append(
                    (re.compile(r"\b" + re.escape(name) + r"(?:s|es)?\b", re.I), rule.name)
                )
    groups.sort(key=lambda pr: -len(pr[0].pattern))
    return elements, groups


def asked_facts(question: str, smiles: Iterable[str] = ()) -> list[str]:
    """The single facts ``question`` names beyond whole lines: ``"element:Cl"`` for each element
    it names (by name or symbol) and ``"group:ester"`` for each functional group, ring or class
    of the vocabulary (by name or alias; a name inside a longer matched name does not count),
    in order of first mention. The sheet then writes each one explicitly — ``chlorine atoms: 2``,
    ``ester: no`` — so that an absent element or group is a written 0 / no, not an absence the
    LLM must notice."""
    text = strip_smiles(question, smiles)
    elements, groups = _asked_patterns()
    hits: list[tuple[int, str]] = []
    taken: list[tuple[int, int]] = []
    for pat, name in groups:
        for m in pat.finditer(text):
            if re.search(r"\bnon[- ]?$", text[: m.start()], re.I):
                continue  # "non-aromatic rings" names no aromatic ring
            if not any(a <= m.start() and m.end() <= b for a, b in taken):
                taken.append((m.start(), m.end()))
                hits.append((m.start(), f"group:{name}"))
    for pat, sym in elements:
        hits += [(m.start(), f"element:{sym}") for m in pat.finditer(text)]
    for key, pat in ASKED_COUNT_WORDS.items():
        found = pat.search(text)
        if found is not None and not (key == "double_bonds" and STEREO_BOND_WORDS.search(text)):
            hits.append((found.start(), f"count:{key}"))
    for m in re.finditer(TWO_LETTER_SYMBOLS, text):
        hits.append((m.start(), f"element:{m.group(1)}"))
    for m in re.finditer(ONE_LETTER_SYMBOLS, text):
        hits.append((m.start(), f"element:{m.group(1) or m.group(2)}"))
    out: list[str] = []
    for _, key in sorted(hits):
        if key not in out:
            out.append(key)
    return out


def group_choice(stem: str, options: Sequence[str]) -> str | None:
    """``"present"`` or ``"absent"`` when every option of a lettered question names exactly one
    functional group / ring / class of the vocabulary (all different) — "Which of these groups
    does it contain?" / "... lack?" (:data:`~edtformer.facts.vocabulary.ABSENT_WORDS` in the
    stem) — else ``None``. Such a question is answered option by option as the yes/no question
    the sheet answers exactly (:func:`edtformer.model.answering.group_options`)."""
    names = []
    for option in options:
        asked = asked_facts(option)
        if len(asked) != 1 or not asked[0].startswith("group:"):
            return None
        names.append(asked[0])
    if len(set(names)) != len(names):
        return None
    return "absent" if ABSENT_WORDS.search(stem) else "present"

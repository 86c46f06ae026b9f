"""Parse model answers: a multiple-choice letter, a number, a SMILES string.

The multiple-choice parser is **position-unbiased**: every rule treats the letters A-D alike, and
when the evidence is missing or contradictory it returns ``None`` — it never falls back to a
letter. (The public EDT-Former code picks "A" whenever an "A" appears anywhere in the answer,
so "A molecule like this ..." counts as choosing A.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache

from edtformer.chem import Mol, rdkit_mol

#: Letters used when neither ``letters`` nor ``options`` is given.
DEFAULT_LETTERS = "ABCD"

# Words after a bare letter that show it is used as an answer label ("C is correct"),
# not as an article ("A molecule ..."). The same rule applies to every letter.
_LABEL_FOLLOWERS = (
    "is|was|because|as|since|would|should|seems|appears|fits|matches|correct|best|"
    "looks|describes|applies|or|and"
)
# Words before a capital letter that make it part of a name ("vitamin C", "coenzyme A").
_NAME_PREFIX = re.compile(
    r"\b(?:vitamin|coenzyme|ring|kinase|type|class|hepatitis|group|site|chain|form|protein)\s+$",
    re.IGNORECASE,
)
_FOLLOW = rf"(?=\s*$|\s*[.,;:!?)\]'\"]|\s+(?:{_LABEL_FOLLOWERS})\b)"
_ANSWER_WORDS = (
    r"(?:answer|choose|chose|choosing|select|selected|selecting|pick|picked|go\s+with|going\s+with)"
)
_COPULA = r"(?:\s+(?:is|would\s+be|should\s+be|must\s+be|will\s+be|be|here\s+is))?"
_MINUS = dict.fromkeys(map(ord, "−–—‒﹣－"), "-")
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")


@cache
def _choice_patterns(letters: str) -> dict[str, re.Pattern[str]]:
    """Regexes for one letter set; every letter is one alternative of the same class."""
    ci = "[" + re.escape(letters.upper() + letters.lower()) + "]"
    up = "[" + re.escape(letters.upper()) + "]"
    label = rf"(?:[(\[]({ci})[)\]]|({ci}){_FOLLOW})"
    return {
        "answer": re.compile(
            rf"\b{_ANSWER_WORDS}{_COPULA}\s*(?:[:=\-]\s*)?(?:(?:option|choice)\s+)?{label}",
            re.IGNORECASE,
        ),
        "option": re.compile(rf"\b(?:option|choice)\s+{label}", re.IGNORECASE),
        "list": re.compile(rf"\s*(?:,|/|&|or\b|and\b)\s*(?:[(\[]{ci}[)\]]|{up}(?![\w'\-]))"),
        "leading": re.compile(rf"^\s*[(\[]?({ci})(?:[)\]]|[.:](?=\s|$))"),
        "bracketed": re.compile(rf"[(\[]({ci})[)\]]"),
        "loose": re.compile(rf"(?<![\w'\-])({up})(?![\w'\-]){_FOLLOW}"),
    }


def _normalise(text: str) -> str:
    """Casefold, drop markdown emphasis and collapse whitespace (for option-text matching)."""
    text = text.replace("*", "").replace("_", " ").casefold()
    return re.sub(r"\s+", " ", text).strip().rstrip(".").strip()


def _letters_from(matches: list[re.Match[str]]) -> set[str]:
    return {next(g for g in m.groups() if g).upper() for m in matches}


def _unique(found: set[str]) -> tuple[bool, str | None]:
    """(decided, letter): decided when there was any evidence; letter None when contradictory."""
    if not found:
        return False, None
    return True, (next(iter(found)) if len(found) == 1 else None)


def _match_option_text(text: str, options: Sequence[str], letters: str) -> set[str]:
    """Letters whose option text occurs in ``text`` (not only inside a longer matched option)."""
    norm = _normalise(text)
    spans: list[tuple[int, int, int]] = []  # (start, end, option index)
    for i, option in enumerate(options):
        opt = _normalise(option)
        if not opt:
            continue
        for m in re.finditer(rf"(?<!\w){re.escape(opt)}(?!\w)", norm):
            spans.append((m.start(), m.end(), i))
    kept = {
        i
        for s, e, i in spans
        if not any(s2 <= s and e <= e2 and (e2 - s2) > (e - s) for s2, e2, _ in spans)
    }
    return {letters[i] for i in kept}


def parse_choice(
    text: str | None, options: Sequence[str] | None = None, letters: str | None = None
) -> str | None:
    """Parse the chosen letter from a free-text multiple-choice answer.

    Rules, strongest first; the first rule that finds evidence decides, and contradictory
    evidence (two different letters) gives ``None``:

    1. the whole answer is a letter (``"B"``, ``"(b)"``, ``"B."``) or exactly one option's text;
    2. an answer phrase: ``"Answer: B"``, ``"the answer is (C)"``, ``"I choose D"``; a list
       such as ``"B or C"`` is contradictory;
    3. ``"option C"`` / ``"choice C"``;
    4. a leading label: ``"B. text"``, ``"(B) text"``, ``"B) text"``, ``"b: text"``;
    5. a bracketed letter anywhere: ``"... (C) ..."``;
    6. the text of exactly one option (when ``options`` are given), case-insensitive, ignoring
       options that only occur inside a longer matched option;
    7. a bare capital letter used as a label: followed by punctuation, the end, or a word such
       as "is"/"because" (``"C is correct"``) — so the article in "A molecule ..." is not read
       as a choice.

    Args:
        text: the model's answer (``None`` gives ``None``).
        options: the option texts in letter order, if known.
        letters: the valid letters; defaults to the first ``len(options)`` letters of the
            alphabet, or ``"ABCD"``.

    Returns:
        The upper-case letter, or ``None`` when no letter or several letters are indicated.
    """
    if not text or not text.strip():
        return None
    if letters is None:
        letters = "ABCDEFGHIJ"[: len(options)] if options else DEFAULT_LETTERS
    letters = letters.upper()
    pats = _choice_patterns(letters)

    bare = text.strip().strip("*").strip()
    core = bare.strip("()[].:").strip()
    if len(core) == 1 and core.upper() in letters:
        return core.upper()
    if options:
        whole = [letters[i] for i, o in enumerate(options) if _normalise(o) == _normalise(bare)]
        if len(set(whole)) == 1:
            return whole[0]

    answers = list(pats["answer"].finditer(text))
    leading = pats["leading"].match(text)
    if any(pats["list"].match(text, m.end()) for m in [*answers, *([leading] if leading else [])]):
        return None  # "Answer: B or C", "(A) or (C)"
    for found in (
        _letters_from(answers),
        _letters_from(list(pats["option"].finditer(text))),
        _letters_from([leading] if leading else []),
        _letters_from(list(pats["bracketed"].finditer(text))),
        _match_option_text(text, options, letters) if options else set(),
        _letters_from(
            [m for m in pats["loose"].finditer(text) if not _NAME_PREFIX.search(text[: m.start()])]
        ),
    ):
        decided, letter = _unique(found)
        if decided:
            return letter
    return None


_NUMBER = re.compile(
    r"(?<![\w.^])"  # not inside a formula (C6H6), a word or after an exponent
    r"([-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)"  # mantissa, 1,234.5 allowed
    r"((?:[eE][-+]?\d+)?)"  # 1e-3
    r"(?:\s*(?:[x×*·]|\\times|\\cdot)\s*10\s*\^\s*\{?([-+]?\d+)\}?)?"  # 1.5 × 10^-3
    r"(?!\d*(?:,\d+)*'*-[A-Za-z(\[])"  # not an IUPAC locant: 2-methyl, 2,4-dinitro, 2'-
    r"(?![A-Z]-)"  # not 1H-indole
)
_NUMBER_MARKER = re.compile(r"\b(?:answer|prediction|predicted value|estimate)\b", re.IGNORECASE)


def parse_number(text: str | float | int | None) -> float | None:
    """Parse the number a regression answer gives, or ``None`` when it gives none.

    Handles signs written with a Unicode minus (``"−3.2"``), units (``"-3.2 kcal/mol"``),
    hedges (``"about 1e-3"``), ``"1.5 × 10^-3"`` / ``"1.5 × 10⁻³"`` and thousands separators.
    Digits inside formulas (``C6H6``) and IUPAC locants (``2-methyl``) are skipped. When the
    text contains an answer marker ("answer", "prediction", ...), the first number after the
    last marker is taken, else the first number in the text. Numbers pass through; NaN gives
    ``None``.
    """
    if text is None:
        return None
    if isinstance(text, (int, float)):
        value = float(text)
        return None if value != value else value
    text = text.translate(_MINUS)
    text = re.sub(
        r"10([⁻⁺]?[⁰¹²³⁴⁵⁶⁷⁸⁹]+)", lambda m: "10^" + m.group(1).translate(_SUPERSCRIPT), text
    )
    markers = list(_NUMBER_MARKER.finditer(text))
    start = markers[-1].end() if markers else 0
    m = _NUMBER.search(text, start) or (_NUMBER.search(text) if start else None)
    if m is None:
        return None
    value = float(m.group(1).replace(",", "") + m.group(2))
    if m.group(3):
        value *= 10.0 ** int(m.group(3))
    return value


_SMILES_TAGS = (
    re.compile(r"\[START_I_SMILES\](.*?)\[END_I_SMILES\]", re.S),
    re.compile(r"\[START_SMILES\](.*?)\[END_SMILES\]", re.S),
    re.compile(r"<smiles>(.*?)</smiles>", re.S | re.I),
    re.compile(r"```(?:smiles)?\s*(.*?)```", re.S | re.I),
    re.compile(r"`([^`\s]+)`"),
    re.compile(r"\bSMILES(?:\s+string)?\s*(?:is|:|=)?\s*[\"']?(\S+)", re.I),
)
_SMILES_CHARS = re.compile(r"^[A-Za-z0-9@+\-\[\]()\\/%=#$.:*~]+$")
_NOT_SMILES_WORDS = frozenset({"no", "on", "in", "if", "so", "of", "is", "as", "or", "by", "at"})


def _valid_smiles(candidate: str) -> Mol | None:
    candidate = candidate.strip()
    if not candidate or not _SMILES_CHARS.match(candidate):
        return None
    return rdkit_mol(candidate)


def extract_smiles(text: str | None) -> str | None:
    """Extract the SMILES a generated answer proposes, or ``None`` when it holds no valid one.

    Tried in order: tagged spans (``[START_I_SMILES]...``, ``<smiles>``, code fences, backticks,
    ``"SMILES: ..."``), the whole text, then whitespace-separated tokens (surrounding quotes and
    sentence punctuation stripped), of which the valid one with the most atoms wins. Single
    letters and a few English words that happen to parse ("NO", "IN", ...) are not accepted as
    tokens. The string is returned as written; canonicalise it before comparing.
    """
    if not text or not text.strip():
        return None
    for pattern in _SMILES_TAGS:
        for m in pattern.finditer(text):
            candidate = m.group(1).strip().rstrip(".,;")
            if _valid_smiles(candidate) is not None:
                return candidate
    whole = text.strip().rstrip(".,;")
    if _valid_smiles(whole) is not None:
        return whole
    best: tuple[int, str] | None = None
    for token in text.split():
        token = token.strip("\"'").rstrip(".,;:!?\"'")
        if len(token) < 2 or (token.isalpha() and token.lower() in _NOT_SMILES_WORDS):
            continue
        mol = _valid_smiles(token)
        if mol is not None and (best is None or mol.GetNumAtoms() > best[0]):
            best = (mol.GetNumAtoms(), token)
    return best[1] if best else None

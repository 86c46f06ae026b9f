"""Which lines of the fact sheet a question names: the sheet the LLM reads, cut to what is asked.

A 135M LLM pays for every token it reads (the whole sheet is ~330 SmolLM2 tokens, ten times a
short question), and copies a fact more reliably from a few lines than from a page.
:func:`lines_for` matches a question against chemists' words for each line of
:func:`edtformer.facts.sheet.sheet_lines` (``rotatable`` for "nRotB?", ``descriptors`` for
"cLogP", ``groups`` for any functional-group name or alias of the vocabulary, ``composition`` for
element names, ...). The molecule's own SMILES is removed from the question first, so its atoms
never match element words. A question that names no line gets the whole sheet: off-sheet
questions ("melting point?") and unforeseen wordings see every fact, and the LLM decides.

The word lists were written from chemistry vocabulary and checked against the *train* templates
only (a test: every train template of an on-sheet kind selects the line that answers it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from functools import lru_cache

from edtformer.facts.groups import GROUP_RULES
from edtformer.facts.sheet import ELEMENT_NAMES

#: Line name -> regular expressions (case-insensitive, on the question without its SMILES).
LINE_WORDS: dict[str, tuple[str, ...]] = {
    "composition": (
        r"formula",
        r"\bmf\b",
        r"composition",
        r"\batoms?\b",
        r"heavy",
        r"non-?\s?h(ydrogen)?\b",
        r"\bhac\b",
        r"nheavy",
        r"charge",
        r"charged",
        r"\bion(ic)?\b",
        r"cation",
        r"anion",
        r"zwitter",
        r"elements?",
        r"\bhow many [a-z]+ atoms",
    ),
    "mass": (
        r"weigh",
        r"mass",
        r"\bmw\b",
        r"\bm\.w\b",
        r"molar",
        r"g/mol",
        r"dalton",
        r"\bda\b",
        r"monoisotopic",
        r"\bexact\b",
        r"how heavy",
    ),
    "rings": (
        r"\brings?\b",
        r"cycl",
        r"aromatic",
        r"aliphatic",
        r"fused",
        r"ring ?systems?",
        r"macro",
        r"ring size",
        r"membered",
    ),
    "rotatable": (r"rotatable", r"rot\s?b", r"rotor", r"torsion", r"flexib", r"rotat"),
    "hbond": (
        r"donor",
        r"acceptor",
        r"\bhbd\b",
        r"\bhba\b",
        r"h[- ]?bond",
        r"hydrogen[- ]?bond",
        r"\bnhoh\b",
    ),
    "stereo": (
        r"stereo",
        r"chiral",
        r"chirality",
        r"asymmetric",
        r"\br/s\b",
        r"\bcip\b",
        r"configuration",
        r"enantiomer",
        r"optical",
        r"\b[rs]\b or \b[rs]\b",
        r"\(r\)|\(s\)",
        r"handed",
        r"meso",
        r"racem",
        r"epimer",
        r"ster\w*cent",
        r"chir|chri",
        r"mirror",
        r"superimpos",
    ),
    "double_bonds": (
        r"\be/z\b",
        r"\bz/e\b",
        r"\bcis\b",
        r"\btrans\b",
        r"double bond",
        r"geometr",
        r"\be\b or \bz\b",
        r"\bz\b or \be\b",
        r"isomer",
    ),
    "descriptors": (
        r"log\s?p",
        r"lipophil",
        r"partition",
        r"octanol",
        r"hydrophob",
        r"\bmr\b",
        r"refract",
        r"tpsa",
        r"\bpsa\b",
        r"polar surface",
        r"surface area",
        r"sp3",
        r"sp\^3",
        r"saturat",
        r"crippen",
    ),
    "rules": (
        r"lipinski",
        r"rule of (five|5)",
        r"rule-of-(five|5)",
        r"\bro5\b",
        r"drug[- ]?like",
        r"veber",
        r"bioavailab",
        r"violat",
    ),
    "fragments": (
        r"fragm",
        r"salt",
        r"counter-?ion",
        r"components?",
        r"mixture",
        r"disconnected",
        r"\bparts?\b",
        r"largest",
        r"parent",
        r"desalt",
        r"pieces?",
        r"separate",
    ),
    "groups": (
        r"functional",
        r"\bgroups?\b",
        r"moiet",
        r"substructure",
        r"\bclass\b",
        r"scaffold",
        r"features?\b",
    ),
    "bbb": (r"blood[- ]brain", r"\bbbb\b", r"\bbrain\b", r"\bcns\b", r"barrier"),
    "same": (r"\bsame\b", r"identical", r"stereoisomer"),
}

#: Line name -> words a misspelling of which still names the line (``rigns``, ``chrial``):
#: a question word of 5+ letters within difflib ratio :data:`FUZZY_RATIO` of one of them.
FUZZY_WORDS: dict[str, tuple[str, ...]] = {
    "composition": ("formula", "atoms", "heavy", "charge", "elements", "composition"),
    "mass": ("weight", "monoisotopic"),
    "rings": ("rings", "aromatic", "aliphatic", "cyclic", "macrocycle", "nrings", "naromrings"),
    "rotatable": ("rotatable",),
    "hbond": ("donors", "acceptors", "hydrogen-bond"),
    "stereo": ("stereocentres", "stereocenters", "chiral", "chirality", "configuration",
               "enantiomers", "stereogenic"),
    "double_bonds": ("isomerism", "geometry"),
    "descriptors": ("logp", "clogp", "lipophilicity", "refractivity", "polar", "surface",
                    "hybridised", "hybridized"),
    "rules": ("lipinski", "veber", "violations", "druglikeness"),
    "fragments": ("fragments", "components", "counterion"),
    "groups": ("functional", "groups", "moieties"),
    "bbb": ("barrier",),
}  # fmt: skip

#: Smallest difflib ratio at which a question word counts as a misspelt :data:`FUZZY_WORDS` word
#: ("molecule" / "molecular" is 0.82, so such near-homonyms are left out of the lists).
FUZZY_RATIO = 0.8

_SMILES_CHARS = set("()[]=#@/\\0123456789")


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    """One compiled alternation per line, with the vocabulary's group names / aliases and the
    element names added."""
    words = {k: list(v) for k, v in LINE_WORDS.items()}
    for rule in GROUP_RULES:
        for name in (rule.name, *rule.aliases):
            if len(name) >= 4 and name.isascii():
                words["groups"].append(r"\b" + re.escape(name.lower()))
    for name in ELEMENT_NAMES.values():
        words["composition"].append(r"\b" + re.escape(name.lower()))
    words["composition"] += [
        r"\b(cl|br|na|si|se|li|mg|ca|zn|fe)\b",
        r"\b[chnopsfbik]\b(?= ?atoms?)",
    ]
    return {k: re.compile("|".join(v), re.IGNORECASE) for k, v in words.items()}


def strip_smiles(question: str, smiles: Iterable[str] = ()) -> str:
    """``question`` without the given SMILES and without words that look like SMILES (brackets,
    ring digits, bond symbols), so a molecule's atoms never read as words."""
    for s in sorted(smiles, key=len, reverse=True):
        if s:
            question = question.replace(s, " ")
    kept = [
        w for w in question.split()
        if not (len(w) >= 6 and sum(c in _SMILES_CHARS for c in w) >= 0.25 * len(w))
    ]  # fmt: skip
    return " ".join(kept)


def lines_for(question: str, smiles: Iterable[str] = ()) -> set[str] | None:
    """The sheet lines ``question`` names (names of :data:`LINE_WORDS`), or ``None`` when it
    names none (then the whole sheet is written)."""
    text = strip_smiles(question, smiles)
    found = {k for k, pat in _patterns().items() if pat.search(text)}
    for word in re.findall(r"[a-z][a-z0-9-]{4,}", text.lower()):
        for line, words in FUZZY_WORDS.items():
            if line not in found and any(_close(word, w) for w in words):
                found.add(line)
    return found or None


@lru_cache(maxsize=65536)
def _close(word: str, target: str) -> bool:
    return SequenceMatcher(None, word, target).ratio() >= FUZZY_RATIO


#: Element symbols a chemist writes in a question ("Cl atoms", "number of N"), matched
#: case-sensitively; one-letter symbols only before "atom(s)" or as "nX" shorthand ("nN?").
_TWO_LETTER = r"\b(Cl|Br|Na|Si|Se|Li|Mg|Ca|Zn|Fe|Cu|Al|As|Sn|Pt|Hg|Co|Gd|Bi|Ag|Au|Ti|Mn|Ni|Cr|Te|Ge|Sb|Ba|Sr|Cs|Rb|Be|Pd)\b"
_ONE_LETTER = r"\b([CHNOSPFBIK])\b(?=\s*(?:-?\s*)atoms?\b)|\bn([CHNOSPFBIK])\b(?=\s*\?|\s*$)"


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
            if len(name) >= 4 and name.isascii() and not any(c in name for c in "=#/"):
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
            if not any(a <= m.start() and m.end() <= b for a, b in taken):
                taken.append((m.start(), m.end()))
                hits.append((m.start(), f"group:{name}"))
    for pat, sym in elements:
        hits += [(m.start(), f"element:{sym}") for m in pat.finditer(text)]
    for m in re.finditer(_TWO_LETTER, text):
        hits.append((m.start(), f"element:{m.group(1)}"))
    for m in re.finditer(_ONE_LETTER, text):
        hits.append((m.start(), f"element:{m.group(1) or m.group(2)}"))
    out: list[str] = []
    for _, key in sorted(hits):
        if key not in out:
            out.append(key)
    return out

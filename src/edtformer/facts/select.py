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
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

from edtformer.facts.groups import GROUP_RULES
from edtformer.facts.sheet import ELEMENT_NAMES, LINE_NAMES, element_name

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
        r"neutral",
        r"\bion(ic)?\b",
        r"cation",
        r"anion",
        r"zwitter",
        r"elements?",
        r"\bhow many [a-z]+ atoms",
        r"\bchg\b",
        r"\bnet\b",
        r"formal",
        r"empirical",
        r"nheavyatom",
        r"heavyatomcount",
        r"\bnatoms?\b",
        r"hetero-?\s?atoms?",
        r"triple bonds?",
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
        r"molwt",
        r"\bmol\.? ?wt\b",
        r"\bamu\b",
        r"\bm/z\b",
        r"isotop",
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
        r"\bsssr\b",
        r"ringcount",
        r"\bn(arom|aliph)?rings?\b",
        r"\barom\b",
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
        r"hbd|hba",
        r"h-?don",
        r"h-?acc",
        r"numh(donors|acceptors)",
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
        r"cahn|prelog|ingold",
        r"\bnchiral",
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
        r"hydrophil",
        r"\bmr\b",
        r"refract",
        r"tpsa",
        r"\bpsa\b",
        r"polar surface",
        r"surface area",
        r"sp3",
        r"sp\^3",
        r"fraction (of )?saturat",
        r"(?<!un)saturation",
        r"crippen",
        r"\bcmr\b",
        r"\bsmr\b",
        r"molmr",
        r"csp3",
        r"hybridi",
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
        r"\bfrags?\b",
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
        r"(kind|type|sort) of (molecule|compound|substance|chemical)",
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
        if not (len(w) >= 6 and sum(c in _SMILES_CHARS for c in w) >= 0.25 * len(w))
    ]  # fmt: skip
    return " ".join(kept)


#: Words that ask for the whole sheet: "Describe this molecule", "What are its properties?".
WHOLE_SHEET_WORDS = re.compile(
    r"\bdescri(be|ption)|summar|overview|tell me about|properties|\bprofile\b|characteri[sz]e"
    r"|fact sheet|\ball (the )?facts|what do you know|what can you tell|everything",
    re.IGNORECASE,
)


def lines_for(question: str, smiles: Iterable[str] = ()) -> set[str] | None:
    """The sheet lines ``question`` names (names of :data:`LINE_WORDS`; every line for a
    question asking for the whole sheet, :data:`WHOLE_SHEET_WORDS`), or ``None`` when it names
    none (then the whole sheet is written, and a model with ``decline_unnamed`` declines)."""
    text = strip_smiles(question, smiles)
    if WHOLE_SHEET_WORDS.search(text):
        return set(LINE_NAMES)
    found = {k for k, pat in _patterns().items() if pat.search(text)}
    for word in re.findall(r"[a-z][a-z0-9-]{4,}", text.lower()):
        for line, words in FUZZY_WORDS.items():
            if line not in found and any(_close(word, w) for w in words):
                found.add(line)
    return found or None


#: Sheet item (:func:`edtformer.facts.sheet.sheet_items` key) -> regular expressions of the
#: words that name it (case-insensitive, on the question without its SMILES). Within a line the
#: question names, :func:`items_for` keeps the items named here; a line none of whose items is
#: named is written whole. Lines of one item (rotatable bonds), the fragments line (its largest
#: fragment is read together with the count) and the groups line (asked groups are written out
#: by :func:`asked_facts`) are always whole.
ITEM_WORDS: dict[str, tuple[str, ...]] = {
    "formula": (r"formula", r"composition", r"\bmf\b", r"empirical", r"brutto", r"hill"),
    "atoms": (r"\belements?\b", r"per element", r"each element", r"atom counts",
              r"atoms of each", r"element counts"),
    "heavy_atoms": (r"heavy[- ]?atoms?", r"heavy(?! is)(?! are)", r"non-?\s?h(ydrogen)?\b", r"\bhac\b", r"nheavy",
                    r"heavyatomcount", r"other than hydrogen", r"excluding hydrogen",
                    r"not counting hydrogen"),
    "formal_charge": (r"charge", r"\bchg\b", r"neutral", r"ionic", r"\bions?\b", r"cation", r"anion",
                      r"zwitter", r"\bnet\b", r"formal"),
    "mol_weight": (r"average", r"molecular weight", r"\bmw\b", r"\bm\.w\b", r"molar mass",
                   r"g/mol", r"formula weight", r"\bweigh", r"molwt", r"\bmol\.? ?wt\b",
                   r"per mole", r"\bmolar mass", r"molecular mass", r"relative mass",
                   r"how heavy"),
    "exact_mass": (r"monoiso", r"\bexact\b", r"isotop", r"most abundant", r"\bm/z\b",
                   r"high[- ]?res", r"\bhrms\b", r"accurate mass"),
    "aromatic_rings": (r"(?<!non-)(?<!non )(?<!non)(?<!\()\barom", r"benzenoid"),
    "aliphatic_rings": (r"aliph", r"non-?\s?aromatic", r"saturated rings?", r"naliph",
                        r"not aromatic"),
    "ring_systems": (r"ring[- ]?sy?s?te?ms?\b", r"fused", r"spiro", r"as (a single|one) unit", r"how many units", r"ring assembl",
                     r"ring blocks?"),
    "largest_ring": (r"largest", r"biggest", r"ring size", r"size of the", r"membered",
                     r"how (big|large)", r"max(imum)? ring", r"ring with the most"),
    "macrocycle": (r"macro", r"\b1[23]\b", r"twelve", r"thirteen"),
    "rings": (r"\bsssr\b", r"ringcount", r"\bnrings?\b", r"how many rings", r"number of rings",
              r"rings? count", r"count (the )?rings", r"rings in total", r"total rings",
              r"\bcycles\b"),
    "hbd": (r"donor", r"hbd", r"h-?don", r"numhdonors", r"\bnhoh\b"),
    "hba": (r"acceptor", r"hba", r"h-?acc", r"numhacceptors"),
    "stereocentres": (r"defined or not", r"specified or not", r"assigned or not",
                      r"or (un|not )(defined|specified|assigned)",
                      r"and (un|not )(defined|specified|assigned)", r"in total", r"\btotal\b",
                      r"whether or not", r"\bnchiral"),
    "specified_stereocentres": (r"(?<!un)(?<!not )specified", r"(?<!un)(?<!not )defined",
                                r"(?<!un)(?<!not )assigned", r"explicit", r"\bgiven\b",
                                r"\bcarry\b", r"labell?ed", r"\bhave an? (r or s|r/s|cip) label",
                                r"(?<!un)specifi?e?d\b", r"(?<!not )\bis (set|given|known)\b"),
    "unspecified_stereocentres": (r"unspecified", r"undefined", r"unassigned",
                                  r"not (specified|defined|assigned|given)", r"missing",
                                  r"\black", r"ambiguous", r"left open", r"no configuration",
                                  r"(no|without) (an? )?(r or s |r/s |cip )?labels?",
                                  r"\bno (r/s|r or s|cip|configuration|stereo)\b",
                                  r"unspecifi?e?d\b"),
    "cip": (r"\bcip\b", r"cahn", r"prelog", r"ingold", r"\br/s\b", r"\b[rs] or [rs]\b",
            r"absolute", r"descriptors?", r"\blabels?\b", r"\(r\)|\(s\)", r"configuration"),
    "chiral": (r"ch(ir|ri)al(?!\w*\s*(cent|atom|carbon))", r"chirality", r"optical", r"enantiomer",
               r"mirror", r"superimpos", r"handed", r"\bmeso\b", r"racem"),
    "stereo_double_bonds": (r"could be", r"can be", r"capable", r"potential", r"possible",
                            r"stereogenic double", r"in total", r"\btotal\b", r"or not\b",
                            r"(and|or) (un|not )(defined|specified|assigned)"),
    "specified_stereo_double_bonds": (r"(?<!un)(?<!not )specifi?e?d\b",
                                      r"(?<!un)(?<!not )defined", r"(?<!un)(?<!not )assigned",
                                      r"explicit", r"\bgiven\b", r"\bcarry\b",
                                      r"(?<!not )\bis (set|given|known)\b"),
    "ez": (r"\blabels?\b", r"descriptors?", r"\bcis\b", r"\btrans\b", r"\b[ez] or [ez]\b",
           r"geometry", r"configuration"),
    "logp": (r"log\s?p", r"lipophil", r"partition", r"octanol", r"hydrophob", r"hydrophil",
             r"slogp"),
    "mr": (r"\bmr\b", r"refract", r"\bcmr\b", r"\bsmr\b", r"molmr"),
    "tpsa": (r"tpsa", r"\bpsa\b", r"polar surface", r"surface area"),
    "fsp3": (r"sp3", r"sp\^3", r"fraction (of )?saturat", r"(?<!un)saturation", r"csp3",
             r"hybridi"),
    "lipinski": (r"lipinski", r"rule of (five|5)", r"rule-of-(five|5)", r"\bro5\b",
                 r"drug[- ]?lik"),
    "lipinski_violations": (r"violat", r"\bbreak", r"breach", r"exceed", r"how many",
                            r"number of", r"\bcount", r"\btally", r"\bfail"),
    "veber": (r"veber", r"bioavailab"),
}  # fmt: skip

#: Items that, once named, make the weaker words of others in their line not count:
#: "how many stereocentres, defined or not" asks the total, not the specified ones;
#: "whose configuration is missing" asks the unspecified ones, not the CIP labels.
_ITEM_OVERRIDES: dict[str, tuple[str, ...]] = {
    "stereocentres": ("specified_stereocentres", "unspecified_stereocentres"),
    "unspecified_stereocentres": ("specified_stereocentres", "cip"),
    "stereo_double_bonds": ("specified_stereo_double_bonds",),
    "specified_stereo_double_bonds": ("ez",),
}

#: Lines narrowed to their named items (the others are always written whole).
NARROWED_LINES: dict[str, tuple[str, ...]] = {
    "composition": ("formula", "atoms", "heavy_atoms", "formal_charge"),
    "mass": ("mol_weight", "exact_mass"),
    "rings": ("rings", "aromatic_rings", "aliphatic_rings", "ring_systems", "largest_ring",
              "macrocycle"),
    "hbond": ("hbd", "hba"),
    "stereo": ("stereocentres", "specified_stereocentres", "unspecified_stereocentres", "cip",
               "chiral"),
    "double_bonds": ("stereo_double_bonds", "specified_stereo_double_bonds", "ez"),
    "descriptors": ("logp", "mr", "tpsa", "fsp3"),
    "rules": ("lipinski", "lipinski_violations", "veber"),
}  # fmt: skip

#: Items whose line-mates are written with them: the CIP labels with the stereocentre counts
#: (a 135M LLM lists "R,R,R" whole only when it reads how many centres there are); a count of
#: rule-of-five violations with its verdict.
_ITEM_WITH: dict[str, tuple[str, ...]] = {
    "cip": ("stereocentres", "specified_stereocentres", "unspecified_stereocentres"),
    "lipinski_violations": ("lipinski",),
}


#: Words that make a line "named" though it is written whole (it has one item, or its items
#: are read together): a question naming none of a line's items or these drops that line when it
#: names items of another line ("How many hydrogen-bond donating groups?" reads the donors
#: only, not the group list its word "groups" selected).
LINE_NAMED: dict[str, tuple[str, ...]] = {
    "rotatable": (r".",),
    "bbb": (r".",),
    "same": (r".",),
    "fragments": (r"fragm", r"\bfrags?\b", r"salt", r"counter-?ion", r"components?", r"mixture",
                  r"disconnected", r"pieces?", r"desalt", r"\bparts\b", r"parent"),
    "groups": (r"functional", r"moiet", r"substructure", r"\bclass\b", r"scaffold",
               r"(kind|type|sort) of (molecule|compound|substance|chemical)",
               r"(?<!donating )(?<!accepting )(?<!donor )(?<!acceptor )\bgroups?\b"),
}  # fmt: skip

_DOUBLE_BOND = re.compile(
    r"double bonds?|\be/z\b|\bz/e\b|\bcis\b|\btrans\b|geometr|isomerism", re.I
)
_CENTRE = re.compile(
    r"ster\w*cent|stereogenic (cent|atom|carbon)|chiral|\bcip\b|\br/s\b|\b[rs] or [rs]\b"
    r"|tetrahedral|cahn|prelog|enantiomer|mirror",
    re.I,
)
_CIP_STRONG = re.compile(
    "|".join(w for w in ITEM_WORDS["cip"] if w not in (r"configuration", r"\blabels?\b")), re.I
)
_COUNT = re.compile(r"how many|number of|\bcount|\btally|\bn\b|\bn[a-z]{3,}", re.I)
_COUNTED_CENTRE = re.compile(
    r"ster\w*cent|stereogenic (cent|atom|carbon)|chiral (cent|atom|carbon)|asymmetric", re.I
)
_H_NOT_ELEMENT = re.compile(
    r"hydrogen[- ]?bond|h[- ]bond|heavy|ignoring hydrogens?|excluding hydrogens?|"
    r"not counting hydrogens?|other than hydrogen|non-?\s?h(ydrogen)?\b|without hydrogens?",
    re.I,
)


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
    if _H_NOT_ELEMENT.search(text):
        asked = [a for a in asked if a != "element:H"]
    if lines is None:
        return SheetRequest(None, tuple(asked), frozenset())
    if set(LINE_NAMES) <= lines:  # the whole sheet asked for ("Describe this molecule")
        return SheetRequest(frozenset(lines), tuple(asked), frozenset())
    lines = set(lines)
    if (
        {"stereo", "double_bonds"} <= lines
        and _DOUBLE_BOND.search(text)
        and not _CENTRE.search(text)
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
    if items & set(NARROWED_LINES["rings"]) and _COUNT.search(text):
        asked = [a for a in asked if a != "group:aromatic ring"]
    if _COUNT.search(text):  # "Chlorine count?" asks the atoms, not the group "chlorine"
        counted = {f"group:{element_name(a[8:])}" for a in asked if a.startswith("element:")}
        asked = [a for a in asked if a not in counted]
    named |= {"groups" if a.startswith("group:") else "composition" for a in asked}
    if named:
        lines &= named
    return SheetRequest(frozenset(lines), tuple(asked), frozenset(items))


#: Items whose value is text (a JSON answer holding one is a string): the formula, the CIP and
#: E/Z labels ("S,R").
_TEXT_ITEMS = frozenset({"formula", "cip", "ez"})
#: Companions written with a text item (:data:`_ITEM_WITH`), not asked themselves.
_COMPANIONS = frozenset(k for v in _ITEM_WITH.values() for k in v)


def value_type(request: SheetRequest, question: str, smiles: Iterable[str] = ()) -> str | None:
    """What kind of value answers ``question`` when its request names one fact whose value is
    not a number or a yes/no: ``"list"`` for the functional-group list ("Which groups does it
    have?"), ``"text"`` for the formula, CIP or E/Z labels; ``None`` otherwise (numbers,
    verdicts, several facts, or a count: "How many stereocentres?"). A JSON answer is begun
    with that value's opening (:func:`edtformer.llm.formats.answer_prefix`)."""
    if request.lines is None or request.asked:
        return None
    text = strip_smiles(question, smiles)
    if request.items == {"groups"} and request.lines == {"groups"}:
        return "list"
    named = set(request.items) - {"groups"}
    if "cip" in named:
        named -= _COMPANIONS
    if "formula" in named:
        named.discard("atoms")  # "formula (element counts)": the formula is how counts are written
    if named == {"formula"}:  # "formula (element counts)" asks the formula, counts and all
        return "text"
    if len(named) == 1 and named <= _TEXT_ITEMS and not _COUNT.search(text):
        return "text"
    return None


def _line_items(line: str, text: str, pats: dict[str, re.Pattern[str]]) -> set[str]:
    """The items of ``line`` the question ``text`` names (see :func:`narrow`)."""
    hits = {k for k in NARROWED_LINES[line] if pats[k].search(text)}
    hits -= {o for k in hits for o in _ITEM_OVERRIDES.get(k, ()) if o != k}
    if {"cip", "specified_stereocentres"} <= hits and not _CIP_STRONG.search(text):
        hits.discard("cip")  # "how many carry an explicit configuration" counts, lists nothing
    if line == "stereo" and not hits - {"chiral"} and _COUNTED_CENTRE.search(text):
        hits.add("stereocentres")  # "How many stereocentres?" names the count itself
    if line == "rings":
        specific = hits - {"rings"}
        if specific and not re.search(r"\btotal\b|\bsssr\b|altogether|\bin all\b", text, re.I):
            hits.discard("rings")
        elif not hits and re.search(r"\brings?\b", text, re.I):
            hits.add("rings")
    for k in list(hits):
        hits |= set(_ITEM_WITH.get(k, ()))
    return hits


def items_for(question: str, smiles: Iterable[str] = ()) -> set[str]:
    """The single sheet items ``question`` names (:func:`narrow`'s ``items``)."""
    return set(narrow(question, smiles).items)


@lru_cache(maxsize=65536)
def _close(word: str, target: str) -> bool:
    return SequenceMatcher(None, word, target).ratio() >= FUZZY_RATIO


#: Element symbols a chemist writes in a question ("Cl atoms", "number of N"), matched
#: case-sensitively; one-letter symbols only before "atom(s)" or as "nX" shorthand ("nN?").
_TWO_LETTER = r"\b(Cl|Br|Na|Si|Se|Li|Mg|Ca|Zn|Fe|Cu|Al|As|Sn|Pt|Hg|Co|Gd|Bi|Ag|Au|Ti|Mn|Ni|Cr|Te|Ge|Sb|Ba|Sr|Cs|Rb|Be|Pd)\b"
_ONE_LETTER = r"\b([CHNOSPFBIK])\b(?=\s*(?:-?\s*)atoms?\b)|\bn([CHNOSPFBIK])\b(?=\s*\?|\s*$)"


#: Counts the sheet writes only when asked (:data:`edtformer.facts.sheet.ASKED_COUNTS`).
_COUNT_WORDS: dict[str, re.Pattern[str]] = {
    "double_bonds": re.compile(r"\bdouble bonds?\b|\bc=c bonds\b", re.I),
    "triple_bonds": re.compile(r"\btriple bonds?\b", re.I),
    "heteroatoms": re.compile(r"\bhetero-?\s?atoms?\b", re.I),
}
#: Words that make "double bond" a question about E/Z, not a count of double bonds.
_STEREO_BOND = re.compile(
    r"stereo|ster\w{0,3}o\b|\be/z\b|\bz/e\b|\bcis\b|\btrans\b|geometr|specified|defined|assigned|isomer|"
    r"\b[ez] or [ez]\b|configuration|label",
    re.I,
)


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
    for key, pat in _COUNT_WORDS.items():
        found = pat.search(text)
        if found is not None and not (key == "double_bonds" and _STEREO_BOND.search(text)):
            hits.append((found.start(), f"count:{key}"))
    for m in re.finditer(_TWO_LETTER, text):
        hits.append((m.start(), f"element:{m.group(1)}"))
    for m in re.finditer(_ONE_LETTER, text):
        hits.append((m.start(), f"element:{m.group(1) or m.group(2)}"))
    out: list[str] = []
    for _, key in sorted(hits):
        if key not in out:
            out.append(key)
    return out

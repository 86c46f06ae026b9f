"""Questions about a molecule's fact sheet, answered exactly as the sheet writes the fact.

Two template files ship with the package: ``templates/train.json`` (the only wordings the LLM is
trained on) and ``templates/heldout.json`` (the only wordings it is evaluated on). Both hold, per
fact kind, hand-written question templates, plus format requests ("Answer with just the number."),
multiple-choice layouts, two-fact templates, group-choice questions and off-sheet questions (melting
point, dose, price, ... that no structure can answer, answered with :data:`DECLINE`).

:func:`generate` draws one :class:`QAItem` for a molecule from its ``sheet_values`` dict.
Every draw is a function of the ``rng`` state only; nothing raises for a valid sheet (salts, no
carbon, no ring, no stereo).

Answer formats that are not a single sheet value:

* ``cip``: the labels of the specified centres in atom order, ","-joined as the sheet writes
  them ("R" or "R,S,S"); none gives "none".
* ``groups``: the sheet's group names ", "-joined, "none" when empty.
* ``two_facts``: "<name a> <value a>, <name b> <value b>" with the names of :data:`FACT_NAMES`
  ("rings 2, rotatable bonds 3").
* JSON: ``json.dumps({key: value})`` with the JSON-native value (the ``groups`` list as a list).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from edtformer.facts.sheet import ELEMENT_NAMES, element_name

__all__ = [
    "DECLINE",
    "ELEMENT_NAMES",
    "FACT_NAMES",
    "KIND_TYPES",
    "QAItem",
    "fact_kinds",
    "format_answer",
    "generate",
    "load_templates",
]

#: The answer to every off-sheet question.
DECLINE = (
    "I can't tell that from the structure alone; I can give its formula, atom and ring counts, "
    "groups, stereochemistry and computed estimates."
)

TEMPLATE_DIR = Path(__file__).with_name("templates")
SPLITS = ("train", "heldout")
LETTERS = "ABCD"

#: Each fact kind and its answer type ("int" | "float" | "bool" | "text").
KIND_TYPES: dict[str, str] = {
    "formula": "text",
    "element_count": "int",
    "heavy_atoms": "int",
    "formal_charge": "int",
    "mol_weight": "float",
    "exact_mass": "float",
    "rings": "int",
    "aromatic_rings": "int",
    "aliphatic_rings": "int",
    "ring_systems": "int",
    "largest_ring": "int",
    "macrocycle": "bool",
    "rotatable_bonds": "int",
    "hbd": "int",
    "hba": "int",
    "stereocentres": "int",
    "specified_stereocentres": "int",
    "unspecified_stereocentres": "int",
    "chiral": "bool",
    "stereo_double_bonds": "int",
    "specified_stereo_double_bonds": "int",
    "cip": "text",
    "logp": "float",
    "mr": "float",
    "tpsa": "float",
    "fsp3": "float",
    "lipinski": "bool",
    "lipinski_violations": "int",
    "veber": "bool",
    "fragments": "int",
    "largest_fragment": "text",
    "has_group": "bool",
    "groups": "text",
}

#: Short names of the numeric facts a two-fact question may ask (also the two-fact answer's names).
FACT_NAMES: dict[str, str] = {
    "heavy_atoms": "heavy atoms",
    "formal_charge": "formal charge",
    "mol_weight": "molecular weight",
    "exact_mass": "exact mass",
    "rings": "rings",
    "aromatic_rings": "aromatic rings",
    "aliphatic_rings": "aliphatic rings",
    "ring_systems": "ring systems",
    "largest_ring": "largest ring size",
    "rotatable_bonds": "rotatable bonds",
    "hbd": "H-bond donors",
    "hba": "H-bond acceptors",
    "stereocentres": "stereocentres",
    "specified_stereocentres": "specified stereocentres",
    "stereo_double_bonds": "stereo double bonds",
    "logp": "logP",
    "mr": "molar refractivity",
    "tpsa": "TPSA",
    "fsp3": "Fsp3",
    "lipinski_violations": "Lipinski violations",
    "fragments": "fragments",
}


#: Elements an element-count question may ask about when the molecule has none of them.
ABSENT_ELEMENTS = ("Cl", "Br", "F", "I", "S", "P", "N", "O", "Si", "B", "Na", "C", "Se")

#: Group names used when ``edtformer.facts.groups`` is not importable.
FALLBACK_GROUPS = (
    "carboxylic acid", "ester", "amide", "amine", "hydroxyl", "carbonyl", "ketone", "aldehyde",
    "ether", "nitrile", "nitro", "halogen", "thiol", "sulfonamide", "benzene ring",
    "pyridine ring", "phenol", "alkene", "alkyne", "steroid core",
)  # fmt: skip

#: Probabilities of the forms when ``form`` is None (the rest is "plain"). Lettered questions
#: are few: the model answers them by cloze-scoring the options' texts as answers to the plain
#: question (:mod:`edtformer.llm.options`), so plain answers are what it must learn.
FORM_RATES = {"json": 0.20, "mc": 0.05, "two_facts": 0.07}
#: How often a plain question carries a format request of its type.
FORMAT_REQUEST_RATE = 0.4
#: How often an off-sheet question carries a (number or text) format request.
OFF_SHEET_REQUEST_RATE = 0.25
#: How often an element-count question asks about an element the molecule has.
PRESENT_ELEMENT_RATE = 0.75

MOL_PHRASES = ("this molecule", "the molecule", "the compound", "this compound", "this structure")
SMILES_PHRASES = (
    "{s}", "{s}", "the molecule {s}", "SMILES {s}", "the compound {s}", "{s} (SMILES)",
    "the structure {s}",
)  # fmt: skip

JSON_KEYS: dict[str, tuple[str, ...]] = {
    "formula": ("formula", "molecular_formula", "mf"),
    "element_count": ("count", "n_atoms", "atom_count"),
    "heavy_atoms": ("heavy_atoms", "n_heavy_atoms", "heavy_atom_count", "count"),
    "formal_charge": ("charge", "formal_charge", "net_charge"),
    "mol_weight": ("mw", "molecular_weight", "mol_weight", "weight"),
    "exact_mass": ("exact_mass", "monoisotopic_mass", "mass"),
    "rings": ("rings", "n_rings", "ring_count", "count"),
    "aromatic_rings": ("aromatic_rings", "n_aromatic_rings", "aromatic_ring_count", "count"),
    "aliphatic_rings": ("aliphatic_rings", "n_aliphatic_rings", "aliphatic_ring_count"),
    "ring_systems": ("ring_systems", "n_ring_systems", "ring_system_count"),
    "largest_ring": ("largest_ring", "largest_ring_size", "max_ring_size", "size"),
    "macrocycle": ("macrocycle", "is_macrocycle", "has_macrocycle"),
    "rotatable_bonds": ("rotatable_bonds", "n_rot_bonds", "nRotB", "rotb"),
    "hbd": ("hbd", "h_bond_donors", "donors", "n_hbd"),
    "hba": ("hba", "h_bond_acceptors", "acceptors", "n_hba"),
    "stereocentres": ("stereocentres", "stereocenters", "n_stereocentres", "count"),
    "specified_stereocentres": ("specified_stereocentres", "defined_stereocenters", "count"),
    "unspecified_stereocentres": ("unspecified_stereocentres", "undefined_stereocenters"),
    "chiral": ("chiral", "is_chiral"),
    "stereo_double_bonds": ("stereo_double_bonds", "n_stereo_double_bonds", "count"),
    "specified_stereo_double_bonds": ("specified_stereo_double_bonds", "defined_ez_bonds"),
    "cip": ("cip", "configuration", "cip_labels", "stereo"),
    "logp": ("logp", "clogp", "logP", "alogp"),
    "mr": ("mr", "molar_refractivity", "cmr"),
    "tpsa": ("tpsa", "psa", "polar_surface_area"),
    "fsp3": ("fsp3", "fraction_sp3", "frac_csp3"),
    "lipinski": ("lipinski", "passes_lipinski", "ro5", "rule_of_five"),
    "lipinski_violations": ("lipinski_violations", "ro5_violations", "violations"),
    "veber": ("veber", "passes_veber", "veber_ok"),
    "fragments": ("fragments", "n_fragments", "components"),
    "largest_fragment": ("largest_fragment", "parent", "main_component", "smiles"),
    "has_group": ("present", "has_group", "contains"),
    "groups": ("groups", "functional_groups", "features"),
}
GENERIC_JSON_KEYS = ("answer", "value", "result")

BOOL_EXTRA_OPTIONS = (
    "cannot be determined", "only in water", "only as a salt", "depends on the solvent",
    "only at low pH", "only when heated",
)  # fmt: skip

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_ALIAS_OK = re.compile(r"[a-z][a-z ,\-]*[a-z]")
#: Aliases that name something else in a question (an ion, a slang word).
_ALIAS_SKIP = frozenset({
    "cyanide", "fluoride", "chloride", "bromide", "iodide", "quat", "aromatic", "heterocyclic",
    "carboxy", "phospho", "peroxy", "cooh",
})  # fmt: skip
#: How often a group question names the group by one of its aliases.
GROUP_ALIAS_RATE = 0.15


@dataclass(frozen=True)
class QAItem:
    """One question about one molecule and its target answer."""

    kind: str  # a fact kind, "mc", "two_facts" or "off_sheet"
    field: str  # sheet key asked ("rings", "atoms:Cl", "groups:pyridine ring", "" off-sheet)
    question: str  # plain text (no "<mol>" marker; the caller adds it)
    answer: str  # the target text
    answer_type: str  # "int" | "float" | "bool" | "text" | "json" | "letter" | "decline"
    gold: Any  # the value; for json {key: value}; for letter the letter; for decline None
    meta: dict  # template index, split, layout, json key, options, off-sheet kind ...


def fact_kinds() -> list[str]:
    """Every fact kind, in a fixed order."""
    return list(KIND_TYPES)


# --------------------------------------------------------------------------- templates


def _fields(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def _check_list(where: str, items: Any, need: set[str], allowed: set[str], minimum: int) -> None:
    if not isinstance(items, list) or len(items) < minimum:
        raise ValueError(f"templates: {where} must be a list of at least {minimum} strings")
    for i, text in enumerate(items):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"templates: {where}[{i}] is not a non-empty string")
        found = _fields(text)
        if not need <= found or not found <= allowed:
            raise ValueError(
                f"templates: {where}[{i}] {text!r} has placeholders {sorted(found)}; "
                f"needs {sorted(need)}, allows {sorted(allowed)}"
            )
        if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
            raise ValueError(f"templates: {where}[{i}] {text!r} has a stray brace")


def _validate(data: Any, split: str) -> None:
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError(f"templates: {split}.json must be an object with version 1")
    kinds = data.get("kinds")
    if not isinstance(kinds, dict):
        raise ValueError(f"templates: {split}.json has no 'kinds' object")
    missing = [k for k in KIND_TYPES if k not in kinds]
    if missing:
        raise ValueError(f"templates: {split}.json lacks kinds {missing}")
    for kind, items in kinds.items():
        if kind not in KIND_TYPES:
            raise ValueError(f"templates: {split}.json has an unknown kind {kind!r}")
        need = {"mol"} | ({"element"} if kind == "element_count" else set())
        need |= {"group"} if kind == "has_group" else set()
        _check_list(f"kinds.{kind}", items, need, need, 1)
    requests = data.get("format_requests")
    if not isinstance(requests, dict):
        raise ValueError(f"templates: {split}.json has no 'format_requests' object")
    for rtype in ("number", "yes_no", "json", "text"):
        need = {"key"} if rtype == "json" else set()
        _check_list(f"format_requests.{rtype}", requests.get(rtype), need, need, 1)
    options = {f"o{i}" for i in range(4)}
    _check_list("mc_layouts", data.get("mc_layouts"), {"q"} | options, {"q"} | options, 1)
    _check_list("two_facts", data.get("two_facts"), {"a", "b", "mol"}, {"a", "b", "mol"}, 1)
    choice = data.get("group_choice")
    if not isinstance(choice, dict):
        raise ValueError(f"templates: {split}.json has no 'group_choice' object")
    for which in ("present", "absent"):
        _check_list(f"group_choice.{which}", choice.get(which), {"mol"}, {"mol"}, 1)
    off = data.get("off_sheet")
    if not isinstance(off, dict) or not off:
        raise ValueError(f"templates: {split}.json has no 'off_sheet' object")
    for offkind, items in off.items():
        _check_list(f"off_sheet.{offkind}", items, {"mol"}, {"mol"}, 1)


@cache
def load_templates(split: str) -> dict:
    """The validated template file of ``split`` ("train" or "heldout"); cached, do not mutate."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    data = json.loads((TEMPLATE_DIR / f"{split}.json").read_text(encoding="utf-8"))
    _validate(data, split)
    return data


def _fill(template: str, **values: str) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


# --------------------------------------------------------------------------- values and answers


def _format_value(key: str, value: Any) -> str:
    from edtformer.facts.sheet import format_value

    return str(format_value(key, value))


def _cip_text(cip: Any) -> str:
    centres = sorted(cip or [], key=lambda c: int(c[0]))
    if not centres:
        return "none"
    return ",".join(str(label) for _, _, label in centres)  # as the sheet writes them


def _groups_text(groups: Any) -> str:
    return ", ".join(groups) if groups else "none"


def _element_name(symbol: str) -> str:
    return element_name(symbol)


def _gold(values: dict, kind: str, subject: str | None) -> Any:
    """The JSON-native value of a fact."""
    if kind == "element_count":
        return int((values.get("atoms") or {}).get(subject, 0))
    if kind == "has_group":
        return subject in (values.get("groups") or [])
    if kind == "groups":
        return list(values.get("groups") or [])
    if kind == "cip":
        return _cip_text(values.get("cip"))
    value = values[kind]
    if KIND_TYPES[kind] == "int":
        return int(value)
    if KIND_TYPES[kind] == "float":
        return float(value)
    if KIND_TYPES[kind] == "bool":
        return bool(value)
    return str(value)


def format_answer(values: dict, kind: str, subject: str | None = None) -> str:
    """The text answer of a fact kind: the sheet's own writing of the value where there is one."""
    if kind == "element_count":
        return str(_gold(values, kind, subject))
    if kind == "has_group":
        return "yes" if _gold(values, kind, subject) else "no"
    if kind == "groups":
        return _groups_text(values.get("groups"))
    if kind == "cip":
        return _cip_text(values.get("cip"))
    return _format_value(kind, values[kind])


def _field(kind: str, subject: str | None) -> str:
    if kind == "element_count":
        return f"atoms:{subject}"
    if kind == "has_group":
        return f"groups:{subject}"
    return kind


# --------------------------------------------------------------------------- subjects


@cache
def _group_rules() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(name, aliases) of every group rule, or the fallback names without aliases."""
    try:
        from edtformer.facts.groups import GROUP_RULES
    except ImportError:
        return tuple((name, ()) for name in FALLBACK_GROUPS)
    out: dict[str, tuple[str, ...]] = {}
    for rule in GROUP_RULES:
        name = getattr(rule, "name", rule)
        if isinstance(name, str) and name not in out:
            out[name] = tuple(getattr(rule, "aliases", ()) or ())
    return tuple(out.items()) or tuple((name, ()) for name in FALLBACK_GROUPS)


def group_vocabulary() -> list[str]:
    """Every group name the sheet can list (``GROUP_RULES``), or a small fallback list."""
    return [name for name, _ in _group_rules()]


def group_aliases(name: str) -> list[str]:
    """The aliases of group ``name`` that read as words in a question ("phenyl", "cyano",
    "olefin"; not "c=c", "cl", plurals or ion names)."""
    for rule_name, aliases in _group_rules():
        if rule_name == name:
            return [
                a for a in aliases
                if len(a) >= 4 and _ALIAS_OK.fullmatch(a) and a not in _ALIAS_SKIP
                and a != f"{name}s" and not a.endswith(("s", "ium"))
            ]  # fmt: skip
    return []


def _draw_element(values: dict, rng: random.Random) -> str:
    present = sorted((values.get("atoms") or {}).keys())
    absent = [e for e in ABSENT_ELEMENTS if e not in present]
    if present and (not absent or rng.random() < PRESENT_ELEMENT_RATE):
        return rng.choice(present)
    return rng.choice(absent)


def _draw_group(values: dict, rng: random.Random) -> str:
    present = list(values.get("groups") or [])
    absent = [g for g in group_vocabulary() if g not in present]
    if present and (not absent or rng.random() < 0.5):
        return rng.choice(present)
    return rng.choice(absent)


#: Longest SMILES written inline in a question (longer ones are "this molecule": a question that
#: quotes a 300-character SMILES costs the LLM as much as a whole fact sheet).
MAX_INLINE_SMILES = 60


def _mol_phrase(smiles: str, rng: random.Random) -> str:
    inline = rng.random() < 0.45  # drawn for every molecule, so the rng state never depends on it
    if smiles and inline and len(smiles) <= MAX_INLINE_SMILES:
        return rng.choice(SMILES_PHRASES).format(s=smiles)
    return rng.choice(MOL_PHRASES)


def _capitalise(text: str, phrase: str) -> str:
    """Upper-case the first letter when the question starts with a generic molecule phrase."""
    if phrase in MOL_PHRASES and text.startswith(phrase):
        return text[0].upper() + text[1:]
    return text


# --------------------------------------------------------------------------- question text


def _fact_question(
    t: dict, kind: str, subject: str | None, phrase: str, rng: random.Random
) -> tuple[str, int]:
    templates = t["kinds"][kind]
    index = rng.randrange(len(templates))
    fills = {"mol": phrase}
    if kind == "element_count":
        fills["element"] = _element_name(subject or "C")
    template = templates[index]
    if kind == "has_group":
        name = subject or ""
        aliases = group_aliases(name)
        if aliases and rng.random() < GROUP_ALIAS_RATE:
            name = rng.choice(aliases)
        fills["group"] = name
        article = "an" if (name or "x")[0].lower() in "aeiou" else "a"
        template = re.sub(r"\b[aA] \{group\}", lambda m: f"{article} {{group}}", template)
    return _capitalise(_fill(template, **fills), phrase), index


def _request_type(kind: str) -> str:
    return {"int": "number", "float": "number", "bool": "yes_no"}.get(KIND_TYPES[kind], "text")


def _append(question: str, request: str, rng: random.Random) -> str:
    """The question and a format request, on one line or two (always two after a bare SMILES or
    a question without end punctuation)."""
    question = question.rstrip()
    ends = question[-1:] in (".", "?", "!", ")", ":")
    sep = " " if ends and rng.random() < 0.7 else "\n"
    return f"{question}{sep}{request.strip()}"


# --------------------------------------------------------------------------- distractors


def _int_distractors(value: int, rng: random.Random, nonneg: bool) -> list[str]:
    pool = [value + d for d in (-3, -2, -1, 1, 2, 3) if not nonneg or value + d >= 0]
    rng.shuffle(pool)
    out = pool[:3]
    extra = value + 4
    while len(out) < 3:
        out.append(extra)
        extra += 1
    return [str(v) for v in out]


_FLOAT_STEPS = {
    "mol_weight": (2.0, 40.0),
    "exact_mass": (1.0, 30.0),
    "logp": (0.3, 2.5),
    "mr": (2.0, 20.0),
    "tpsa": (3.0, 35.0),
    "fsp3": (0.05, 0.35),
}


def _float_distractors(kind: str, text: str, rng: random.Random) -> list[str]:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    decimals = len(text.split(".")[1]) if "." in text else 2
    low, high = _FLOAT_STEPS.get(kind, (0.5, 5.0))
    out: list[str] = []
    for _ in range(50):
        if len(out) == 3:
            break
        step = rng.uniform(low, high) * rng.choice((-1, 1))
        cand = value + step
        if kind == "fsp3":
            cand = min(max(cand, 0.0), 1.0)
        elif kind not in ("logp",) and cand < 0:
            cand = value + abs(step)
        s = f"{cand:.{decimals}f}"
        if s != text and s not in out:
            out.append(s)
    extra = 1
    while len(out) < 3:
        s = f"{value + extra * high:.{decimals}f}"
        if s != text and s not in out:
            out.append(s)
        extra += 1
    return out


_ELEMENT_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)")


def _formula_distractors(formula: str, rng: random.Random) -> list[str]:
    tokens = list(_ELEMENT_TOKEN.finditer(formula))
    out: list[str] = []
    for _ in range(60):
        if len(out) == 3 or not tokens:
            break
        m = rng.choice(tokens)
        count = int(m.group(2) or 1)
        new = max(1, count + rng.choice((-2, -1, 1, 2)))
        if new == count:
            continue
        cand = (
            formula[: m.start()] + m.group(1) + (str(new) if new > 1 else "") + formula[m.end() :]
        )
        if cand != formula and cand not in out:
            out.append(cand)
    for extra in ("O", "N", "S", "Cl", "F", "Br"):
        if len(out) == 3:
            break
        cand = formula + extra if re.search(r"[+-]\d*$", formula) is None else extra + formula
        if cand != formula and cand not in out:
            out.append(cand)
    return out[:3]


def _smiles_distractors(smiles: str, rng: random.Random) -> list[str]:
    pool = [smiles + "C", "C" + smiles, smiles + "O", smiles + "N", "O" + smiles, smiles + "Cl"]
    if "O" in smiles:
        pool.append(smiles.replace("O", "S", 1))
    if "N" in smiles:
        pool.append(smiles.replace("N", "O", 1))
    pool = [p for p in dict.fromkeys(pool) if p != smiles]
    rng.shuffle(pool)
    return pool[:3]


def _cip_distractors(values: dict, rng: random.Random) -> list[str]:
    centres = sorted(values.get("cip") or [], key=lambda c: int(c[0]))
    flip = {"R": "S", "S": "R"}
    pool: list[str] = []
    if centres:
        pool.append(_cip_text([(p, e, flip.get(lab, lab)) for p, e, lab in centres]))
        for i in range(len(centres)):
            changed = [
                (p, e, flip.get(lab, lab) if j == i else lab)
                for j, (p, e, lab) in enumerate(centres)
            ]
            pool.append(_cip_text(changed))
        pool.append("none")
        if len(centres) > 1:
            pool.append(_cip_text(centres[:-1]))
    pool += ["R", "S", "2R, 3S", "1S, 4R", "2S, 3S", "none"]
    correct = _cip_text(centres)
    pool = [p for p in dict.fromkeys(pool) if p != correct]
    head, tail = pool[: max(3, len(pool) - 6)], pool[max(3, len(pool) - 6) :]
    rng.shuffle(head)
    return (head + tail)[:3]


def _groups_distractors(values: dict, rng: random.Random) -> list[str]:
    present = list(values.get("groups") or [])
    absent = [g for g in group_vocabulary() if g not in present]
    correct = _groups_text(present)
    out: list[str] = []
    for _ in range(60):
        if len(out) == 3:
            break
        cand = list(present)
        move = rng.randrange(3)
        if move == 0 and cand:
            cand.pop(rng.randrange(len(cand)))
        elif move == 1 and absent:
            cand.insert(rng.randrange(len(cand) + 1), rng.choice(absent))
        elif cand and absent:
            cand[rng.randrange(len(cand))] = rng.choice(absent)
        text = _groups_text(cand)
        if text != correct and text not in out:
            out.append(text)
    filler = 1
    while len(out) < 3:
        out.append(_groups_text([*present, *absent[:filler]]) if absent else f"{filler} groups")
        out = [o for o in dict.fromkeys(out) if o != correct]
        filler += 1
    return out[:3]


def _distractors(values: dict, kind: str, subject: str | None, rng: random.Random) -> list[str]:
    correct = format_answer(values, kind, subject)
    ktype = KIND_TYPES[kind]
    if kind == "formula":
        out = _formula_distractors(correct, rng)
    elif kind == "largest_fragment":
        out = _smiles_distractors(correct, rng)
    elif kind == "cip":
        out = _cip_distractors(values, rng)
    elif kind == "groups":
        out = _groups_distractors(values, rng)
    elif ktype == "int":
        value = _gold(values, kind, subject)
        out = _int_distractors(value, rng, nonneg=kind != "formal_charge")
        if kind != "element_count":
            # keep the sheet's writing of ints (e.g. a "+1" charge) consistent across options
            out = [_format_value(kind, int(o)) for o in out]
    elif ktype == "float":
        out = _float_distractors(kind, correct, rng)
    else:  # bool
        other = "no" if correct == "yes" else "yes"
        out = [other, *rng.sample(BOOL_EXTRA_OPTIONS, 2)]
    out = [o for o in dict.fromkeys(out) if o != correct]
    pad = 1
    while len(out) < 3:  # never reached for sane values; keeps options distinct whatever comes
        cand = f"{correct} ({pad})"
        if cand not in out:
            out.append(cand)
        pad += 1
    return out[:3]


# --------------------------------------------------------------------------- item builders


def _plain(values, smiles, rng, t, split, kind, subject) -> QAItem:
    phrase = _mol_phrase(smiles, rng)
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
        field=_field(kind, subject),
        question=question,
        answer=format_answer(values, kind, subject),
        answer_type=KIND_TYPES[kind],
        gold=_gold(values, kind, subject),
        meta=meta,
    )


def _json_item(values, smiles, rng, t, split, kind, subject) -> QAItem:
    phrase = _mol_phrase(smiles, rng)
    question, index = _fact_question(t, kind, subject, phrase, rng)
    keys = list(JSON_KEYS[kind]) + list(GENERIC_JSON_KEYS)
    if kind == "element_count" and subject:
        keys += [f"n_{subject}", f"{_element_name(subject)}_count"]
    key = rng.choice(keys)
    requests = t["format_requests"]["json"]
    r = rng.randrange(len(requests))
    question = _append(question, _fill(requests[r], key=key), rng)
    gold = {key: _gold(values, kind, subject)}
    meta: dict[str, Any] = {
        "split": split, "template": index, "mol_phrase": phrase, "json_key": key,
        "format_request": r, "fact_kind": kind,
    }  # fmt: skip
    if subject is not None:
        meta["subject"] = subject
    return QAItem(kind, _field(kind, subject), question, json.dumps(gold), "json", gold, meta)


def _layout(t: dict, question: str, options: list[str], rng: random.Random) -> tuple[str, int]:
    layouts = t["mc_layouts"]
    index = rng.randrange(len(layouts))
    fills = {"q": question, **{f"o{i}": o for i, o in enumerate(options)}}
    return _fill(layouts[index], **fills), index


def _group_choice(values, smiles, rng, t, split) -> QAItem | None:
    present = list(values.get("groups") or [])
    absent = [g for g in group_vocabulary() if g not in present]
    phrase = _mol_phrase(smiles, rng)
    if len(present) >= 3 and len(absent) >= 1 and rng.random() < 0.35:
        which, right, wrong = "absent", rng.choice(absent), rng.sample(present, 3)
    elif present and len(absent) >= 3:
        which, right, wrong = "present", rng.choice(present), rng.sample(absent, 3)
    else:
        return None
    templates = t["group_choice"][which]
    index = rng.randrange(len(templates))
    stem = _capitalise(_fill(templates[index], mol=phrase), phrase)
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
    phrase = _mol_phrase(smiles, rng)
    stem, index = _fact_question(t, kind, subject, phrase, rng)
    correct = format_answer(values, kind, subject)
    wrong = _distractors(values, kind, subject, rng)
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
    return QAItem("mc", _field(kind, subject), question, letter, "letter", letter, meta)


def _two_facts(values, smiles, rng, t, split, first: str | None) -> QAItem:
    names = [k for k in FACT_NAMES if k in values]
    a = first if first in FACT_NAMES and first in values else rng.choice(names)
    b = rng.choice([k for k in names if k != a])
    phrase = _mol_phrase(smiles, rng)
    templates = t["two_facts"]
    index = rng.randrange(len(templates))
    question = _capitalise(
        _fill(templates[index], a=FACT_NAMES[a], b=FACT_NAMES[b], mol=phrase), phrase
    )
    answer = (
        f"{FACT_NAMES[a]} {format_answer(values, a)}, {FACT_NAMES[b]} {format_answer(values, b)}"
    )
    gold = {a: _gold(values, a, None), b: _gold(values, b, None)}
    meta = {"split": split, "template": index, "mol_phrase": phrase, "facts": [a, b]}
    return QAItem("two_facts", f"{a}+{b}", question, answer, "text", gold, meta)


def _off_sheet(smiles, rng, t, split, subject: str | None) -> QAItem:
    off = t["off_sheet"]
    offkind = subject if subject in off else rng.choice(sorted(off))
    questions = off[offkind]
    index = rng.randrange(len(questions))
    phrase = _mol_phrase(smiles, rng)
    question = _capitalise(_fill(questions[index], mol=phrase), phrase)
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
        subject = _draw_element(values, rng)
    elif kind == "has_group" and subject is None:
        subject = _draw_group(values, rng)
    elif kind not in ("element_count", "has_group"):
        subject = None
    if form == "json":
        return _json_item(values, smiles, rng, t, split, kind, subject)
    if form == "mc":
        return _mc_item(values, smiles, rng, t, split, kind, subject)
    return _plain(values, smiles, rng, t, split, kind, subject)

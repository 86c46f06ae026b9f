"""What a question is about and how it names the molecule.

The element of an element-count question and the group of a group question (present in the
molecule or not), the group vocabulary and its question-friendly aliases, and the phrase that
names the molecule ("this compound", or its SMILES inline when short).
"""

from __future__ import annotations

import random
import re
from functools import cache

from edtformer.facts.groups import GROUP_RULES

#: Elements an element-count question may ask about when the molecule has none of them.
ABSENT_ELEMENTS = ("Cl", "Br", "F", "I", "S", "P", "N", "O", "Si", "B", "Na", "C", "Se")


#: How often an element-count question asks about an element the molecule has.
PRESENT_ELEMENT_RATE = 0.75

MOL_PHRASES = ("this molecule", "the molecule", "the compound", "this compound", "this structure")
SMILES_PHRASES = (
    "{s}", "{s}", "the molecule {s}", "SMILES {s}", "the compound {s}", "{s} (SMILES)",
    "the structure {s}",
)  # fmt: skip

_ALIAS_OK = re.compile(r"[a-z][a-z ,\-]*[a-z]")
#: Aliases that name something else in a question (an ion, a slang word).
_ALIAS_SKIP = frozenset({
    "cyanide", "fluoride", "chloride", "bromide", "iodide", "quat", "aromatic", "heterocyclic",
    "carboxy", "phospho", "peroxy", "cooh",
})  # fmt: skip
#: How often a group question names the group by one of its aliases.
GROUP_ALIAS_RATE = 0.15


@cache
def _group_rules() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(name, aliases) of every group rule of :mod:`edtformer.facts.groups`."""
    out: dict[str, tuple[str, ...]] = {}
    for rule in GROUP_RULES:
        if rule.name not in out:
            out[rule.name] = tuple(rule.aliases)
    return tuple(out.items())


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


def draw_element(values: dict, rng: random.Random) -> str:
    """An element of the molecule (:data:`PRESENT_ELEMENT_RATE`) or one it lacks."""
    present = sorted((values.get("atoms") or {}).keys())
    absent = [e for e in ABSENT_ELEMENTS if e not in present]
    if present and (not absent or rng.random() < PRESENT_ELEMENT_RATE):
        return rng.choice(present)
    return rng.choice(absent)


def draw_group(values: dict, rng: random.Random) -> str:
    """A group of the molecule or one it lacks, at even odds (the side that exists when the
    other is empty)."""
    present = list(values.get("groups") or [])
    absent = [g for g in group_vocabulary() if g not in present]
    if present and (not absent or rng.random() < 0.5):
        return rng.choice(present)
    return rng.choice(absent)


#: Longest SMILES written inline in a question (longer ones are "this molecule": a question that
#: quotes a 300-character SMILES costs the LLM as much as a whole fact sheet).
MAX_INLINE_SMILES = 60


def mol_phrase(smiles: str, rng: random.Random) -> str:
    """How the question names the molecule: its SMILES inline (when short) or a generic phrase."""
    inline = rng.random() < 0.45  # drawn for every molecule, so the rng state never depends on it
    if smiles and inline and len(smiles) <= MAX_INLINE_SMILES:
        return rng.choice(SMILES_PHRASES).format(s=smiles)
    return rng.choice(MOL_PHRASES)


def capitalise(text: str, phrase: str) -> str:
    """Upper-case the first letter when the question starts with a generic molecule phrase."""
    if phrase in MOL_PHRASES and text.startswith(phrase):
        return text[0].upper() + text[1:]
    return text

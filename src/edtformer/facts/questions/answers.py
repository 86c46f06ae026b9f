"""Fact kinds, their gold values and their answers as the sheet writes them.

Answer formats that are not a single sheet value:

* ``cip``: the labels of the specified centres in atom order, ","-joined as the sheet writes
  them ("R" or "R,S,S"); none gives "none".
* ``groups``: the sheet's group names ", "-joined, "none" when empty.
* ``two_facts``: "<name a> <value a>, <name b> <value b>" with the names of :data:`FACT_NAMES`
  ("rings 2, rotatable bonds 3").
* JSON: ``json.dumps({key: value})`` with the JSON-native value (the ``groups`` list as a list),
  the key drawn from :data:`JSON_KEYS` or :data:`GENERIC_JSON_KEYS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edtformer.facts.sheet import format_value

#: The answer to every off-sheet question.
DECLINE = (
    "I can't tell that from the structure alone; I can give its formula, atom and ring counts, "
    "groups, stereochemistry and computed estimates."
)

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


def value_text(key: str, value: Any) -> str:
    """The sheet's writing of ``value`` (:func:`edtformer.facts.sheet.format_value`) as text."""
    return str(format_value(key, value))


def cip_text(cip: Any) -> str:
    """The labels of the specified centres in atom order, ","-joined; "none" when there are none."""
    centres = sorted(cip or [], key=lambda c: int(c[0]))
    if not centres:
        return "none"
    return ",".join(str(label) for _, _, label in centres)  # as the sheet writes them


def groups_text(groups: Any) -> str:
    """The group names ", "-joined; "none" when empty."""
    return ", ".join(groups) if groups else "none"


def gold_value(values: dict, kind: str, subject: str | None) -> Any:
    """The JSON-native value of a fact."""
    if kind == "element_count":
        return int((values.get("atoms") or {}).get(subject, 0))
    if kind == "has_group":
        return subject in (values.get("groups") or [])
    if kind == "groups":
        return list(values.get("groups") or [])
    if kind == "cip":
        return cip_text(values.get("cip"))
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
        return str(gold_value(values, kind, subject))
    if kind == "has_group":
        return "yes" if gold_value(values, kind, subject) else "no"
    if kind == "groups":
        return groups_text(values.get("groups"))
    if kind == "cip":
        return cip_text(values.get("cip"))
    return value_text(kind, values[kind])


def field_name(kind: str, subject: str | None) -> str:
    """The sheet key a question asks ("rings", "atoms:Cl", "groups:pyridine ring")."""
    if kind == "element_count":
        return f"atoms:{subject}"
    if kind == "has_group":
        return f"groups:{subject}"
    return kind

"""The exact fact sheet: what RDKit computes about a molecule, written as text the LLM reads.

:func:`sheet_values` is the one place where the sheet's facts are computed (formula, element
counts, weights, rings, rotatable bonds, donors / acceptors, stereo elements with CIP labels,
chirality, Crippen logP / MR, TPSA, fraction sp3, Lipinski and Veber verdicts, fragments and the
functional-group vocabulary of :mod:`edtformer.facts.groups`). :func:`render_sheet` writes them
as a compact block of ``label: value`` lines; :func:`format_value` is how every value is written,
so a question generator's answers are exactly the sheet's text. :data:`SHEET_FIELDS` names each
field the way chemists ask for it and says how it is defined.

No network predicts these numbers: the LLM reads them (its answers copy them) and a learned
estimate (the blood-brain-barrier read-out) is labelled as one.

Atom positions (CIP labels, E/Z bonds) are 1-based positions in the SMILES as given.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors, rdCIPLabeler, rdMolDescriptors
from rdkit.Chem.EnumerateStereoisomers import EnumerateStereoisomers, StereoEnumerationOptions

from edtformer.chem import parse_smiles
from edtformer.facts.groups import present_groups

#: Ring size above which a ring counts as a macrocycle (IUPAC / medicinal chemistry: > 12 atoms).
MACROCYCLE_MIN = 13

#: Heading line of every sheet (what kind of facts follow).
SHEET_HEADING = "RDKit fact sheet (exact; logP, MR, TPSA are computed estimates):"


@dataclass(frozen=True)
class SheetField:
    """One fact of the sheet.

    Attributes:
        key: key in :func:`sheet_values`.
        label: how the sheet writes it (and how users and questions name it).
        kind: ``"int"``, ``"float"``, ``"bool"`` or ``"text"``.
        decimals: digits after the point for floats.
        doc: the definition used.
    """

    key: str
    label: str
    kind: str
    decimals: int = 0
    doc: str = ""


#: Every scalar fact of the sheet, in sheet order.
SHEET_FIELDS: tuple[SheetField, ...] = (
    SheetField("formula", "formula", "text", doc="Hill formula, net charge as a suffix (RDKit CalcMolFormula)"),
    SheetField("heavy_atoms", "heavy atoms", "int", doc="atoms other than hydrogen"),
    SheetField("formal_charge", "net charge", "int", doc="sum of formal charges"),
    SheetField("mol_weight", "molecular weight", "float", 2, "average molecular weight, g/mol"),
    SheetField("exact_mass", "monoisotopic mass", "float", 4, "monoisotopic (exact) mass, Da"),
    SheetField("rings", "rings", "int", doc="smallest set of smallest rings (SSSR)"),
    SheetField("aromatic_rings", "aromatic rings", "int", doc="SSSR rings that are aromatic"),
    SheetField("aliphatic_rings", "aliphatic rings", "int", doc="SSSR rings that are not aromatic"),
    SheetField("ring_systems", "ring systems", "int", doc="groups of rings sharing atoms (fused / spiro)"),
    SheetField("largest_ring", "largest ring size", "int", doc="atoms in the largest SSSR ring (0: acyclic)"),
    SheetField("macrocycle", "macrocycle", "bool", doc=f"a ring of {MACROCYCLE_MIN} or more atoms"),
    SheetField("rotatable_bonds", "rotatable bonds", "int", doc="RDKit CalcNumRotatableBonds (strict)"),
    SheetField("hbd", "H-bond donors", "int", doc="RDKit CalcNumHBD (Lipinski-style N-H / O-H donors)"),
    SheetField("hba", "H-bond acceptors", "int", doc="RDKit CalcNumHBA"),
    SheetField("stereocentres", "stereocentres", "int", doc="tetrahedral stereocentres, specified or not (FindPotentialStereo)"),
    SheetField("specified_stereocentres", "specified stereocentres", "int", doc="stereocentres with R/S given"),
    SheetField("unspecified_stereocentres", "unspecified stereocentres", "int", doc="possible stereocentres left unspecified"),
    SheetField("chiral", "chiral", "bool", doc="not superimposable on its mirror image (unspecified centres: some stereoisomer is chiral)"),
    SheetField("stereo_double_bonds", "stereo double bonds", "int", doc="double bonds that can be E/Z, specified or not"),
    SheetField("specified_stereo_double_bonds", "specified stereo double bonds", "int", doc="stereo double bonds with E/Z given"),
    SheetField("logp", "logP", "float", 2, "Crippen logP estimate (Wildman-Crippen)"),
    SheetField("mr", "MR", "float", 2, "Crippen molar refractivity estimate"),
    SheetField("tpsa", "TPSA", "float", 2, "topological polar surface area, A^2 (Ertl, N and O only)"),
    SheetField("fsp3", "fraction sp3", "float", 2, "fraction of carbons that are sp3"),
    SheetField("lipinski_violations", "rule-of-five violations", "int", doc="MW > 500, logP > 5, donors > 5, acceptors > 10"),
    SheetField("lipinski", "passes Lipinski rule of five", "bool", doc="at most one rule-of-five violation"),
    SheetField("veber", "passes Veber rule", "bool", doc="rotatable bonds <= 10 and TPSA <= 140"),
    SheetField("fragments", "fragments", "int", doc="disconnected parts (salts, mixtures)"),
)  # fmt: skip

_FIELDS = {f.key: f for f in SHEET_FIELDS}


#: English names of the elements chemists ask about by name ("How many chlorine atoms?").
ELEMENT_NAMES: dict[str, str] = {
    "H": "hydrogen", "B": "boron", "C": "carbon", "N": "nitrogen", "O": "oxygen",
    "F": "fluorine", "Na": "sodium", "Mg": "magnesium", "Al": "aluminium", "Si": "silicon",
    "P": "phosphorus", "S": "sulfur", "Cl": "chlorine", "K": "potassium", "Ca": "calcium",
    "Fe": "iron", "Cu": "copper", "Zn": "zinc", "As": "arsenic", "Se": "selenium",
    "Br": "bromine", "I": "iodine", "Li": "lithium", "Sn": "tin", "Pt": "platinum",
    "Hg": "mercury", "Co": "cobalt", "Gd": "gadolinium", "Bi": "bismuth", "Ag": "silver",
    "Au": "gold", "Ti": "titanium", "Mn": "manganese", "Ni": "nickel", "Cr": "chromium",
    "Te": "tellurium", "Ge": "germanium", "Sb": "antimony", "Ba": "barium", "Sr": "strontium",
    "Cs": "caesium", "Rb": "rubidium", "Be": "beryllium", "Tc": "technetium", "Ru": "ruthenium",
    "Pd": "palladium", "Xe": "xenon", "He": "helium", "Ne": "neon", "Ar": "argon", "Kr": "krypton",
}  # fmt: skip


def element_name(symbol: str) -> str:
    """The English name of an element symbol (the symbol itself when unknown)."""
    return ELEMENT_NAMES.get(symbol, symbol)


def field(key: str) -> SheetField:
    """The :class:`SheetField` of ``key`` (KeyError naming the known keys)."""
    try:
        return _FIELDS[key]
    except KeyError:
        raise KeyError(f"no sheet field {key!r}; known: {sorted(_FIELDS)}") from None


def format_value(key: str, value: Any) -> str:
    """How the sheet writes ``value`` of field ``key``: ints as ``12`` (a net charge signed:
    ``+1``), floats with the field's decimals (``206.28``), booleans ``yes`` / ``no``, text as is. Keys outside
    :data:`SHEET_FIELDS` (``atoms:Cl``, group names) are written by the value's type."""
    f = _FIELDS.get(key)
    if isinstance(value, bool) or (f is not None and f.kind == "bool"):
        return "yes" if value else "no"
    if key == "formal_charge":
        return f"{int(value):+d}" if value else "0"
    if f is not None and f.kind == "float":
        return f"{float(value):.{f.decimals}f}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _element_counts(mol: Chem.Mol) -> dict[str, int]:
    """Element symbol -> atoms, hydrogens included (implicit and explicit), in Hill order (C, H,
    then alphabetical; alphabetical when there is no carbon). Dummy atoms are not elements."""
    counts: dict[str, int] = {}
    for atom in mol.GetAtoms():
        sym = atom.GetSymbol()
        if atom.GetAtomicNum() == 0:
            continue
        counts[sym] = counts.get(sym, 0) + 1
        h = atom.GetTotalNumHs()
        if h:
            counts["H"] = counts.get("H", 0) + h
    first = ["C", "H"] if "C" in counts else []
    order = [s for s in first if s in counts] + sorted(s for s in counts if s not in first)
    return {s: counts[s] for s in order}


def _ring_systems(mol: Chem.Mol) -> int:
    """Rings merged while they share an atom: the number of ring systems."""
    systems: list[set[int]] = []
    for ring in mol.GetRingInfo().AtomRings():
        merged = set(ring)
        rest = []
        for s in systems:
            if s & merged:
                merged |= s
            else:
                rest.append(s)
        systems = [*rest, merged]
    return len(systems)


def _stereo(mol: Chem.Mol) -> tuple[list[tuple[int, str]], list[tuple[int, int, str]]]:
    """``(centres, bonds)``: tetrahedral centres as ``(atom, "R"|"S"|"?")`` in atom order and
    stereo double bonds as ``(atom, atom, "E"|"Z"|"?")`` in bond order (``?``: unspecified)."""
    rdCIPLabeler.AssignCIPLabels(mol)
    centres: list[tuple[int, str]] = []
    bonds: list[tuple[int, int, str]] = []
    for info in Chem.FindPotentialStereo(mol):
        specified = info.specified == Chem.StereoSpecified.Specified
        if info.type == Chem.StereoType.Atom_Tetrahedral:
            atom = mol.GetAtomWithIdx(info.centeredOn)
            label = atom.GetProp("_CIPCode").upper() if atom.HasProp("_CIPCode") else "?"
            centres.append((int(info.centeredOn), label if specified and label in "RS" else "?"))
        elif info.type == Chem.StereoType.Bond_Double:
            bond = mol.GetBondWithIdx(info.centeredOn)
            label = bond.GetProp("_CIPCode") if bond.HasProp("_CIPCode") else "?"
            label = label if specified and label in ("E", "Z") else "?"
            bonds.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), label))
    return sorted(centres), bonds


def _mirror_differs(mol: Chem.Mol) -> bool:
    """True when ``mol`` (all centres specified) differs from its mirror image."""
    mirror = Chem.Mol(mol)
    for atom in mirror.GetAtoms():
        if atom.GetChiralTag() in (
            Chem.ChiralType.CHI_TETRAHEDRAL_CW,
            Chem.ChiralType.CHI_TETRAHEDRAL_CCW,
        ):
            atom.InvertChirality()
    return bool(Chem.MolToSmiles(mol) != Chem.MolToSmiles(mirror))


def _chiral(mol: Chem.Mol, centres: Sequence[tuple[int, str]]) -> bool:
    """Chirality from tetrahedral centres: with all centres specified, whether the molecule
    differs from its mirror image (meso forms are not chiral); with unspecified centres, whether
    some stereoisomer is chiral (at most 64 enumerated)."""
    if not centres:
        return False
    if all(lab != "?" for _, lab in centres):
        return _mirror_differs(mol)

    opts = StereoEnumerationOptions(onlyUnassigned=True, maxIsomers=64, unique=True)
    return any(
        _mirror_differs(iso) for iso in itertools.islice(EnumerateStereoisomers(mol, opts), 64)
    )


def _fragments(mol: Chem.Mol) -> list[Chem.Mol]:
    """The disconnected pieces of ``mol``, largest first (most heavy atoms, then atoms)."""
    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    return sorted(frags, key=lambda f: (-f.GetNumHeavyAtoms(), -f.GetNumAtoms()))


def fragment_smiles(mol: Chem.Mol) -> list[str]:
    """Canonical SMILES of each distinct disconnected piece of ``mol``, largest first (the
    first is the sheet's ``largest_fragment``)."""
    return list(dict.fromkeys(Chem.MolToSmiles(f) for f in _fragments(mol)))


def hill_formula(mol: Chem.Mol) -> str:
    """The sheet's formula of ``mol``: Hill order, net charge as a suffix (RDKit's
    ``CalcMolFormula``)."""
    return str(rdMolDescriptors.CalcMolFormula(mol))


def sheet_values(mol: Chem.Mol, groups: bool = True) -> dict[str, Any]:
    """Every fact of the sheet for ``mol`` (copied, never modified); see :data:`SHEET_FIELDS`.

    Besides the scalar fields: ``atoms`` (element -> count, H included, Hill order), ``cip``
    (``(position, element, "R"|"S")`` of the specified centres, 1-based SMILES positions), ``ez``
    (``(position, position, "E"|"Z")`` of the specified stereo double bonds), ``largest_fragment``
    (canonical SMILES of the fragment with most heavy atoms) and, with ``groups``, ``groups``
    (names present, :func:`edtformer.facts.groups.present_groups`).
    """
    m = Chem.Mol(mol)
    centres, bonds = _stereo(m)
    rings = m.GetRingInfo().AtomRings()
    largest = max((len(r) for r in rings), default=0)
    mw = float(Descriptors.MolWt(m))  # type: ignore[attr-defined]
    logp = float(Crippen.MolLogP(m))  # type: ignore[attr-defined]
    hbd, hba = int(rdMolDescriptors.CalcNumHBD(m)), int(rdMolDescriptors.CalcNumHBA(m))
    rot = int(rdMolDescriptors.CalcNumRotatableBonds(m))
    tpsa = float(rdMolDescriptors.CalcTPSA(m))
    violations = int(mw > 500) + int(logp > 5) + int(hbd > 5) + int(hba > 10)
    frags = _fragments(m)
    biggest = frags[0]
    values: dict[str, Any] = {
        "formula": hill_formula(m),
        "atoms": _element_counts(m),
        "heavy_atoms": int(m.GetNumHeavyAtoms()),
        "formal_charge": int(Chem.GetFormalCharge(m)),
        "mol_weight": round(mw, 2),
        "exact_mass": round(float(Descriptors.ExactMolWt(m)), 4),  # type: ignore[attr-defined]
        "rings": len(rings),
        "aromatic_rings": int(rdMolDescriptors.CalcNumAromaticRings(m)),
        "aliphatic_rings": int(rdMolDescriptors.CalcNumAliphaticRings(m)),
        "ring_systems": _ring_systems(m),
        "largest_ring": largest,
        "macrocycle": largest >= MACROCYCLE_MIN,
        "rotatable_bonds": rot,
        "hbd": hbd,
        "hba": hba,
        "stereocentres": len(centres),
        "specified_stereocentres": sum(1 for _, lab in centres if lab != "?"),
        "unspecified_stereocentres": sum(1 for _, lab in centres if lab == "?"),
        "cip": [(i + 1, m.GetAtomWithIdx(i).GetSymbol(), lab) for i, lab in centres if lab != "?"],
        "chiral": _chiral(m, centres),
        "stereo_double_bonds": len(bonds),
        "specified_stereo_double_bonds": sum(1 for *_, lab in bonds if lab != "?"),
        "ez": [(i + 1, j + 1, lab) for i, j, lab in bonds if lab != "?"],
        "logp": round(logp, 2),
        "mr": round(float(Crippen.MolMR(m)), 2),  # type: ignore[attr-defined]
        "tpsa": round(tpsa, 2),
        "fsp3": round(float(rdMolDescriptors.CalcFractionCSP3(m)), 2),
        "lipinski_violations": violations,
        "lipinski": violations <= 1,
        "veber": rot <= 10 and tpsa <= 140,
        "fragments": len(frags),
        "largest_fragment": Chem.MolToSmiles(biggest),
        **_bond_counts(m),
    }
    if groups:
        values["groups"] = present_groups(m)
    return values


#: Counts written only when a question names them (:func:`edtformer.facts.select.asked_facts`
#: ``"count:<key>"``): key -> label.
ASKED_COUNTS: dict[str, str] = {
    "double_bonds": "double bonds (Kekulé structure)",
    "triple_bonds": "triple bonds",
    "heteroatoms": "heteroatoms (not C or H)",
}


def _bond_counts(mol: Chem.Mol) -> dict[str, int]:
    """Double bonds of a Kekulé structure (benzene: 3), triple bonds, heteroatoms."""
    kek = Chem.Mol(mol)
    try:
        Chem.Kekulize(kek, clearAromaticFlags=True)
    except Exception:  # an aromatic system RDKit cannot kekulize: count its aromatic bonds as none
        kek = Chem.Mol(mol)
    types = [b.GetBondType() for b in kek.GetBonds()]
    return {
        "double_bonds": sum(t == Chem.BondType.DOUBLE for t in types),
        "triple_bonds": sum(t == Chem.BondType.TRIPLE for t in types),
        "heteroatoms": sum(a.GetAtomicNum() not in (1, 6) for a in mol.GetAtoms()),
    }


def sheet_of(smiles: str, cache: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """:func:`sheet_values` of ``smiles`` read through the strict front end
    (:func:`edtformer.chem.parse_smiles`), memoised in ``cache`` when given."""
    if cache is not None and smiles in cache:
        return cache[smiles]

    got = sheet_values(parse_smiles(smiles).mol)
    if cache is not None:
        cache[smiles] = got
    return got


def _join(parts: Iterable[str]) -> str:
    return "; ".join(parts)


def _fv(values: dict[str, Any], key: str) -> str:
    return f"{_FIELDS[key].label}: {format_value(key, values[key])}"


#: Each sheet line's scalar fields (:data:`SHEET_FIELDS` keys), in the order it writes them;
#: ``composition`` also writes the atoms per element, ``stereo`` the CIP labels, ``double_bonds``
#: the E/Z labels, ``fragments`` the largest fragment of a salt or mixture.
LINE_FIELDS: dict[str, tuple[str, ...]] = {
    "composition": ("formula", "heavy_atoms", "formal_charge"),
    "mass": ("mol_weight", "exact_mass"),
    "rings": ("rings", "aromatic_rings", "aliphatic_rings", "ring_systems", "largest_ring", "macrocycle"),
    "rotatable": ("rotatable_bonds",),
    "hbond": ("hbd", "hba"),
    "stereo": ("stereocentres", "specified_stereocentres", "unspecified_stereocentres", "chiral"),
    "double_bonds": ("stereo_double_bonds", "specified_stereo_double_bonds"),
    "descriptors": ("logp", "mr", "tpsa", "fsp3"),
    "rules": ("lipinski", "lipinski_violations", "veber"),
    "fragments": ("fragments",),
}  # fmt: skip


def sheet_items(
    values: dict[str, Any], bbb: float | None = None, same_as_first: bool | None = None
) -> dict[str, list[tuple[str, str]]]:
    """The sheet's lines by name (:data:`LINE_NAMES` order), each a list of ``(item key,
    "label: value")`` pairs; item keys are :data:`SHEET_FIELDS` keys plus ``atoms`` (per
    element), ``cip``, ``ez``, ``largest_fragment``, ``groups``, ``bbb`` and ``same``. ``bbb``
    (the learned read-out's P(BBB+)) and ``same_as_first`` (for a prompt's second and later
    molecules: the same stereoisomer as its first?) add a line each."""
    v = values
    atoms = ", ".join(f"{s} {n}" for s, n in v["atoms"].items()) or "none"
    cip = ",".join(lab for *_, lab in v["cip"])
    cip_at = ",".join(str(p) for p, *_ in v["cip"])
    ez = ",".join(lab for *_, lab in v["ez"])
    ez_at = ",".join(f"{a}={b}" for a, b, _ in v["ez"])

    def plain(line: str) -> list[tuple[str, str]]:
        return [(k, _fv(v, k)) for k in LINE_FIELDS[line]]

    composition = plain("composition")
    composition.insert(1, ("atoms", f"atoms: {atoms}"))
    stereo = plain("stereo")
    stereo.insert(3, ("cip", f"CIP labels: {cip} (atoms {cip_at})" if cip else "CIP labels: none"))
    double_bonds = plain("double_bonds")
    double_bonds.append(("ez", f"E/Z: {ez} (bonds {ez_at})" if ez else "E/Z: none"))
    fragments = plain("fragments")
    if v["fragments"] > 1:
        fragments.append(("largest_fragment", f"largest fragment: {v['largest_fragment']}"))
    items = {
        "composition": composition,
        "mass": plain("mass"),
        "rings": plain("rings"),
        "rotatable": plain("rotatable"),
        "hbond": plain("hbond"),
        "stereo": stereo,
        "double_bonds": double_bonds,
        "descriptors": plain("descriptors"),
        "rules": plain("rules"),
        "fragments": fragments,
    }
    if "groups" in v:
        items["groups"] = [("groups", "groups: " + (", ".join(v["groups"]) or "none"))]
    if bbb is not None:
        items["bbb"] = [("bbb", f"blood-brain barrier (learned estimate): P(BBB+) {bbb:.2f}")]
    if same_as_first is not None:
        yes = "yes" if same_as_first else "no"
        items["same"] = [("same", f"same stereoisomer as molecule 1: {yes}")]
    return items


def sheet_lines(
    values: dict[str, Any], bbb: float | None = None, same_as_first: bool | None = None
) -> dict[str, str]:
    """The sheet's lines by name (:data:`LINE_NAMES` order): the ``label: value`` pairs of
    :func:`sheet_items` joined by ``; ``."""
    return {
        name: _join(text for _, text in pairs)
        for name, pairs in sheet_items(values, bbb, same_as_first).items()
    }


#: Every line name of :func:`sheet_lines`, in sheet order.
LINE_NAMES: tuple[str, ...] = (
    "composition", "mass", "rings", "rotatable", "hbond", "stereo", "double_bonds", "descriptors",
    "rules", "fragments", "groups", "bbb", "same",
)  # fmt: skip

#: Heading of a sheet that holds only the lines a question names.
SELECTED_HEADING = "RDKit facts (exact; logP, MR, TPSA are computed estimates):"


def render_sheet(
    values: dict[str, Any],
    bbb: float | None = None,
    same_as_first: bool | None = None,
    only: Iterable[str] | None = None,
    asked: Sequence[str] = (),
    items: Collection[str] | None = None,
) -> str:
    """The sheet as the LLM reads it: a heading and one line per group of facts.

    Args:
        values: :func:`sheet_values` output.
        bbb: the learned blood-brain-barrier read-out's P(BBB+), written as a labelled estimate.
        same_as_first: for a prompt's second and later molecules, whether it is the same
            stereoisomer as the prompt's first molecule (canonical isomeric SMILES equal).
        only: write only these lines (names of :data:`LINE_NAMES`; the ``same`` line is always
            kept): the lines a question names (:func:`edtformer.facts.select.lines_for`).
        asked: single facts the question names (:func:`edtformer.facts.select.asked_facts`:
            ``"element:Cl"``, ``"group:ester"``), each written out after its line
            (``chlorine atoms: 2``, ``ester: no``), absent ones included.
        items: single items the question names (:func:`edtformer.facts.select.items_for`:
            :func:`sheet_items` keys such as ``mol_weight`` or ``hbd``): a kept line that holds
            any of them writes only those (``molecular weight: 206.28`` instead of the whole
            mass line), the composition and groups lines only the asked elements / groups
            when they hold none; a line holding none is written whole. ``None`` (default):
            lines are never narrowed.
    """
    pairs = sheet_items(values, bbb, same_as_first)
    keep = set(LINE_NAMES if only is None else only) | {"same"}
    extra: dict[str, list[tuple[str, str]]] = {}
    for key in asked:
        what, _, name = key.partition(":")
        if what == "element":
            n = values["atoms"].get(name, 0)
            extra.setdefault("composition", []).append((key, f"{element_name(name)} atoms: {n}"))
            keep.add("composition")
        elif what == "count" and name in ASKED_COUNTS:
            text = f"{ASKED_COUNTS[name]}: {values.get(name, 0)}"
            extra.setdefault("composition", []).append((key, text))
            keep.add("composition")
        elif what == "group" and "groups" in pairs:
            yes = "yes" if name in values["groups"] else "no"
            extra.setdefault("groups", []).append((key, f"{name}: {yes}"))
            keep.add("groups")
    wanted = None if items is None else set(items)
    lines = []
    for name, line in pairs.items():
        if name not in keep:
            continue
        named = [(k, t) for k, t in line if wanted is not None and k in wanted]
        if named or (wanted is not None and name in extra):
            line = named
        lines.append(_join(t for _, t in [*line, *extra.get(name, [])]))
    whole = only is None or set(LINE_NAMES) <= set(only)
    heading = SHEET_HEADING if whole else SELECTED_HEADING
    return "\n".join([heading, *lines])


def same_stereoisomer(a: Chem.Mol, b: Chem.Mol) -> bool:
    """Whether two molecules are the same stereoisomer (canonical isomeric SMILES equal)."""
    return bool(Chem.MolToSmiles(a) == Chem.MolToSmiles(b))

"""Structure facts that RDKit computes exactly: the ground truth of the dataset's structure
questions (``edt data build``) and of the ``rdkit_atoms`` encoder stream.

Its 31-group :data:`FUNCTIONAL_GROUPS` is the dataset's and the frozen stream's vocabulary, kept
apart from the fact sheet's wider one (:mod:`edtformer.facts.groups`): changing it would change
the built datasets' answers and the features the shipped bridge was trained on.

:func:`molecule_facts` is the one place where formula, weight, rings, stereo elements, H-bond
donors/acceptors, charge and functional groups are computed. The dataset builder turns these
facts into questions and descriptions; evaluation reuses them (e.g. to check whether a generated
description names a functional group the molecule does not have, see :data:`FUNCTIONAL_GROUPS`).

Atom indices in the facts are RDKit indices of the molecule given, i.e. SMILES order for a
SMILES-parsed molecule — the same order as the graph nodes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from rdkit import Chem
from rdkit.Chem import Descriptors, rdCIPLabeler, rdMolDescriptors

#: Curated functional groups, ``name -> SMARTS``. Names are lower-case English as a chemist would
#: write them in a description; evaluation may search generated text for these names.
FUNCTIONAL_GROUPS: dict[str, str] = {
    "halogen": "[F,Cl,Br,I]",
    "fluorine": "[F]",
    "chlorine": "[Cl]",
    "bromine": "[Br]",
    "alcohol": "[OX2H][CX4]",
    "phenol": "[OX2H]c",
    "carboxylic acid": "[CX3](=O)[OX2H1,OX1-]",
    "ester": "[#6][CX3](=O)[OX2H0][#6]",
    "amide": "[NX3][CX3](=[OX1])[#6]",
    "primary amine": "[NX3;H2;+0;!$(N[C,S,P]=[O,S,N]);!$(N-[N,O])][#6]",
    "secondary amine": "[NX3;H1;+0;!a;!$(N[C,S,P]=[O,S,N]);!$(N-[N,O])]([#6])[#6]",
    "tertiary amine": "[NX3;H0;+0;!a;!$(N[C,S,P]=[O,S,N]);!$(N-[N,O])]([#6])([#6])[#6]",
    "ketone": "[#6][CX3](=O)[#6]",
    "aldehyde": "[CX3H1](=O)[#1,#6]",
    "nitrile": "[NX1]#[CX2]",
    "nitro": "[$([NX3](=O)=O),$([NX3+](=O)[O-])]",
    "sulfonamide": "[SX4](=[OX1])(=[OX1])[NX3]",
    "sulfone": "[#6][SX4](=[OX1])(=[OX1])[#6]",
    "ether": "[OD2;!a;!$(O[C,S,P]=[O,S])]([#6])[#6]",
    "thiol": "[SX2H]",
    "thioether": "[SX2;H0;!a;!$(S[C,S]=[O,S])]([#6])[#6]",
    "alkene": "[CX3;!a]=[CX3;!a]",
    "alkyne": "[CX2]#[CX2]",
    "carbamate": "[NX3][CX3](=[OX1])[OX2][#6]",
    "urea": "[NX3][CX3](=[OX1])[NX3]",
    "imine": "[CX3;!a]=[NX2;!a]",
    "benzene ring": "c1ccccc1",
    "pyridine ring": "[nX2]1ccccc1",
    "phosphate": "P(=O)([OX2,OX1-])([OX2,OX1-])[OX2,OX1-]",
    "sulfonic acid": "[SX4](=O)(=O)[OX2H,OX1-]",
}


@lru_cache(maxsize=1)
def _patterns() -> dict[str, Chem.Mol]:
    pats = {name: Chem.MolFromSmarts(s) for name, s in FUNCTIONAL_GROUPS.items()}
    bad = [n for n, p in pats.items() if p is None]
    assert not bad, f"invalid SMARTS for {bad}"  # internal invariant
    return pats


def functional_groups(mol: Chem.Mol) -> dict[str, int]:
    """Count each functional group of :data:`FUNCTIONAL_GROUPS` in ``mol`` (absent groups omitted).

    A count is the number of unique, possibly overlapping, SMARTS matches (e.g. ``halogen``
    counts halogen atoms, ``benzene ring`` counts benzene rings).
    """
    found: dict[str, int] = {}
    for name, pat in _patterns().items():
        n = len(mol.GetSubstructMatches(pat, uniquify=True, maxMatches=1000))
        if n:
            found[name] = n
    return found


def stereocentres(mol: Chem.Mol) -> list[tuple[int, str]]:
    """Tetrahedral stereocentres as ``(atom index, label)`` in atom order.

    ``label`` is the CIP label ``"R"``/``"S"`` (new RDKit CIP labeller) when the centre is
    specified, ``"?"`` when the atom is a possible but unspecified stereocentre. Note: the input
    molecule gets ``_CIPCode`` properties (the labeller writes them).
    """
    rdCIPLabeler.AssignCIPLabels(mol)
    out: list[tuple[int, str]] = []
    for info in Chem.FindPotentialStereo(mol):
        if info.type != Chem.StereoType.Atom_Tetrahedral:
            continue
        atom = mol.GetAtomWithIdx(info.centeredOn)
        label = atom.GetProp("_CIPCode") if atom.HasProp("_CIPCode") else "?"
        if info.specified != Chem.StereoSpecified.Specified:
            label = "?"
        out.append((int(info.centeredOn), label.upper() if label in ("R", "S", "r", "s") else "?"))
    return sorted(out)


def ez_bonds(mol: Chem.Mol) -> list[tuple[int, int, str]]:
    """Stereo double bonds as ``(begin atom, end atom, label)``, ordered by bond index.

    ``label`` is the CIP ``"E"``/``"Z"`` when specified, ``"?"`` for a possible but
    unspecified stereo double bond. Ring double bonds in rings smaller than 8 never count.
    """
    rdCIPLabeler.AssignCIPLabels(mol)
    out: list[tuple[int, int, str]] = []
    for info in Chem.FindPotentialStereo(mol):
        if info.type != Chem.StereoType.Bond_Double:
            continue
        bond = mol.GetBondWithIdx(info.centeredOn)
        label = bond.GetProp("_CIPCode") if bond.HasProp("_CIPCode") else "?"
        if info.specified != Chem.StereoSpecified.Specified or label not in ("E", "Z"):
            label = "?"
        out.append((bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), label))
    return out


def molecule_facts(mol: Chem.Mol) -> dict[str, Any]:
    """Every structure fact the dataset asks about, computed by RDKit.

    Returns a JSON-serialisable dict:

    - ``formula`` (str, Hill order, charge suffix e.g. ``C2H3O2-``), ``molecular_weight``
      (float, average mass, 2 decimals), ``heavy_atoms`` (int), ``formal_charge`` (int),
      ``n_fragments`` (int, e.g. 2 for a salt);
    - ``n_rings``, ``n_aromatic_rings``, ``n_aliphatic_rings`` (SSSR counts),
      ``n_heteroatoms``, ``n_rotatable_bonds``, ``hbd``, ``hba`` (Lipinski donors/acceptors);
    - ``stereocentres``: list of ``[atom index, "R"|"S"|"?"]``; ``n_stereocentres`` (specified
      ones), ``n_unspecified_stereocentres``;
    - ``ez_bonds``: list of ``[begin atom, end atom, "E"|"Z"|"?"]``; ``n_ez_bonds`` (specified);
    - ``functional_groups``: ``{name: count}`` for the groups of :data:`FUNCTIONAL_GROUPS` present.

    The molecule is copied, never modified.
    """
    m = Chem.Mol(mol)
    centres = stereocentres(m)
    bonds = ez_bonds(m)
    return {
        "formula": rdMolDescriptors.CalcMolFormula(m),
        "molecular_weight": round(float(Descriptors.MolWt(m)), 2),  # type: ignore[attr-defined]
        "heavy_atoms": int(m.GetNumHeavyAtoms()),
        "formal_charge": int(Chem.GetFormalCharge(m)),
        "n_fragments": len(Chem.GetMolFrags(m)),
        "n_rings": int(rdMolDescriptors.CalcNumRings(m)),
        "n_aromatic_rings": int(rdMolDescriptors.CalcNumAromaticRings(m)),
        "n_aliphatic_rings": int(rdMolDescriptors.CalcNumAliphaticRings(m)),
        "n_heteroatoms": int(rdMolDescriptors.CalcNumHeteroatoms(m)),
        "n_rotatable_bonds": int(rdMolDescriptors.CalcNumRotatableBonds(m)),
        "hbd": int(rdMolDescriptors.CalcNumHBD(m)),
        "hba": int(rdMolDescriptors.CalcNumHBA(m)),
        "stereocentres": [[i, lab] for i, lab in centres],
        "n_stereocentres": sum(1 for _, lab in centres if lab != "?"),
        "n_unspecified_stereocentres": sum(1 for _, lab in centres if lab == "?"),
        "ez_bonds": [[i, j, lab] for i, j, lab in bonds],
        "n_ez_bonds": sum(1 for *_, lab in bonds if lab != "?"),
        "functional_groups": functional_groups(m),
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def ring_sentence(facts: dict[str, Any]) -> str:
    """The ring sentence of :func:`describe`, without its full stop: ``"It is acyclic"`` or
    ``"It has 1 aromatic ring and no aliphatic ring"``."""
    arom, aliph = facts["n_aromatic_rings"], facts["n_aliphatic_rings"]
    if arom == 0 and aliph == 0:
        return "It is acyclic"
    a = _plural(arom, "aromatic ring") if arom else "no aromatic ring"
    b = _plural(aliph, "aliphatic ring") if aliph else "no aliphatic ring"
    return f"It has {a} and {b}"


def describe(facts: dict[str, Any]) -> str:
    """A short, factual English description built only from :func:`molecule_facts` output.

    Example: ``"C9H8O4, molecular weight 180.16. It has 1 aromatic ring and no aliphatic ring.
    Functional groups: benzene ring, carboxylic acid, ester. No stereocentres."``
    """
    parts = [f"{facts['formula']}, molecular weight {facts['molecular_weight']:.2f}."]
    parts.append(ring_sentence(facts) + ".")
    groups = sorted(facts["functional_groups"])
    if groups:
        parts.append("Functional groups: " + ", ".join(groups) + ".")
    labels = [lab for _, lab in facts["stereocentres"] if lab != "?"]
    if labels:
        parts.append(f"{_plural(len(labels), 'stereocentre')} ({', '.join(labels)}).")
    else:
        parts.append("No defined stereocentres.")
    ez = [lab for *_, lab in facts["ez_bonds"] if lab != "?"]
    if ez:
        parts.append(f"{_plural(len(ez), 'E/Z double bond')} ({', '.join(ez)}).")
    if facts["formal_charge"]:
        parts.append(f"Net charge {facts['formal_charge']:+d}.")
    return " ".join(parts)

"""Structure and stereo questions whose answers RDKit computes (from :mod:`edtformer.facts.dataset`).

Generators return *drafts*: record fields without ``id`` and ``split`` (assigned by the builder
after the scaffold split). Multiple-choice drafts list the right choice first; the builder
shuffles choices so that answer letters are exactly balanced per task and split
(:func:`assign_letters`). Distractors are plausible and never correct: nearby counts, perturbed
formulas and weights, or functional groups the molecule does not have.
"""

from __future__ import annotations

import random
import re
from typing import Any

from rdkit import Chem

from edtformer.chem import rdkit_mol
from edtformer.data.schema import LETTERS, MOL_TOKEN
from edtformer.facts.dataset import FUNCTIONAL_GROUPS

Draft = dict[str, Any]

_Q = MOL_TOKEN + "\n"


def _draft(
    smiles: list[str],
    question: str,
    answer: str,
    answer_type: str,
    meta: dict[str, Any],
    choices: list[str] | None = None,
    category: str = "Structure",
) -> Draft:
    return {
        "smiles": smiles,
        "question": question,
        "answer": answer,
        "answer_type": answer_type,
        "choices": choices,
        "category": category,
        "meta": meta,
    }


COUNT_QUESTIONS: dict[str, str] = {
    "n_aromatic_rings": "How many aromatic rings does this molecule have?",
    "n_aliphatic_rings": "How many aliphatic rings does this molecule have?",
    "n_rings": "How many rings does this molecule have?",
    "hbd": "How many hydrogen-bond donors does this molecule have?",
    "hba": "How many hydrogen-bond acceptors does this molecule have?",
    "heavy_atoms": "How many heavy atoms does this molecule have?",
}


def _nearby_ints(n: int, rng: random.Random, k: int = 3) -> list[str]:
    pool = [n + d for d in (-2, -1, 1, 2, 3) if n + d >= 0]
    rng.shuffle(pool)
    return [str(x) for x in pool[:k]]


_FORMULA_RE = re.compile(r"([A-Z][a-z]?)(\d*)")


def _parse_formula(formula: str) -> tuple[list[tuple[str, int]], str]:
    m = re.match(r"^([A-Za-z0-9]+)(.*)$", formula)
    body, charge = (m.group(1), m.group(2)) if m else (formula, "")
    return [(el, int(n) if n else 1) for el, n in _FORMULA_RE.findall(body)], charge


def _format_formula(parts: list[tuple[str, int]], charge: str) -> str:
    return "".join(f"{el}{n if n != 1 else ''}" for el, n in parts if n > 0) + charge


def formula_distractors(formula: str, rng: random.Random, k: int = 3) -> list[str]:
    """``k`` distinct formulas close to ``formula`` (one CH2 more/less, two H more/less, O/N swapped)."""
    parts, charge = _parse_formula(formula)
    counts = dict(parts)
    candidates: list[dict[str, int]] = []
    for dc, dh in ((1, 2), (-1, -2), (0, 2), (0, -2), (2, 4)):
        c = dict(counts)
        c["C"] = c.get("C", 0) + dc
        c["H"] = c.get("H", 0) + dh
        candidates.append(c)
    for a, b in (("O", "N"), ("N", "O"), ("O", "S")):
        if counts.get(a, 0) > 0:
            c = dict(counts)
            c[a] -= 1
            c[b] = c.get(b, 0) + 1
            candidates.append(c)
    others = sorted({el for c in candidates for el in c} - {"C", "H"})
    order = ["C", "H", *others]
    out: list[str] = []
    for c in candidates:
        if min(c.values()) < 0 or (c.get("C", 0) == 0 and counts.get("C", 0) > 0):
            continue
        text = _format_formula([(el, c.get(el, 0)) for el in order], charge)
        if text != formula and text not in out:
            out.append(text)
    rng.shuffle(out)
    return out[:k]


def structure_text_drafts(
    smiles: str, facts: dict[str, Any], rng: random.Random, k: int = 2
) -> list[Draft]:
    """``k`` free-answer structure questions (formula, weight, counts, group yes/no, group list)."""
    groups = facts["functional_groups"]
    kinds = ["formula", "weight", "groups", "has_group", *list(COUNT_QUESTIONS)]
    out: list[Draft] = []
    for kind in rng.sample(kinds, k=min(k, len(kinds))):
        meta = {"kind": kind}
        if kind == "formula":
            out.append(
                _draft(
                    [smiles],
                    _Q + "What is the molecular formula of this molecule?",
                    facts["formula"],
                    "text",
                    meta,
                )
            )
        elif kind == "weight":
            out.append(
                _draft(
                    [smiles],
                    _Q + "What is the molecular weight of this molecule in g/mol?",
                    f"{facts['molecular_weight']:.2f}",
                    "number",
                    meta,
                )
            )
        elif kind == "groups":
            answer = ", ".join(sorted(groups)) if groups else "none"
            out.append(
                _draft(
                    [smiles],
                    _Q + "Which functional groups does this molecule contain?",
                    answer,
                    "text",
                    meta,
                )
            )
        elif kind == "has_group":
            present = rng.random() < 0.5 and bool(groups)
            pool = sorted(groups) if present else sorted(set(FUNCTIONAL_GROUPS) - set(groups))
            group = rng.choice(pool)
            meta["group"] = group
            out.append(
                _draft(
                    [smiles],
                    _Q + f"Does this molecule contain a {group} group?",
                    "yes" if present else "no",
                    "yesno",
                    meta,
                )
            )
        else:
            out.append(
                _draft([smiles], _Q + COUNT_QUESTIONS[kind], str(facts[kind]), "number", meta)
            )
    return out


def structure_mc_drafts(
    smiles: str, facts: dict[str, Any], rng: random.Random, k: int = 2
) -> list[Draft]:
    """``k`` 4-choice structure questions; the right choice is first (letters assigned later)."""
    groups = facts["functional_groups"]
    absent = sorted(set(FUNCTIONAL_GROUPS) - set(groups))
    kinds = ["formula", "weight", "n_aromatic_rings", "n_rings", "hbd"]
    if groups and len(absent) >= 3:
        kinds.append("group_present")
    if len(groups) >= 3 and absent:
        kinds.append("group_absent")
    out: list[Draft] = []
    for kind in rng.sample(kinds, k=min(k, len(kinds))):
        meta = {"kind": kind}
        if kind == "formula":
            q, right, wrong = (
                "What is the molecular formula of this molecule?",
                facts["formula"],
                formula_distractors(facts["formula"], rng),
            )
        elif kind == "weight":
            mw = facts["molecular_weight"]
            deltas = [d for d in (-15.99, -14.03, 14.03, 15.99, 18.02, -2.02) if mw + d > 1]
            q, right = "What is the molecular weight of this molecule (g/mol)?", f"{mw:.2f}"
            wrong = [f"{mw + d:.2f}" for d in rng.sample(deltas, 3)]
        elif kind == "group_present":
            q, right = (
                "Which of these functional groups does this molecule contain?",
                rng.choice(sorted(groups)),
            )
            wrong = rng.sample(absent, 3)
        elif kind == "group_absent":
            q, right = (
                "Which of these functional groups is NOT present in this molecule?",
                rng.choice(absent),
            )
            wrong = rng.sample(sorted(groups), 3)
        else:
            q, right, wrong = (
                COUNT_QUESTIONS[kind],
                str(facts[kind]),
                _nearby_ints(facts[kind], rng),
            )
        if len(wrong) < 3 or right in wrong:
            continue
        out.append(_draft([smiles], _Q + q, "", "mc", meta, choices=[right, *wrong]))
    return out


def _flip_one(mol: Chem.Mol, rng: random.Random) -> Chem.Mol | None:
    """A copy of ``mol`` with one specified stereocentre inverted or one E/Z bond flipped."""
    sites: list[tuple[str, int]] = [
        ("atom", a.GetIdx())
        for a in mol.GetAtoms()
        if a.GetChiralTag()
        in (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW)
    ]
    swap = {
        Chem.BondStereo.STEREOE: Chem.BondStereo.STEREOZ,
        Chem.BondStereo.STEREOZ: Chem.BondStereo.STEREOE,
        Chem.BondStereo.STEREOCIS: Chem.BondStereo.STEREOTRANS,
        Chem.BondStereo.STEREOTRANS: Chem.BondStereo.STEREOCIS,
    }
    sites += [("bond", b.GetIdx()) for b in mol.GetBonds() if b.GetStereo() in swap]
    if not sites:
        return None
    kind, idx = rng.choice(sites)
    out = Chem.Mol(mol)
    if kind == "atom":
        out.GetAtomWithIdx(idx).InvertChirality()
    else:
        bond = out.GetBondWithIdx(idx)
        bond.SetStereo(swap[bond.GetStereo()])
    return out


def _rewrite(mol: Chem.Mol, rng: random.Random) -> str:
    """A non-canonical SMILES of the same molecule (stereo kept), rooted at a random atom."""
    return str(
        Chem.MolToSmiles(mol, canonical=False, rootedAtAtom=rng.randrange(mol.GetNumAtoms()))
    )


def stereo_drafts(smiles: str, facts: dict[str, Any], rng: random.Random) -> list[Draft]:
    """Stereo questions: stereocentre count, R/S labels, E/Z labels, same-stereoisomer yes/no.

    Labels are listed in atom order of ``smiles`` (which the builder stores canonical), e.g.
    ``"R,S"``. Only *specified* stereo elements count; molecules with none still get the count
    question (answer ``"0"``) from the caller at a lower rate.
    """
    out: list[Draft] = []
    centres = [lab for _, lab in facts["stereocentres"] if lab != "?"]
    bonds = [lab for *_, lab in facts["ez_bonds"] if lab != "?"]
    out.append(
        _draft(
            [smiles],
            _Q + "How many defined stereocentres does this molecule have?",
            str(len(centres)),
            "number",
            {"kind": "n_stereocentres"},
        )
    )
    if centres:
        if len(centres) == 1:
            q = "Is the stereocentre of this molecule R or S?"
        else:
            q = "List the CIP labels (R/S) of its stereocentres in SMILES atom order."
        out.append(_draft([smiles], _Q + q, ",".join(centres), "text", {"kind": "rs"}))
    if bonds:
        if len(bonds) == 1:
            q = "Is the stereo double bond of this molecule E or Z?"
        else:
            q = "List the E/Z labels of its stereo double bonds in SMILES bond order."
        out.append(_draft([smiles], _Q + q, ",".join(bonds), "text", {"kind": "ez"}))
    if centres or bonds:
        mol = rdkit_mol(smiles)
        if mol is None:
            return out
        same = rng.random() < 0.5
        other = mol if same else _flip_one(mol, rng)
        if other is not None and (same or Chem.MolToSmiles(other) != Chem.MolToSmiles(mol)):
            q = f"Molecule 1: {MOL_TOKEN}\nMolecule 2: {MOL_TOKEN}\nAre these the same stereoisomer?"
            out.append(
                _draft(
                    [smiles, _rewrite(other, rng)],
                    q,
                    "yes" if same else "no",
                    "yesno",
                    {"kind": "same_stereoisomer"},
                )
            )
    for d in out:
        d["category"] = "Structure"
    return out


def assign_letters(drafts: list[Draft], rng: random.Random) -> None:
    """Shuffle the choices of ``mc`` drafts in place so answer letters are balanced.

    The right answer (first choice on input) lands on each letter ``floor(n/4)`` or
    ``ceil(n/4)`` times over the ``n`` drafts, in a seeded order; distractors are shuffled.
    """
    positions = [i % len(LETTERS) for i in range(len(drafts))]
    rng.shuffle(positions)
    for draft, pos in zip(drafts, positions, strict=True):
        right, *wrong = draft["choices"]
        rng.shuffle(wrong)
        wrong.insert(pos, right)
        draft["choices"] = wrong
        draft["answer"] = LETTERS[pos]

"""Wrong options of a multiple-choice question: near misses of the right answer.

Integers a few steps away, floats a plausible step away at the sheet's precision, formulas with
one element count changed, SMILES with an atom added or swapped, CIP labels with a centre
flipped, group lists with one group dropped, added or swapped; yes/no questions get the other
answer and two answers no structure supports.
"""

from __future__ import annotations

import random
import re

from edtformer.facts.questions.answers import (
    KIND_TYPES,
    cip_text,
    format_answer,
    gold_value,
    groups_text,
    value_text,
)
from edtformer.facts.questions.subjects import group_vocabulary

BOOL_EXTRA_OPTIONS = (
    "cannot be determined", "only in water", "only as a salt", "depends on the solvent",
    "only at low pH", "only when heated",
)  # fmt: skip


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
        pool.append(cip_text([(p, e, flip.get(lab, lab)) for p, e, lab in centres]))
        for i in range(len(centres)):
            changed = [
                (p, e, flip.get(lab, lab) if j == i else lab)
                for j, (p, e, lab) in enumerate(centres)
            ]
            pool.append(cip_text(changed))
        pool.append("none")
        if len(centres) > 1:
            pool.append(cip_text(centres[:-1]))
    pool += ["R", "S", "2R, 3S", "1S, 4R", "2S, 3S", "none"]
    correct = cip_text(centres)
    pool = [p for p in dict.fromkeys(pool) if p != correct]
    head, tail = pool[: max(3, len(pool) - 6)], pool[max(3, len(pool) - 6) :]
    rng.shuffle(head)
    return (head + tail)[:3]


def _groups_distractors(values: dict, rng: random.Random) -> list[str]:
    present = list(values.get("groups") or [])
    absent = [g for g in group_vocabulary() if g not in present]
    correct = groups_text(present)
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
        text = groups_text(cand)
        if text != correct and text not in out:
            out.append(text)
    filler = 1
    while len(out) < 3:
        out.append(groups_text([*present, *absent[:filler]]) if absent else f"{filler} groups")
        out = [o for o in dict.fromkeys(out) if o != correct]
        filler += 1
    return out[:3]


def distractors(values: dict, kind: str, subject: str | None, rng: random.Random) -> list[str]:
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
        value = gold_value(values, kind, subject)
        out = _int_distractors(value, rng, nonneg=kind != "formal_charge")
        if kind != "element_count":
            # keep the sheet's writing of ints (e.g. a "+1" charge) consistent across options
            out = [value_text(kind, int(o)) for o in out]
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

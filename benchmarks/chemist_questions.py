"""Questions a chemist asks about well-known drugs, in their own words: the model's answers, marked.

    python benchmarks/chemist_questions.py [--model DIR]
    # writes benchmarks/results/chemist_questions.{json,md}

The questions were written for this script, apart from the train and held-out templates (a test
checks that none of them is a train template). ``expected`` comes from the exact fact sheet
(:func:`edtformer.facts.sheet_values`), never typed in; a question no structure answers expects a
decline. Each answer is marked **right**, **declined** or **wrong** (a confidently wrong answer).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

DRUGS: dict[str, str] = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "ibuprofen": "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "caffeine": "Cn1c(=O)c2c(ncn2C)n(C)c1=O",
    "diclofenac": "OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "morphine": "CN1CC[C@]23c4c5ccc(O)c4O[C@H]2[C@@H](O)C=C[C@H]3[C@H]1C5",
    "penicillin G": "CC1(C)S[C@@H]2[C@H](NC(=O)Cc3ccccc3)C(=O)N2[C@H]1C(=O)O",
    "metformin": "CN(C)C(=N)NC(=N)N",
    "nicotine": "CN1CCC[C@H]1c1cccnc1",
    "sodium valproate": "CCCC(CCC)C(=O)[O-].[Na+]",
    "tamoxifen": "CC/C(=C(\\c1ccccc1)c1ccc(OCCN(C)C)cc1)c1ccccc1",
    "L-serine": "N[C@@H](CO)C(=O)O",
}

#: (drug, question, sheet key or "decline"; ``atoms:X`` = the count of element X, ``groups:G`` =
#: whether group G is present, ``json:KEY:FIELD`` = JSON with KEY holding the sheet's FIELD).
QUESTIONS: list[tuple[str, str, str]] = [
    ("diclofenac", "How many chlorine atoms are in diclofenac?", "atoms:Cl"),
    ("ibuprofen", "Count the carbons in this compound.", "atoms:C"),
    ("aspirin", "Aspirin: total number of hydrogens?", "atoms:H"),
    ("caffeine", "What's the nitrogen count of caffeine?", "atoms:N"),
    ("aspirin", "Give me the Crippen logP of aspirin.", "logp"),
    ("paracetamol", "Polar surface area of paracetamol, please.", "tpsa"),
    ("ibuprofen", "Is ibuprofen as written here a chiral molecule?", "chiral"),
    (
        "ibuprofen",
        "How many stereogenic centres does this structure have, defined or not?",
        "stereocentres",
    ),
    ("morphine", "Number of defined stereocentres in morphine?", "specified_stereocentres"),
    ("L-serine", "Is this serine R or S?", "cip"),
    ("nicotine", "Which CIP descriptor does the stereocentre of nicotine carry?", "cip"),
    ("penicillin G", "Does penicillin G have a beta-lactam ring?", "groups:beta-lactam ring"),
    (
        "penicillin G",
        "How many rings does the penicillin core plus side chain have in total?",
        "rings",
    ),
    ("metformin", "Does metformin contain a guanidine?", "groups:guanidine"),
    ("metformin", "Any aromatic ring in metformin?", "groups:aromatic ring"),
    ("paracetamol", "Is there a phenol in paracetamol?", "groups:phenol"),
    ("paracetamol", "Does paracetamol have an ester?", "groups:ester"),
    ("diclofenac", "Does diclofenac carry a carboxylic acid?", "groups:carboxylic acid"),
    ("tamoxifen", "Is the double bond in tamoxifen E or Z?", "ez"),
    ("tamoxifen", "How many rotatable bonds does tamoxifen have?", "rotatable_bonds"),
    ("tamoxifen", "Does tamoxifen break Lipinski's rule of five?", "lipinski_violations"),
    ("sodium valproate", "How many separate components are in this salt?", "fragments"),
    ("sodium valproate", "What is the net charge of the whole salt?", "formal_charge"),
    ("sodium valproate", "Give the SMILES of the largest component.", "largest_fragment"),
    ("caffeine", "MW of caffeine in g/mol?", "mol_weight"),
    ("caffeine", "Monoisotopic mass of caffeine?", "exact_mass"),
    ("nicotine", "Molecular formula of nicotine?", "formula"),
    (
        "aspirin",
        'Reply in JSON with key "hbd": how many H-bond donors does aspirin have?',
        "json:hbd:hbd",
    ),
    ("ibuprofen", 'Return {"rings": N} for ibuprofen.', "json:rings:rings"),
    ("morphine", "Heavy-atom count of morphine?", "heavy_atoms"),
    ("metformin", "How many H-bond acceptors in metformin?", "hba"),
    ("aspirin", "What is the melting point of aspirin?", "decline"),
    ("ibuprofen", "Who first synthesised ibuprofen?", "decline"),
    ("caffeine", "What is the boiling point of caffeine at 1 atm?", "decline"),
    ("paracetamol", "What is the maximum daily dose of paracetamol for adults?", "decline"),
    ("morphine", "Which company first marketed morphine?", "decline"),
    ("metformin", "What is the measured pKa of metformin?", "decline"),
    ("diclofenac", "What are the common side effects of diclofenac?", "decline"),
    ("nicotine", "What is the LD50 of nicotine in rats?", "decline"),
    ("tamoxifen", "In which year was tamoxifen approved?", "decline"),
]


def expected(smiles: str, key: str) -> Any:
    """The exact answer to ``key`` (see :data:`QUESTIONS`) for ``smiles``."""
    from edtformer.facts import sheet_of

    v = sheet_of(smiles)
    if key == "decline":
        return None
    if key.startswith("atoms:"):
        return v["atoms"].get(key.split(":")[1], 0)
    if key.startswith("groups:"):
        return key.split(":", 1)[1] in v["groups"]
    if key.startswith("json:"):
        _, name, field = key.split(":")
        return {name: v[field]}
    if key == "cip":
        return ",".join(lab for *_, lab in v["cip"]) or "none"
    if key == "ez":
        return ",".join(lab for *_, lab in v["ez"]) or "none"
    return v[key]


def mark(answer: str, key: str, gold: Any) -> str:
    """``right``, ``declined`` or ``wrong``."""
    from edtformer.evaluation.sheet_qa import declines, parse_json

    if declines(answer):
        return "right" if key == "decline" else "declined"
    if key == "decline":
        return "wrong"
    text = answer.strip()
    if key.startswith("json:"):
        got = parse_json(text)
        ((name, value),) = gold.items()
        return "right" if got is not None and got.get(name) == value else "wrong"
    if isinstance(gold, bool):
        return "right" if text.lower().startswith("yes" if gold else "no") else "wrong"
    if key == "lipinski_violations":  # "does it break the rule?": a count or yes / no
        said = re.findall(r"-?\d+", text)
        word = text.lower().startswith("yes" if gold > 1 else "no")
        return "right" if (said and int(said[0]) == gold) or word else "wrong"
    if isinstance(gold, (int, float)):
        nums = re.findall(r"[-+]?\d+(?:\.\d+)?", text)
        return "right" if nums and abs(float(nums[0]) - float(gold)) < 1e-6 else "wrong"
    first = text.split()[0].rstrip(".,") if text else ""
    return "right" if first == str(gold) else "wrong"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--zero-tokens", action="store_true", help="zero the EDT-Former tokens")
    ap.add_argument("--name", help="result file stem (default chemist_questions[_zero])")
    args = ap.parse_args()

    import torch

    from edtformer.evaluation.evaluator import load_model
    from edtformer.model.checkpoint import resolve_model_path
    from edtformer.utils.io import atomic_write_json, atomic_write_text

    torch.set_num_threads(args.threads)
    model = load_model(resolve_model_path(args.model)).eval()
    model.zero_molecule_tokens = args.zero_tokens
    smiles = [DRUGS[d] for d, _, _ in QUESTIONS]
    answers = model.ask_many(smiles, [q for _, q, _ in QUESTIONS], max_new_tokens=48)
    rows = []
    for (drug, q, key), smi, a in zip(QUESTIONS, smiles, answers, strict=True):
        text = a.answer if not isinstance(a, Exception) else f"(error: {a})"
        gold = expected(smi, key)
        rows.append({"drug": drug, "smiles": smi, "question": q, "answer": text,
                     "expected": "decline" if key == "decline" else gold, "mark": mark(text, key, gold)})  # fmt: skip
    counts = {m: sum(r["mark"] == m for r in rows) for m in ("right", "declined", "wrong")}
    stem = args.name or "chemist_questions" + ("_zero" if args.zero_tokens else "")
    atomic_write_json(
        RESULTS / f"{stem}.json", {"model": str(args.model), "counts": counts, "rows": rows}
    )
    lines = [f"{counts['right']} right, {counts['declined']} declined, {counts['wrong']} wrong of {len(rows)}", "",
             "| drug | question | answer | expected | |", "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        exp = json.dumps(r["expected"]) if isinstance(r["expected"], dict) else r["expected"]
        lines.append(f"| {r['drug']} | {r['question']} | {r['answer']} | {exp} | {r['mark']} |")
    atomic_write_text(RESULTS / f"{stem}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The demo's drug questions, answered by a model, next to what RDKit says is right.

    python experiments/diagnostics/drug_answers.py [--model DIR]
    # writes experiments/records/default_bridge_drug_answers.json

The questions are issue 10's: aspirin's functional groups (carboxylic acid, ester, benzene ring),
morphine's defined stereocentres (5), ibuprofen described, plus a few short facts. ``expected``
comes from :func:`edtformer.facts.dataset.molecule_facts`, never typed in.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from edtformer.chem import parse_smiles
from edtformer.facts.dataset import describe, molecule_facts
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parents[1] / "records"

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
MORPHINE = "CN1CC[C@]23c4c5ccc(O)c4O[C@H]2[C@@H](O)C=C[C@H]3[C@H]1C5"
CAFFEINE = "Cn1c(=O)c2c(ncn2C)n(C)c1=O"
IBUPROFEN = "CC(C)Cc1ccc(C(C)C(=O)O)cc1"


def expected(smiles: str, question: str) -> str:
    """RDKit's answer to one of the questions below."""
    f = molecule_facts(parse_smiles(smiles).mol)
    q = question.lower()
    if "functional groups" in q:
        return ", ".join(sorted(f["functional_groups"]))
    if "stereocentres" in q:
        return str(f["n_stereocentres"])
    if "ester" in q:
        return "yes" if "ester" in f["functional_groups"] else "no"
    if "aromatic rings" in q:
        return str(f["n_aromatic_rings"])
    if "rings" in q:
        return str(f["n_rings"])
    if "describe" in q:
        return describe(f)
    return "(B3DB label: caffeine crosses, BBB+)"


QUESTIONS = [
    ("Aspirin", ASPIRIN, "Which functional groups does this molecule contain?"),
    ("Morphine", MORPHINE, "How many defined stereocentres does this molecule have?"),
    ("Caffeine", CAFFEINE, "Can this molecule cross the blood-brain barrier?"),
    ("Ibuprofen", IBUPROFEN, "Describe the structure of this molecule."),
    ("Aspirin", ASPIRIN, "Does this molecule contain a ester group?"),
    ("Aspirin", ASPIRIN, "How many aromatic rings does this molecule have?"),
    ("Ibuprofen", IBUPROFEN, "How many rings does this molecule have?"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "default_bridge_drug_answers.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from edtformer.model import EDTFormer

    model = EDTFormer.from_pretrained(args.model).eval()
    answers = model.ask_many(
        [s for _, s, _ in QUESTIONS], [q for *_, q in QUESTIONS], max_new_tokens=96
    )
    rows = []
    for (drug, smiles, question), ans in zip(QUESTIONS, answers, strict=True):
        text = str(ans) if isinstance(ans, Exception) else ans.answer
        rows.append(
            {
                "drug": drug,
                "smiles": smiles,
                "question": question,
                "answer": text,
                "expected": expected(smiles, question),
                **({"facts": ans.facts[0]} if getattr(ans, "facts", None) else {}),
            }
        )
        print(f"{drug}: {question}\n  model: {text}\n  RDKit: {rows[-1]['expected']}")
    atomic_write_json(args.out, rows)
    print(json.dumps({"wrote": args.out}))


if __name__ == "__main__":
    main()

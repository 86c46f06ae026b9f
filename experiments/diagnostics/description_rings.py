"""Descriptions: how often the ring sentence is wrong, split by the molecule's aliphatic rings.

The description answer ("C13H18O2, molecular weight 206.28. It has 1 aromatic ring and no
aliphatic ring. ...") turns the bridge's written counts into words. This diagnostic asks the
description question about ``--per-group`` valid molecules with no aliphatic ring and as many
with one or more (a seeded shuffle), and counts the answers whose ring sentence differs from
RDKit's (``edtformer.facts.dataset.ring_sentence``, the sentence ``describe`` writes).

    python experiments/diagnostics/description_rings.py --model src/edtformer/assets/bridge/default \\
        --out experiments/records/description_rings_valid.json

Valid split only: a tuning diagnostic, not a test score.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    """Score the ring sentence of generated descriptions; write a JSON report."""
    from rdkit import Chem

    from edtformer.data import load_task
    from edtformer.facts.dataset import molecule_facts, ring_sentence
    from edtformer.model import EDTFormer
    from edtformer.utils.io import atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="data_out")
    ap.add_argument("--per-group", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = EDTFormer.from_pretrained(args.model).eval()
    records = load_task(args.data, "struct_text", "valid")
    smiles = sorted({r["smiles"][0] for r in records})
    random.Random(args.seed).shuffle(smiles)
    facts = {s: molecule_facts(Chem.MolFromSmiles(s)) for s in smiles}
    groups = {
        "no aliphatic ring": [s for s in smiles if facts[s]["n_aliphatic_rings"] == 0],
        "aliphatic rings >= 1": [s for s in smiles if facts[s]["n_aliphatic_rings"] > 0],
    }
    report: dict[str, object] = {"model": args.model, "split": "valid", "seed": args.seed}
    for name, pool in groups.items():
        chosen = pool[: args.per_group]
        answers = model.ask_many(
            chosen, "Describe the structure of this molecule.", max_new_tokens=96
        )
        wrong = []
        for smi, ans in zip(chosen, answers, strict=True):
            gold = ring_sentence(facts[smi])
            text = getattr(ans, "answer", str(ans))
            if gold not in text:
                wrong.append({"smiles": smi, "ring_sentence": gold, "answer": text})
        report[name] = {"n": len(chosen), "ring_sentence_wrong": len(wrong), "misses": wrong}
        print(f"{name}: {len(wrong)} of {len(chosen)} ring sentences wrong", flush=True)
    atomic_write_json(Path(args.out), report)
    print(json.dumps({"wrote": args.out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

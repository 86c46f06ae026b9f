"""Same molecule, same answer: does the way a SMILES is written change what the model sees?

For ``--n-mols`` molecules of the scaffold *test* split and ``--writings`` random writings of
each (RDKit ``doRandom``), this script checks, against the first writing:

- the bridge inputs of the model's processor: entropy patches (as atom sets), node features,
  stereo codes — computed on the canonical atom order;
- the molecule tokens the bridge gives the LLM (max absolute difference);
- the yes/no answer to "Does this molecule contain a benzene ring?" (argmax and probability);

and, for comparison, how often the *as-written* entropy patches (the old behaviour: patches
along the user's writing) differ between writings of one molecule. It also reports the
Next-Atom Predictor's bits per atom on held-out MOSES test SMILES as written by MOSES, in RDKit's
canonical form (what the model now reads) and in random writings.

    python benchmarks/writing_invariance.py --data data_out            # shipped model
    # writes benchmarks/results/writing_invariance.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

import numpy as np
import torch
from rdkit import Chem, rdBase

from edtformer.chem import parse_smiles
from edtformer.data import load_task
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"
QUESTION = "Does this molecule contain a benzene ring?"


def writings(smiles: str, n: int) -> list[str]:
    """``smiles`` and ``n - 1`` random writings of the same molecule."""
    mol = Chem.MolFromSmiles(smiles)
    return [smiles] + [Chem.MolToSmiles(mol, doRandom=True) for _ in range(n - 1)]


def as_written_patches_differ(scorer: object, group: list[str]) -> bool:
    """Old behaviour: entropy patches along each writing's own atom order. Do two writings get
    a different number of patches or different patch sizes (a difference no symmetry of the
    molecule can explain)?"""
    from edtformer.patching import patch_molecules

    _, res = patch_molecules(group, "quantile", scorer, canonical=False)
    sizes = [sorted(np.bincount(r.patch_ids).tolist()) for r in res]
    return any(x != sizes[0] for x in sizes[1:])


def bits_per_atom(n: int, seed: int) -> dict[str, float]:
    """Bits/atom of the shipped entropy model on MOSES test SMILES in three writings."""
    from edtformer.entropy import load_default_scorer
    from edtformer.entropy.corpus import moses_path, read_smiles_file
    from edtformer.entropy.train import evaluate_on_smiles

    scorer = load_default_scorer()
    pool = read_smiles_file(moses_path("test"))
    rng = random.Random(seed)
    sample = rng.sample(pool, min(n, len(pool)))
    mols = [Chem.MolFromSmiles(s) for s in sample]
    forms = {
        "as_written_by_moses": sample,
        "rdkit_canonical": [Chem.MolToSmiles(m) for m in mols],
        "random_writing": [Chem.MolToSmiles(m, doRandom=True) for m in mols],
    }
    return {
        k: round(evaluate_on_smiles(scorer.model, scorer.vocab, v)["bits_per_token"], 4)
        for k, v in forms.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder (default: the shipped bridge)")
    ap.add_argument("--data", default="data_out")
    ap.add_argument("--n-mols", type=int, default=200)
    ap.add_argument("--writings", type=int, default=20)
    ap.add_argument("--bits-mols", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "writing_invariance.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    rdBase.SeedRandomNumberGenerator(args.seed)

    from edtformer.entropy import load_default_scorer
    from edtformer.model import EDTFormer

    model = EDTFormer.from_pretrained(args.model or "default").eval()
    scorer = load_default_scorer()
    recs = load_task(Path(args.data), "struct_text", "test")
    pool = sorted({s for r in recs for s in r["smiles"]})
    mols = random.Random(args.seed).sample(pool, min(args.n_mols, len(pool)))
    start = time.perf_counter()
    same_patches = same_feats = same_answers = old_differs = 0
    max_token_diff = max_prob_diff = 0.0
    for smi in mols:
        group = writings(smi, args.writings)
        records = [parse_smiles(w) for w in group]
        batch = model.processor(records)
        ref_ids = batch.patch_ids[0]
        same_patches += all(torch.equal(batch.patch_ids[i], ref_ids) for i in range(len(group)))
        same_feats += all(
            torch.allclose(h[i], h[0], atol=1e-5)
            for h in batch.node_feats
            for i in range(len(group))
        )
        chat = model.prepare_qa(records, [QUESTION] * len(group), generation=True)
        with torch.no_grad():
            _, bridge = model.embed(chat)
            probs = model.score(chat, ["yes", "no"]).probs  # [W, 2]
        assert bridge is not None
        tokens = bridge.tokens  # [W, Q, d]
        max_token_diff = max(max_token_diff, float((tokens - tokens[:1]).abs().max()))
        max_prob_diff = max(max_prob_diff, float((probs - probs[:1]).abs().max()))
        same_answers += bool((probs.argmax(1) == probs[0].argmax()).all())
        old_differs += as_written_patches_differ(scorer, group)
    n = len(mols)
    result = {
        "what": "invariance of the model's inputs, tokens and yes/no answers to the SMILES writing",
        "model": args.model or "default (shipped bridge)",
        "data": f"{args.data} struct_text scaffold test split, {n} molecules (seed {args.seed})",
        "writings_per_molecule": args.writings,
        "same_patches": f"{same_patches}/{n}",
        "same_node_features_1e-5": f"{same_feats}/{n}",
        "same_yes_no_answer": f"{same_answers}/{n}",
        "max_abs_token_difference": max_token_diff,
        "max_abs_yes_no_probability_difference": max_prob_diff,
        "as_written_patches_differ_between_writings": f"{old_differs}/{n} molecules get a "
        "different number or size of entropy patches (the behaviour before canonical ordering)",
        "entropy_bits_per_atom_moses_test": bits_per_atom(args.bits_mols, args.seed),
        "seconds": round(time.perf_counter() - start, 1),
        "hardware": f"{platform.machine()} CPU, torch {torch.__version__}, {args.threads} thread(s)",
    }
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()

"""How often the bridge's own pair comparison answers the same-stereoisomer question, no LLM.

    python experiments/diagnostics/pair_facts.py --model runs/recipe_P/final [--split valid]
    # writes experiments/records/pair_facts.json

Each same-stereoisomer record of ``data_out/stereo/<split>.jsonl`` (two molecules, "yes" or
"no") is run through the bridge alone. Reported: the share of pairs the bridge's predictions tell
apart as the label says (the "same stereoisomer yes|no" word a ``fact_pair`` model writes for
molecule 2), and the same with only the per-atom CIP / E/Z classes or only the written fact words
compared. For a model without pair facts the comparison is made from its writer's predictions
all the same (what ``recipe.fact_pair`` would write). Choose on valid; test is the eval's job.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from edtformer.bridge.facts import FactWriter
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parents[1] / "records"


def main() -> None:
    from edtformer.evaluation.evaluator import load_model

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="src/edtformer/assets/bridge/default")
    ap.add_argument("--data", default="data_out")
    ap.add_argument("--split", default="valid", choices=("train", "valid"))
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=RESULTS / "pair_facts.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    if getattr(model.connector, "facts", None) is None or not model.config.bridge.fact_stereo:
        raise SystemExit(f"{args.model}: no fact writer with the stereo head to compare with")
    path = Path(args.data) / "stereo" / f"{args.split}.jsonl"
    rows = [json.loads(line) for line in path.open()]
    rows = [r for r in rows if r["meta"].get("kind") == "same_stereoisomer"]
    hits = {"pair": 0, "atoms only": 0, "words only": 0}
    by_label = {"yes": [0, 0], "no": [0, 0]}
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(rows), args.batch_size):
            chunk = rows[i : i + args.batch_size]
            convs = [model.prompts.messages(r["question"], len(r["smiles"])) for r in chunk]
            batch = model.prepare([r["smiles"] for r in chunk], convs, generation=True)
            _, bridge = model.embed(batch)
            logits, ids = bridge.fact_logits, bridge.fact_ids
            mask = batch.molecules.node_mask
            classes = FactWriter.atom_classes(logits, mask)  # [M, N, k], as pair_slots compares
            n_words = ids.shape[1] - 2 * bool(model.config.bridge.fact_pair)
            for k, r in enumerate(chunk):
                a, b = 2 * k, 2 * k + 1
                same_size = bool(mask[a].sum() == mask[b].sum())
                same_atoms = same_size and torch.equal(classes[a], classes[b])
                same_words = torch.equal(ids[a, :n_words], ids[b, :n_words])
                truth = r["answer"] == "yes"
                hits["pair"] += (same_atoms and same_words) == truth
                hits["atoms only"] += same_atoms == truth
                hits["words only"] += same_words == truth
                by_label[r["answer"]][0] += (same_atoms and same_words) == truth
                by_label[r["answer"]][1] += 1
    n = len(rows)
    result = {
        "model": args.model,
        "split": args.split,
        "n_pairs": n,
        "accuracy": {k: v / n for k, v in hits.items()},
        "accuracy_by_label": {k: v[0] / max(v[1], 1) for k, v in by_label.items()},
        "n_by_label": {k: v[1] for k, v in by_label.items()},
        "seconds": round(time.perf_counter() - start, 1),
        "threads": args.threads,
    }
    atomic_write_json(args.out, result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Batch answering throughput: yes/no answers per second of ``EDTFormer.ask_many`` vs one
``ask`` call per question, same process, same model, same questions.

Questions: "Does this molecule contain a <group>?" over scaffold-test molecules (generation
of up to 3 new tokens, as ``edt ask --input`` does for yes/no). Medians over ``--repeats``;
the ratio batched / one-by-one is the number to read on a shared machine.

    python benchmarks/ask_batch.py --data data_out --threads 2
    # writes benchmarks/results/ask_batch.json
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
from pathlib import Path

import torch

from edtformer.data import load_task
from edtformer.facts.dataset import FUNCTIONAL_GROUPS
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="data_out")
    ap.add_argument("--n", type=int, default=64, help="questions per timed run")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "ask_batch.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from edtformer.model import EDTFormer

    model = EDTFormer.from_pretrained(args.model).eval()
    pool = sorted(
        {s for r in load_task(Path(args.data), "struct_text", "test") for s in r["smiles"]}
    )
    rng = random.Random(0)
    mols = rng.sample(pool, args.n)
    groups = list(FUNCTIONAL_GROUPS)
    questions = [f"Does this molecule contain a {rng.choice(groups)}?" for _ in mols]
    model.ask_many(mols[:4], questions[:4], max_new_tokens=3)  # warm-up (features cached)
    model.score_many(mols[:4], questions[:4], ["yes", "no"])
    batched, single, scored = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = model.ask_many(mols, questions, max_new_tokens=3, batch_size=args.batch_size)
        batched.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        probs = model.score_many(mols, questions, ["yes", "no"], batch_size=args.batch_size)
        scored.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for m, q in zip(mols, questions, strict=True):
            model.ask(m, q, max_new_tokens=3)
        single.append(time.perf_counter() - t0)
    errors = sum(isinstance(a, Exception) for a in out) + sum(
        isinstance(p, Exception) for p in probs
    )
    agree = sum(
        not isinstance(a, Exception)
        and isinstance(p, dict)
        and a.answer.strip().lower().startswith(max(p, key=p.__getitem__))
        for a, p in zip(out, probs, strict=True)
    )
    b, s, c = statistics.median(batched), statistics.median(single), statistics.median(scored)
    result = {
        "what": "yes/no answers per second: ask_many (batched generation), score_many (batched "
        "yes/no scoring, one forward, `edt ask --input --choices yes,no`) and ask (one by one), "
        "same process",
        "model": args.model,
        "questions": f"{args.n} 'Does this molecule contain a <group>?' on {args.data} "
        "struct_text scaffold-test molecules, up to 3 new tokens",
        "batch_size": args.batch_size,
        "threads": args.threads,
        "answers_per_s_batched": round(args.n / b, 2),
        "answers_per_s_one_by_one": round(args.n / s, 2),
        "answers_per_s_scored": round(args.n / c, 2),
        "speedup": round(s / b, 2),
        "speedup_scored": round(s / c, 2),
        "scored_agrees_with_generated": f"{agree}/{args.n}",
        "errors": errors,
        "repeats": args.repeats,
        "hardware": f"{platform.machine()} CPU, torch {torch.__version__}",
    }
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()

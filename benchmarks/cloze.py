"""Cloze scoring throughput: multiple-choice questions per second when each question's prompt is
run once for all its options (``EDTFormer.shared_prompt_logprobs``, what ``edt eval --cloze``
does) vs one full prompt per option (``EDTFormer.answer_logprobs``), same process, same model,
same questions.

Questions: seeded scaffold-valid struct_mc records (4 options each). Medians over
``--repeats``; the ratio is the number to read on a shared machine. Also reports the largest
difference between the two methods' option probabilities (they compute the same quantity).

    python benchmarks/cloze.py --data data_out --threads 2
    # writes benchmarks/results/cloze.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edtformer.evaluation.evaluator import Evaluator, load_eval_records
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"


def per_option_probs(model: Any, records: Sequence[Any], batch_size: int) -> np.ndarray:
    """Cloze option probabilities ``[N, C]`` with one full prompt per option (the old way)."""
    flat = [(i, c) for i, r in enumerate(records) for c in r["choices"]]
    norm: list[float] = []
    for start in range(0, len(flat), batch_size):
        chunk = flat[start : start + batch_size]
        convs = [
            model.prompts.messages(records[i]["question"], len(records[i]["smiles"]), c)
            for i, c in chunk
        ]
        batch = model.prepare([list(records[i]["smiles"]) for i, _ in chunk], convs)
        logp = model.answer_logprobs(batch).double().cpu().tolist()
        norm += [lp / max(len(c), 1) for (_, c), lp in zip(chunk, logp, strict=True)]
    scores = np.array(norm).reshape(len(records), -1)
    z = np.exp(scores - scores.max(axis=1, keepdims=True))
    return np.asarray(z / z.sum(axis=1, keepdims=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--data", default="data_out")
    ap.add_argument("--n", type=int, default=32, help="questions per timed run")
    ap.add_argument("--batch-size", type=int, default=16, help="records (shared) / rows (old)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(RESULTS / "cloze.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from edtformer.model import EDTFormer

    model = EDTFormer.from_pretrained(args.model).eval()
    records = load_eval_records("struct_mc", "valid", Path(args.data), limit=args.n)
    records = [r for r in records if len(r["choices"] or ()) == 4]
    evaluator = Evaluator(model, batch_size=args.batch_size)
    with torch.no_grad():
        evaluator.cloze_probs(records[:2])  # warm-up (features cached)
        shared_t, full_t = [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            shared = evaluator.cloze_probs(records)
            shared_t.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            full = per_option_probs(model, records, args.batch_size)
            full_t.append(time.perf_counter() - t0)
    s, f = statistics.median(shared_t), statistics.median(full_t)
    result = {
        "what": "4-choice cloze scoring, questions per second: each prompt run once for its "
        "options (shared KV cache, `edt eval --cloze`) vs one full prompt per option, same process",
        "model": args.model,
        "questions": f"{len(records)} seeded {args.data} struct_mc scaffold-valid questions",
        "batch_size": args.batch_size,
        "threads": args.threads,
        "questions_per_s_shared": round(len(records) / s, 3),
        "questions_per_s_per_option": round(len(records) / f, 3),
        "speedup": round(f / s, 2),
        "max_prob_difference": float(np.abs(shared - full).max()),
        "repeats": args.repeats,
        "hardware": f"{platform.machine()} CPU, torch {torch.__version__}",
    }
    print(json.dumps(result, indent=2))
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()

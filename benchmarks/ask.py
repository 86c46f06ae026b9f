"""``edt ask`` latency with the default models (MiniMol encoder, SmolLM2-135M-Instruct, smol bridge).

- cold start: wall time from launching ``edt ask ... --json --max-new-tokens 32`` as a
  subprocess to its exit (process start, imports, model loads, one answer). The GGUF -> safetensors
  conversion is done (and cached) by an untimed first run.
- warm: in one process with the model loaded, time per answer of exactly 32 new tokens
  (``min_new_tokens=32``), and the one-forward yes/no scoring time.

Medians over ``--repeats`` runs, for 1 and 2 torch threads. The load average of the machine is
recorded: on a shared 2-core machine, 2 threads under contention can be several times slower
than 1 thread.

    python benchmarks/ask.py            # writes benchmarks/results/ask.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
SMILES = "CC(=O)Oc1ccccc1C(=O)O"
QUESTION = "What functional groups does this molecule have?"


def cold_start(threads: int, repeats: int) -> list[float]:
    """Wall seconds of ``edt ask`` subprocesses."""
    cmd = [
        sys.executable,
        "-m",
        "edtformer.cli.main",
        "ask",
        SMILES,
        QUESTION,
        "--json",
        "--max-new-tokens",
        "32",
        "--threads",
        str(threads),
    ]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        json.loads(out.stdout)  # the answer was printed
    return times


def warm(threads: int, repeats: int) -> dict[str, Any]:
    """Per-answer seconds in a warm process (32 new tokens) and yes/no scoring seconds."""
    import torch

    from edtformer.cli.ask import load_cli_model

    torch.set_num_threads(threads)
    model, name = load_cli_model(None, threads)
    model.ask(SMILES, QUESTION, max_new_tokens=4)  # warm-up
    answer_s = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.ask(SMILES, QUESTION, max_new_tokens=32, min_new_tokens=32)
        answer_s.append(time.perf_counter() - t0)
    batch = model.prepare_qa([SMILES], ["Is it an ester? Answer Yes or No."], generation=True)
    score_s = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.score(batch, ["Yes", "No"])
        score_s.append(time.perf_counter() - t0)
    counts = model.parameter_counts()
    return {
        "model": name,
        "answer_32_tokens_s": answer_s,
        "score_yes_no_s": score_s,
        "n_molecule_tokens": int(batch.mol_counts.sum()),
        "prompt_tokens": int(batch.attention_mask.sum()),
        "trainable_parameters": counts.trainable,
        "frozen_parameters": counts.frozen,
        "trainable_share": counts.trainable_share,
        "by_part": {k: list(v) for k, v in counts.by_part.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    from edtformer.llm.loading import default_llm_dir, resolve_llm
    from edtformer.utils.io import atomic_write_json, atomic_write_text

    resolve_llm("smollm2-135m-instruct")  # untimed: convert the GGUF once
    load_before = os.getloadavg()
    rows = []
    for t in args.threads:
        cold = cold_start(t, args.repeats)
        w = warm(t, args.repeats)
        rows.append(
            {
                "threads": t,
                "cold_start_s": cold,
                "cold_start_median_s": statistics.median(cold),
                "warm_answer_median_s": statistics.median(w["answer_32_tokens_s"]),
                "score_median_s": statistics.median(w["score_yes_no_s"]),
                **w,
            }
        )
    result = {
        "benchmark": "ask",
        "smiles": SMILES,
        "question": QUESTION,
        "llm_cache": str(default_llm_dir()),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "targets": {"cold_start_s": 15.0, "warm_answer_32_tokens_s": 3.0},
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "ask.json", result)
    lines = [
        "# `edt ask` latency (default models, CPU)",
        "",
        f"Molecule `{SMILES}`; 32 new tokens; medians of {args.repeats} runs; {os.cpu_count()} CPUs; "
        f"load average before/after {load_before[0]:.1f}/{os.getloadavg()[0]:.1f} (shared machine).",
        "",
        "| torch threads | cold start (s) | warm answer, 32 tokens (s) | yes/no score, 1 forward (s) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['threads']} | {r['cold_start_median_s']:.2f} | {r['warm_answer_median_s']:.2f} "
            f"| {r['score_median_s']:.3f} |"
        )
    r0 = rows[0]
    lines += [
        "",
        f"Targets: cold start <= 15 s (conversion cached), warm answer <= 3 s. Model: {r0['model']}; "
        f"{r0['n_molecule_tokens']} molecule tokens, {r0['prompt_tokens']} prompt tokens.",
        f"Trainable parameters (smol bridge): {r0['trainable_parameters']:,} of "
        f"{r0['trainable_parameters'] + r0['frozen_parameters']:,} ({100 * r0['trainable_share']:.2f} %).",
        "",
    ]
    atomic_write_text(RESULTS / "ask.md", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""SMILES -> patches throughput: batched pipeline vs a per-molecule, unbatched scoring path.

Both paths do the same work per molecule — RDKit parse, atom tokens, Next-Atom Predictor
entropies, ``quantile`` patches — and are measured in the same run on MOSES test molecules.
The batched path scores all molecules with one ``scorer.score`` call (length-bucketed
batches under ``inference_mode``) and patches them with one vectorised rule call; the
unbatched path calls the scorer and the rule once per molecule. Medians over repeats.

    python benchmarks/patching.py [--n 10000] [--repeats 3] [--threads 2] [--model DIR]

Writes ``benchmarks/results/patching.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from edtformer.chem import mol_from_smiles
from edtformer.entropy import EntropyScorer, load_default_scorer, load_scorer
from edtformer.entropy.corpus import moses_path, read_smiles_file
from edtformer.patching import compute_patches
from edtformer.patching.pipeline import PatchPipeline, PipelineConfig
from edtformer.utils.io import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


def batched(smiles: list[str], scorer: EntropyScorer) -> dict[str, float]:
    """The production path; returns seconds per stage."""
    t0 = time.perf_counter()
    mols = [mol_from_smiles(s) for s in smiles]
    t1 = time.perf_counter()
    encoded = scorer.encode(mols)
    t2 = time.perf_counter()
    entropies = scorer.score_encoded(encoded)
    t3 = time.perf_counter()
    patches = compute_patches(mols, entropies, "quantile")
    t4 = time.perf_counter()
    assert len(patches) == len(smiles)
    return {
        "parse": t1 - t0,
        "tokens": t2 - t1,
        "model": t3 - t2,
        "patch": t4 - t3,
        "total": t4 - t0,
    }


def unbatched(smiles: list[str], scorer: EntropyScorer) -> dict[str, float]:
    """One molecule at a time through the same scorer and rule."""
    t0 = time.perf_counter()
    for s in smiles:
        mol = mol_from_smiles(s)
        h = scorer.score_one(mol)
        compute_patches([mol], [h], "quantile")
    return {"total": time.perf_counter() - t0}


def measure(fn: Callable[[], dict[str, float]], repeats: int) -> dict[str, float]:
    """Median seconds per stage over ``repeats`` runs."""
    runs = [fn() for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="MOSES test molecules (batched)")
    parser.add_argument("--n-unbatched", type=int, default=2_000, help="molecules, unbatched path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads, in-process path")
    parser.add_argument("--workers", type=int, default=2, help="processes, multi-process path")
    parser.add_argument("--model", help="entropy model folder (default: the shipped model)")
    parser.add_argument("--out", default=str(RESULTS / "patching"), help="result path stem")
    args = parser.parse_args()

    scorer = load_scorer(args.model) if args.model else load_default_scorer()
    smiles = read_smiles_file(moses_path("test"))[: args.n]
    sub = smiles[: args.n_unbatched]

    # 1) unbatched: one molecule per scorer call; 1 thread (more only slows tiny matmuls)
    torch.set_num_threads(1)
    unbatched(sub[:50], scorer)  # warm-up
    u = measure(lambda: unbatched(sub, scorer), args.repeats)
    # 2) batched, in this process
    torch.set_num_threads(args.threads)
    batched(smiles[:500], scorer)
    b = measure(lambda: batched(smiles, scorer), args.repeats)
    # 3) batched, data-parallel worker processes (1 torch thread each)
    t0 = time.perf_counter()
    cfg = PipelineConfig(model_dir=args.model, workers=args.workers, threads=1, chunk_size=1000)
    with PatchPipeline(cfg) as pipe:
        startup = time.perf_counter() - t0
        pipe.run(smiles[:2000])

        def parallel() -> dict[str, float]:
            t = time.perf_counter()
            res = pipe.run(smiles)
            assert len(res) == len(smiles) and not any(r.error for r in res)
            return {"total": time.perf_counter() - t}

        m = measure(parallel, args.repeats)

    u_rate = len(sub) / u["total"]
    b_rate = len(smiles) / b["total"]
    m_rate = len(smiles) / m["total"]
    n_atoms = sum(mol_from_smiles(s).GetNumAtoms() for s in smiles)
    result: dict[str, Any] = {
        "n_molecules_batched": len(smiles),
        "n_molecules_unbatched": len(sub),
        "mean_atoms": round(n_atoms / len(smiles), 2),
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "model_parameters": scorer.model.num_parameters(),
        "unbatched": {"threads": 1, "mol_per_s": round(u_rate, 1)},
        "batched_in_process": {
            "threads": args.threads,
            "mol_per_s": round(b_rate, 1),
            "seconds_by_stage": {k: round(v, 4) for k, v in b.items()},
            "speedup_vs_unbatched": round(b_rate / u_rate, 2),
        },
        "batched_workers": {
            "workers": args.workers,
            "threads_per_worker": 1,
            "mol_per_s": round(m_rate, 1),
            "pool_startup_s": round(startup, 2),
            "speedup_vs_unbatched": round(m_rate / u_rate, 2),
        },
        "targets": {"mol_per_s": 2000, "speedup": 10},
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    out = Path(args.out)
    atomic_write_json(out.with_suffix(".json"), result)
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in b.items() if k != "total")
    md = f"""# Patching throughput (SMILES -> quantile patches)

| path | molecules | mol/s (median of {args.repeats}) | vs unbatched |
|---|---:|---:|---:|
| unbatched: one molecule per scorer call, 1 thread | {len(sub)} | {u_rate:,.0f} | 1.0x |
| batched, one process, {args.threads} torch threads | {len(smiles)} | {b_rate:,.0f} | {b_rate / u_rate:.1f}x |
| batched, {args.workers} worker processes x 1 thread | {len(smiles)} | {m_rate:,.0f} | {m_rate / u_rate:.1f}x |

Batched in-process stages: {stages}. Worker pool start-up (once, not timed above):
{startup:.1f} s. Mean {n_atoms / len(smiles):.1f} atoms per molecule.
CPU: {result["cpu"]}, {result["cpu_count"]} cores, torch {torch.__version__}; 1-minute load
average at the end {result["load_average_1min"]} (the machine is shared, so absolute numbers vary
with load). Model: {result["model_parameters"]:,} parameters.
Command: `python benchmarks/patching.py --n {args.n} --threads {args.threads} --workers {args.workers}`.
"""
    atomic_write_text(out.with_suffix(".md"), md)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()

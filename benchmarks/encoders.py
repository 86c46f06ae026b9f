"""Encoder throughput (molecules/s, 2 threads) and node-feature cache hit vs recompute.

For each encoder: median wall time over ``--repeats`` runs of (a) recompute — ``encode`` in
batches of 64, (b) cache hit — ``NodeFeatureCache.encode_many`` on a warm cache (read, checksum,
map rows back to input order). Molecules: the first ``--n`` parseable SMILES of RDKit's
``Data/NCI/first_5K.smi``. The ``gin`` row uses synthetic weights in MoleculeSTM's layout (the
architecture, not the checkpoint, sets its speed).

    python benchmarks/encoders.py            # writes benchmarks/results/encoders.{json,md}
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rdkit import RDConfig

from edtformer.chem import MolRecord, parse_smiles
from edtformer.encoders import GraphEncoder, get_encoder
from edtformer.encoders.cache import NodeFeatureCache
from edtformer.encoders.gin import GIN
from edtformer.errors import EdtError, MissingDependencyError
from edtformer.utils.io import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


def load_molecules(n: int) -> list[MolRecord]:
    """First ``n`` parseable SMILES of RDKit's NCI sample."""
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    out: list[MolRecord] = []
    for line in path.read_text().splitlines():
        try:
            out.append(parse_smiles(line.split()[0]))
        except (EdtError, IndexError):
            continue
        if len(out) == n:
            break
    return out


def build(name: str, tmp: Path, threads: int) -> GraphEncoder:
    if name == "gin":
        state = {f"molecule_node_model.{k}": v for k, v in GIN().state_dict().items()}
        torch.save(state, tmp / "molecule_model.pth")
        return get_encoder("gin", checkpoint=tmp / "molecule_model.pth")
    if name == "minimol":
        return get_encoder("minimol", threads=threads)
    return get_encoder(name)


def timed(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench(name: str, records: list[MolRecord], repeats: int, threads: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        enc = build(name, tmp, threads)
        load_s = time.perf_counter() - t0

        def recompute() -> None:
            for i in range(0, len(records), 64):
                enc.encode(records[i : i + 64])

        compute_s = timed(recompute, repeats)
        cache = NodeFeatureCache(tmp / "cache", enc)
        t0 = time.perf_counter()
        fill = cache.encode_many(records)
        fill_s = time.perf_counter() - t0
        n_ok = sum(isinstance(x, torch.Tensor) for x in fill)

        def hit() -> None:
            c = NodeFeatureCache(tmp / "cache", enc)
            c.encode_many(records)
            assert c.stats.misses == len(records) - n_ok

        hit_s = timed(hit, repeats)
    n = len(records)
    return {
        "encoder": name,
        "width": enc.width,
        "version": enc.info.version,
        "molecules": n,
        "encoded_ok": n_ok,
        "load_s": round(load_s, 3),
        "recompute_mol_per_s": round(n / compute_s, 1),
        "cache_fill_mol_per_s": round(n / fill_s, 1),
        "cache_hit_mol_per_s": round(n / hit_s, 1),
        "hit_speedup_vs_recompute": round(compute_s / hit_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--encoders", default="random,gin,minimol,chemprop")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    records = load_molecules(args.n)
    rows = []
    for name in args.encoders.split(","):
        try:
            rows.append(bench(name, records, args.repeats, args.threads))
        except MissingDependencyError as exc:
            print(f"skip {name}: {exc}")
            continue
        print(rows[-1])
    meta = {
        "threads": args.threads,
        "repeats": args.repeats,
        "statistic": "median",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "molecules": "RDKit Data/NCI/first_5K.smi, first parseable",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "encoders.json", {"meta": meta, "results": rows})
    lines = [
        "# Encoder throughput and cache (benchmarks/encoders.py)",
        "",
        f"{len(records)} molecules, {args.threads} threads, median of {args.repeats} runs, "
        f"torch {torch.__version__}, {meta['cpu']}.",
        "",
        "| encoder | width | recompute mol/s | cache fill mol/s | cache hit mol/s | hit / recompute |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['encoder']} | {r['width']} | {r['recompute_mol_per_s']} | "
            f"{r['cache_fill_mol_per_s']} | {r['cache_hit_mol_per_s']} | "
            f"{r['hit_speedup_vs_recompute']}x |"
        )
    lines += ["", "`gin` uses synthetic weights in MoleculeSTM's layout (same architecture)."]
    atomic_write_text(RESULTS / "encoders.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

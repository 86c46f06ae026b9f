"""Uni-Mol stream throughput: conformer generation and encoder forward, molecules/s.

Three timings on the first ``--n`` parseable SMILES of RDKit's ``Data/NCI/first_5K.smi``:

- conformers: :class:`~edtformer.encoders.conformers.ConformerGenerator` (ETKDGv3 + MMFF),
  with ``--conformers`` per molecule (default 10, the encoder's default) and with 1;
- forward: the encoder on prepared inputs (tokens + coordinates), one conformer per molecule,
  padded chunks as the encoder runs them; median of ``--repeats``;
- end to end: ``encoder.encode`` (conformers + forward on every conformer + row mapping).

Weights: ``$EDT_UNIMOL_CHECKPOINT`` when set, else random weights of the full released size
(15 layers, width 512, 64 heads, FFN 2048) written in the official layout and loaded through
the same loader — the architecture, not the weights, sets the speed. The output says which.

    python benchmarks/unimol.py --threads 2   # writes benchmarks/results/unimol.{json,md}
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rdkit import RDConfig

from edtformer.chem import MolRecord, parse_smiles
from edtformer.encoders import get_encoder
from edtformer.encoders.conformers import ConformerConfig, ConformerGenerator
from edtformer.encoders.unimol import UniMolEncoder, run_padded
from edtformer.encoders.unimol_checkpoint import CHECKPOINT_ENV, save_official_layout
from edtformer.encoders.unimol_model import UniMolConfig, UniMolModel
from edtformer.errors import EdtError
from edtformer.utils.io import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


def load_molecules(n: int, max_heavy: int) -> list[MolRecord]:
    """First ``n`` parseable SMILES of RDKit's NCI sample with at most ``max_heavy`` atoms."""
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    out: list[MolRecord] = []
    for line in path.read_text().splitlines():
        try:
            record = parse_smiles(line.split()[0])
        except (EdtError, IndexError):
            continue
        if record.n_atoms <= max_heavy:
            out.append(record)
        if len(out) == n:
            break
    return out


def build_encoder(tmp: Path, n_conformers: int) -> tuple[UniMolEncoder, str]:
    """The encoder from the user's checkpoint, else from full-size random weights."""
    real = os.environ.get(CHECKPOINT_ENV)
    if real:
        enc = get_encoder("unimol", checkpoint=real, n_conformers=n_conformers)
        weights = f"official checkpoint {Path(real).name}"
    else:
        torch.manual_seed(0)
        path = save_official_layout(UniMolModel(UniMolConfig.paper()), tmp / "random_full.pt")
        enc = get_encoder("unimol", checkpoint=path, n_conformers=n_conformers)
        weights = "random weights, full size 15x512x64 (no checkpoint: EDT_UNIMOL_CHECKPOINT unset)"
    assert isinstance(enc, UniMolEncoder)
    return enc, weights


def timed(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--conformers", type=int, default=10)
    ap.add_argument("--max-heavy", type=int, default=40, help="skip larger NCI molecules")
    ap.add_argument("--note", default="", help="free text stored with the result (machine load)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    records = load_molecules(args.n, args.max_heavy)
    n = len(records)
    load1 = os.getloadavg()[0]
    gen_many = ConformerGenerator(ConformerConfig(n_conformers=args.conformers))
    gen_one = ConformerGenerator(ConformerConfig(n_conformers=1))
    conf_many_s = timed(lambda: [gen_many(r.mol) for r in records], 1)
    conf_one_s = timed(lambda: [gen_one(r.mol) for r in records], 1)
    with tempfile.TemporaryDirectory() as d:
        os.environ.setdefault("EDT_CACHE", str(Path(d) / "cache"))
        enc, weights = build_encoder(Path(d), args.conformers)
        inputs = [enc.inputs(r) for r in records]
        seqs = [(x.tokens, x.coords[0]) for x in inputs]
        with torch.no_grad():
            fwd_s = timed(lambda: run_padded(enc.model, seqs, enc.max_pairs), args.repeats)
        e2e_s = timed(lambda: [enc.encode(records[i : i + 16]) for i in range(0, n, 16)], 1)
    row = {
        "molecules": n,
        "mean_tokens": round(sum(len(s[0]) for s in seqs) / n, 1),
        "weights": weights,
        "threads": args.threads,
        "conformers": args.conformers,
        f"conformers_x{args.conformers}_mol_per_s": round(n / conf_many_s, 2),
        "conformers_x1_mol_per_s": round(n / conf_one_s, 2),
        "forward_x1_mol_per_s": round(n / fwd_s, 2),
        f"encode_x{args.conformers}_mol_per_s": round(n / e2e_s, 2),
        "fallback_2d": gen_many.stats.fallback_2d,
        "mmff_not_converged": gen_many.stats.mmff_not_converged,
        "load_average_before_after": [round(load1, 2), round(os.getloadavg()[0], 2)],
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
        "note": args.note,
    }
    print(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    atomic_write_json(RESULTS / "unimol.json", row)
    c = args.conformers
    lines = [
        "# Uni-Mol stream throughput (benchmarks/unimol.py)",
        "",
        f"{n} NCI molecules (mean {row['mean_tokens']} tokens), {args.threads} threads, "
        f"torch {torch.__version__}; {weights}. {args.note}",
        "",
        f"| conformers x{c} | conformers x1 | forward x1 | encode x{c} (conformers + forwards) |",
        "|---:|---:|---:|---:|",
        f"| {row[f'conformers_x{c}_mol_per_s']} | {row['conformers_x1_mol_per_s']} | "
        f"{row['forward_x1_mol_per_s']} | {row[f'encode_x{c}_mol_per_s']} |",
    ]
    atomic_write_text(RESULTS / "unimol.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

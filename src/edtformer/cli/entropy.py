"""``edt entropy train`` / ``edt entropy eval``: the Next-Atom Predictor on MOSES SMILES."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from edtformer.errors import DataError


def register(sub: Any) -> None:
    """Add the ``entropy`` command with ``train`` and ``eval`` sub-commands."""
    parser = sub.add_parser("entropy", help="train / evaluate the Next-Atom Predictor")
    actions = parser.add_subparsers(dest="entropy_command", metavar="ACTION", required=True)

    tr = actions.add_parser("train", help="train on SMILES (default: MOSES train)")
    tr.add_argument("--out", required=True, help="output checkpoint folder")
    tr.add_argument("--train-file", help=".smi/.csv(.gz) SMILES file (default: MOSES train)")
    tr.add_argument("--n-train", default="300000", help="training molecules, or 'all'")
    tr.add_argument("--n-val", type=int, default=10_000, help="held-out validation molecules")
    tr.add_argument("--epochs", type=int, default=1)
    tr.add_argument("--batch-size", type=int, default=64)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--warmup-steps", type=int, default=200)
    tr.add_argument("--max-len", type=int, default=128, help="<bos> + atoms per window")
    tr.add_argument("--d-model", type=int, default=128)
    tr.add_argument("--n-layer", type=int, default=2)
    tr.add_argument("--n-head", type=int, default=2)
    tr.add_argument("--checkpoint-every", type=int, default=1000, help="steps between checkpoints")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    tr.set_defaults(func=_train)

    ev = actions.add_parser("eval", help="held-out bits per atom vs a unigram baseline")
    ev.add_argument("--model", help="checkpoint folder (default: the shipped model)")
    ev.add_argument("--test-file", help="SMILES file (default: MOSES test)")
    ev.add_argument("--n", type=int, default=20_000, help="molecules to evaluate (0: all)")
    ev.add_argument("--seed", type=int, default=0, help="seed of the molecule sample")
    ev.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=_eval)


def _train(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from edtformer.entropy.model import NextAtomConfig
    from edtformer.entropy.train import EntropyTrainConfig, train_entropy_model

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.train_file:
        _check_not_empty(args.train_file)  # before any model is built
    n_train = None if str(args.n_train).lower() == "all" else int(args.n_train)
    cfg = EntropyTrainConfig(
        out=args.out,
        train_file=args.train_file,
        n_train=n_train,
        n_val=args.n_val,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        model=NextAtomConfig(
            max_len=args.max_len, d_model=args.d_model, n_layer=args.n_layer, n_head=args.n_head
        ),
    )
    bar: Any = None

    def progress(step: int, total: int, loss: float) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="step", desc="train", mininterval=2.0)
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(bits=f"{loss:.3f}")

    command = "edt " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    meta = train_entropy_model(cfg, progress=progress, command=command)
    if bar is not None:
        bar.close()
    val = meta["validation"]
    print(
        f"saved {args.out}: validation {val['bits_per_token']:.4f} bits/atom "
        f"(perplexity {val['perplexity']:.3f}; unigram {val['unigram_bits_per_token']:.4f}) "
        f"in {meta['train_seconds']:.0f} s"
    )
    return 0


def _check_not_empty(path: str) -> None:
    """A molecule file without a single molecule row is a :class:`DataError` (not 0 molecules
    scored, exit 0)."""
    from edtformer.chem.files import no_molecules_error, read_molecule_rows

    if next(iter(read_molecule_rows(path)), None) is None:
        raise no_molecules_error(path)


def _eval(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from edtformer.entropy.corpus import moses_path, read_smiles_file
    from edtformer.entropy.scorer import load_default_scorer, load_scorer
    from edtformer.entropy.train import evaluate_on_smiles

    if args.threads:
        torch.set_num_threads(args.threads)
    scorer = load_scorer(args.model) if args.model else load_default_scorer()
    source = args.test_file or str(moses_path("test"))
    smiles = read_smiles_file(source)
    if not smiles:
        _check_not_empty(source)
        raise DataError(f"{source}: no row has a SMILES")
    if args.n and args.n < len(smiles):
        pick = np.random.default_rng(args.seed).choice(len(smiles), args.n, replace=False)
        smiles = [smiles[i] for i in sorted(pick)]
    uni = scorer.metadata.get("unigram_log2p")
    result: dict[str, Any] = evaluate_on_smiles(
        scorer.model, scorer.vocab, smiles, None if uni is None else np.asarray(uni)
    )
    result["source"] = source
    result["unigram"] = "fitted on training tokens" if uni is not None else "fitted on the test set"
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Held-out next-atom cross-entropy ({result['n_molecules']} molecules)")
    table.add_column("model")
    table.add_column("bits / atom", justify="right")
    table.add_column("perplexity", justify="right")
    table.add_row(
        "Next-Atom Predictor", f"{result['bits_per_token']:.4f}", f"{result['perplexity']:.3f}"
    )
    ub = result["unigram_bits_per_token"]
    table.add_row(f"unigram ({result['unigram']})", f"{ub:.4f}", f"{2.0**ub:.3f}")
    Console().print(table)
    return 0

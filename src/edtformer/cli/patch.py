"""``edt patch SMILES... [--input FILE] [--rule R] [--json] [--draw FILE]``.

Scores every molecule with the Next-Atom Predictor and prints its patches: a rich table, or with
``--json`` one JSON object per molecule per line, each with the molecule's ``id`` (its
``--id-column`` value, else its line in ``--input``, else its position among the SMILES
arguments) so rows join back after a bad one is dropped. A bad SMILES gives one line on stderr
naming it (``FILE:LINE: reason`` for a file row); the other molecules are still processed and
printed, and the exit code is 2.
``--draw`` writes one SVG/PNG (by extension) with all valid molecules in a grid.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

RULE_CHOICES = ("quantile", "threshold", "monotonic", "brics", "combine")


def register(sub: Any) -> None:
    """Add the ``patch`` command."""
    p = sub.add_parser(
        "patch",
        help="entropy patches of molecules",
        description="Per-atom next-atom entropy (bits) and patches of each molecule.",
    )
    p.add_argument("smiles", nargs="*", metavar="SMILES", help="molecules to patch")
    from edtformer.cli.files import add_file_options

    add_file_options(p, short=True)
    p.add_argument(
        "--rule",
        choices=RULE_CHOICES,
        default="combine",
        help="patching rule (default combine: entropy patches + BRICS fragments, as the model)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per molecule per line")
    p.add_argument("--draw", metavar="FILE", help="write a picture (.svg or .png) of the patches")
    p.add_argument("--model", help="entropy model folder (default: the shipped model)")
    p.add_argument("--q", type=float, default=0.75, help="quantile rule: percentile of tau")
    p.add_argument("--threshold", type=float, default=1.0, help="threshold rule: bits")
    p.add_argument("--margin", type=float, default=0.2, help="monotonic rule: rise in bits")
    p.add_argument("--max-patch-len", type=int, help="threshold/monotonic: longest patch")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.set_defaults(func=run)


def rule_options(args: argparse.Namespace) -> dict[str, Any]:
    """Options of the selected rule from the command line."""
    if args.rule in ("quantile", "combine"):
        return {"q": args.q}
    if args.rule == "threshold":
        return {"threshold": args.threshold, "max_patch_len": args.max_patch_len}
    if args.rule == "monotonic":
        return {"margin": args.margin, "max_patch_len": args.max_patch_len}
    return {}


def result_dict(record: Any, entropy: Any, result: Any, row_id: Any = None) -> dict[str, Any]:
    """The JSON object of one molecule (``row_id``: its id in the input)."""
    out: dict[str, Any] = {
        "id": row_id,
        "smiles": record.smiles,
        "canonical_smiles": record.canonical_smiles,
        "atoms": record.symbols,
        "entropy": [round(float(h), 4) for h in entropy],
        "patch_ids": result.patch_ids.tolist(),
        "n_patches": result.n_patches,
        "rule": result.rule,
    }
    if result.brics_ids is not None:
        out["brics_ids"] = result.brics_ids.tolist()
        out["n_brics"] = result.n_brics
    return out


def _groups(symbols: list[str], ids: list[int]) -> str:
    groups: dict[int, list[str]] = {}
    for s, k in zip(symbols, ids, strict=True):
        groups.setdefault(k, []).append(s)
    return " | ".join("".join(g) for _, g in sorted(groups.items()))


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    """A readable rich table of patched molecules."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=True)
    table.add_column("id", justify="right")
    table.add_column("SMILES", overflow="fold", max_width=40)
    table.add_column("atoms", justify="right")
    table.add_column("patches", justify="right")
    table.add_column("mean H (bits)", justify="right")
    table.add_column("patches (atoms grouped)", overflow="fold")
    for r in rows:
        mean = sum(r["entropy"]) / max(len(r["entropy"]), 1)
        groups = _groups(r["atoms"], r["patch_ids"])
        if "brics_ids" in r:
            groups += f"\nBRICS ({r['n_brics']}): " + _groups(r["atoms"], r["brics_ids"])
        table.add_row(
            str(r["id"]),
            r["smiles"],
            str(len(r["atoms"])),
            str(r["n_patches"]),
            f"{mean:.2f}",
            groups,
        )
    Console().print(table)


def _check_options(args: argparse.Namespace) -> None:
    """Raise :class:`EdtError` for a numeric option out of its range (or not finite)."""
    import math

    from edtformer.errors import EdtError

    checks = [
        ("--q", args.q, 0.0 < args.q <= 1.0, "in (0, 1]"),
        ("--threshold", args.threshold, args.threshold >= 0, "a number of bits >= 0"),
        ("--margin", args.margin, args.margin >= 0, "a number of bits >= 0"),
        (
            "--max-patch-len",
            args.max_patch_len,
            args.max_patch_len is None or args.max_patch_len >= 1,
            "at least 1",
        ),
        ("--threads", args.threads, args.threads is None or args.threads >= 1, "at least 1"),
    ]
    for flag, value, ok, want in checks:
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise EdtError(f"{flag} must be {want}, got {value}")


def _collect_inputs(args: argparse.Namespace) -> tuple[list[tuple[Any, str, str]], int]:
    """``(id, where, SMILES)`` of every molecule (arguments, then file rows) and the exit status."""
    from edtformer.cli.files import check_file_options, read_input, row_error
    from edtformer.errors import EdtError

    check_file_options(args)
    # (id, where, SMILES) of every molecule: the arguments, then the file's rows
    inputs: list[tuple[Any, str, str]] = [
        (k, f"argument {k}", s) for k, s in enumerate(args.smiles, 1)
    ]
    status = 0
    if args.input:
        table = read_input(args)  # an empty file or a missing column: one error
        for mrow in table.rows:
            if mrow.error is None:
                inputs.append((table.row_id(mrow), table.where(mrow), mrow.smiles))
            else:
                row_error("patch", table.where(mrow), mrow.error)
                status = 2
    elif not inputs:
        raise EdtError("no molecules given; pass SMILES arguments or --input FILE")
    return inputs, status


def _parse_inputs(inputs: list[tuple[Any, str, str]]) -> tuple[list[Any], list[Any], int]:
    """Parse every SMILES: ``(records, ids, status)``, each bad one named on stderr (status 2)."""
    from edtformer.chem import parse_smiles
    from edtformer.cli.files import row_error
    from edtformer.errors import InvalidSmilesError, UnsupportedMoleculeError

    records: list[Any] = []
    ids: list[Any] = []
    status = 0
    for row_id, where, s in inputs:
        try:
            records.append(parse_smiles(s))
            ids.append(row_id)
        except (InvalidSmilesError, UnsupportedMoleculeError) as exc:
            if where.startswith("argument"):
                print(f"edt patch: error: {exc}", file=sys.stderr)
            else:
                row_error("patch", where, exc)
            status = 2
    return records, ids, status


def _draw(
    args: argparse.Namespace,
    records: list[Any],
    rows: list[dict[str, Any]],
    entropies: Any,
    results: Any,
) -> None:
    """Write ``--draw``'s picture of the patched molecules (both partitions for ``combine``)."""
    import numpy as np

    from edtformer.viz import draw_patches

    mols = [r.mol for r in records]
    ids = [np.asarray(row["patch_ids"]) for row in rows]
    ents = list(entropies)
    legends = [f"{row['id']}: {row['n_patches']} entropy patches" for row in rows]
    if args.rule == "combine":  # both partitions the model pools: entropy, then BRICS
        mols, ents = [m for m in mols for _ in (0, 1)], [e for e in ents for _ in (0, 1)]
        ids = [
            a for res, i in zip(results, ids, strict=True) for a in (i, np.asarray(res.brics_ids))
        ]
        legends = [
            text
            for row, leg, res in zip(rows, legends, results, strict=True)
            for text in (leg, f"{row['id']}: {res.n_brics} BRICS fragments")
        ]
    elif args.rule == "brics":
        legends = [f"{row['id']}: {row['n_patches']} BRICS fragments" for row in rows]
    path = draw_patches(args.draw, mols, ids, ents, legends)
    print(f"wrote {path}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Run ``edt patch``; returns 2 if any input was invalid, else 0."""
    _check_options(args)
    inputs, status = _collect_inputs(args)

    import torch

    from edtformer.entropy import load_default_scorer, load_scorer
    from edtformer.patching import patch_molecules

    if args.threads:
        torch.set_num_threads(args.threads)
    records, ids, parse_status = _parse_inputs(inputs)
    status = parse_status or status
    rows: list[dict[str, Any]] = []
    if records:
        scorer = load_scorer(args.model) if args.model else load_default_scorer()
        entropies, results = patch_molecules(records, args.rule, scorer, **rule_options(args))
        rows = [
            result_dict(r, e, p, i)
            for r, e, p, i in zip(records, entropies, results, ids, strict=True)
        ]
    if args.json:
        for row in rows:
            print(json.dumps(row), flush=True)
    elif rows:
        print_table(rows, f"Entropy patches (rule: {args.rule})")
    if args.draw and rows:
        _draw(args, records, rows, entropies, results)
    return status

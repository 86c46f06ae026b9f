"""``edt encoders`` (list the registry) and ``edt encode`` (fill the node-feature cache).

``edt encode --encoder minimol --input mols.smi --cache cache/`` computes each molecule's node
features once and stores them; a re-run (or a run after an interruption) only computes what is
missing. Bad molecules are reported one line each on stderr; the good ones are still written and
the exit code is 1 at the end if any molecule failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any) -> None:
    """Add the ``encoders`` and ``encode`` commands."""
    from edtformer.cli.files import add_file_options

    ls = sub.add_parser(
        "encoders",
        help="list the frozen graph encoders",
        description="List the frozen graph encoders: name, feature width, whether pretrained, "
        "licence, source and the labels each was trained on (* marks the default).",
    )
    ls.add_argument("--json", action="store_true", help="one JSON object per encoder and line")
    ls.set_defaults(func=_list)

    enc = sub.add_parser(
        "encode",
        help="compute node features into the on-disk cache",
        description="Compute each molecule's per-atom features with a frozen encoder once and "
        "store them in a cache folder; a re-run computes only what is missing. Bad rows are "
        "named (FILE:LINE) and skipped; the exit code is 1 if any failed.",
    )
    enc.add_argument("--encoder", default=None, help="registry name (default: minimol)")
    add_file_options(enc, required=True)
    enc.add_argument("--cache", required=True, help="cache folder")
    enc.add_argument("--checkpoint", default=None, help="weights file (gin: molecule_model.pth)")
    enc.add_argument(
        "--batch-size", type=int, default=64, help="molecules per encoder call (default 64)"
    )
    enc.add_argument("--threads", type=int, default=None, help="torch / ONNX Runtime threads")
    enc.add_argument("--json", action="store_true", help="print the summary as JSON")
    enc.set_defaults(func=_encode)


def _list(args: argparse.Namespace) -> int:
    from edtformer.encoders import DEFAULT_ENCODER, list_encoders

    infos = list_encoders()
    if args.json:
        for i in infos:
            print(json.dumps(i.to_dict() | {"default": i.name == DEFAULT_ENCODER}))
        return 0
    print(f"{'name':<10} {'width':>5}  {'pretrained':<10}  {'licence':<12}  source / trained on")
    for i in infos:
        star = "*" if i.name == DEFAULT_ENCODER else " "
        print(
            f"{i.name + star:<10} {i.width:>5}  {'yes' if i.pretrained else 'no':<10}  "
            f"{i.licence.split(' ')[0]:<12}  {i.source}"
        )
        labels = ", ".join(i.trained_on) if i.trained_on else "(no labels)"
        if len(labels) > 160:
            labels = labels[:157] + "..."
        print(f"{'':<43}trained on: {labels}")
    print("* default")
    return 0


def _encode(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from edtformer.chem import parse_smiles
    from edtformer.encoders import DEFAULT_ENCODER, get_encoder
    from edtformer.encoders.cache import NodeFeatureCache
    from edtformer.errors import EdtError

    if args.batch_size < 1:
        raise EdtError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.threads is not None and args.threads < 1:
        raise EdtError(f"--threads must be at least 1, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.encoder or DEFAULT_ENCODER
    kwargs: dict[str, Any] = {}
    if args.checkpoint:
        kwargs["checkpoint"] = args.checkpoint
    if args.threads and name == "minimol":
        kwargs["threads"] = args.threads
    from edtformer.cli.files import read_input, row_error
    from edtformer.encoders import encoder_info

    encoder_info(name)  # an unknown name fails before the file is read
    table = read_input(args)  # before the encoder loads; an empty file is an error
    rows = table.rows
    items = [(table.where(r), r.smiles) for r in rows if r.error is None]
    failed = 0
    for r in rows:
        if r.error is not None:
            failed += 1
            row_error("encode", table.where(r), r.error)
    encoder = get_encoder(name, **kwargs)
    cache = NodeFeatureCache(args.cache, encoder)
    bar = tqdm(total=len(items), desc=f"encode[{name}]", unit="mol", file=sys.stderr, disable=None)
    for start in range(0, len(items), args.batch_size):
        chunk = items[start : start + args.batch_size]
        records, where = [], []
        for at, smiles in chunk:
            try:
                records.append(parse_smiles(smiles))
                where.append(at)
            except EdtError as exc:
                failed += 1
                row_error("encode", at, exc)
        for at, out in zip(where, cache.encode_many(records, args.batch_size), strict=True):
            if isinstance(out, EdtError):
                failed += 1
                row_error("encode", at, out)
        bar.update(len(chunk))
    bar.close()
    s = cache.stats
    summary = {
        "encoder": name,
        "version": encoder.info.version,
        "molecules": len(rows),
        "cached": s.hits,
        "computed": s.written,
        "failed": failed,
        "bad_entries_recomputed": s.bad_entries,
        "cache_dir": str(cache.dir),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{len(rows)} molecules with {name}: {s.hits} cached, {s.written} computed, "
            f"{failed} failed -> {cache.dir}"
        )
    return 1 if failed else 0

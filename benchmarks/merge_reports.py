"""Merge ``edt eval --out`` files of one model (e.g. two processes, one per core) into one.

    edt eval --model M --task struct_text --out a.json &
    edt eval --model M --task stereo,struct_mc,bbbp --out b.json & wait
    python benchmarks/merge_reports.py a.json b.json --out test_eval.json

Refuses files that score the same task twice or disagree on the model or split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edtformer.utils.io import atomic_write_json


def merge(paths: list[Path]) -> dict[str, list[dict]]:
    """The reports of every file, in order; ``ValueError`` on a repeated task or mixed runs."""
    reports: list[dict] = []
    for path in paths:
        reports += json.loads(path.read_text())["reports"]
    tasks = [r.get("task") for r in reports]
    repeated = sorted({t for t in tasks if tasks.count(t) > 1})
    if repeated:
        raise ValueError(f"task(s) scored in more than one file: {repeated}")
    for key in ("model", "split"):
        values = {json.dumps(r.get(key), sort_keys=True) for r in reports}
        if len(values) > 1:
            raise ValueError(f"the files disagree on {key!r}: {sorted(values)}")
    return {"reports": reports}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    try:
        merged = merge(args.files)
    except (OSError, ValueError, KeyError) as err:
        print(f"merge_reports: {err}", file=sys.stderr)
        return 2
    atomic_write_json(args.out, merged)
    print(f"{len(merged['reports'])} reports -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

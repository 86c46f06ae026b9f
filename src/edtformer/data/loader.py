"""Read and write dataset folders: ``<dir>/<task>/<split>.jsonl`` plus ``manifest.json``.

Used by training and evaluation::

    from edtformer.data import list_tasks, load_task
    for task in list_tasks("data/"):
        train = load_task("data/", task, "train")
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edtformer.data.schema import SPLIT_NAMES, Record, validate_record
from edtformer.data.splits import SplitTable
from edtformer.errors import DataError
from edtformer.utils.io import atomic_write_text

MANIFEST = "manifest.json"


def dumps_record(rec: Record) -> str:
    """One JSONL line (no newline): fields in schema order, UTF-8 kept, no spaces after separators."""
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Record]) -> Path:
    """Write records as JSONL atomically (an empty iterable gives an empty file)."""
    text = "".join(dumps_record(r) + "\n" for r in records)
    return atomic_write_text(path, text)


def load_jsonl(path: str | os.PathLike[str], validate: bool = True) -> list[Record]:
    """Read a JSONL file of records.

    Raises:
        DataError: missing file, bad JSON or a record that breaks the schema — the message
            names the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; build the data with `edt data build --out DIR`")
    out: list[Record] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path} line {n}: invalid JSON ({exc.msg})") from exc
            out.append(validate_record(obj, f"{path} line {n}") if validate else obj)
    return out


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``manifest.json`` of a built dataset folder."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: no manifest; is {root} a folder made by `edt data build`?")
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: invalid JSON ({exc.msg})") from exc
    return data


def list_tasks(root: str | os.PathLike[str]) -> list[str]:
    """Task names in a dataset folder (from its manifest, else its sub-folders), sorted."""
    root = Path(root)
    if (root / MANIFEST).is_file():
        return sorted(read_manifest(root)["counts"])
    if not root.is_dir():
        raise DataError(f"{root}: no such dataset folder")
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.jsonl")))


def load_task(root: str | os.PathLike[str], task: str, split: str) -> list[Record]:
    """All records of one task and split.

    Raises:
        DataError: unknown split, or a task the folder does not have (lists the ones it has).
    """
    if split not in SPLIT_NAMES:
        raise DataError(f"split {split!r} is not one of {SPLIT_NAMES}")
    path = Path(root) / task / f"{split}.jsonl"
    if not path.is_file():
        raise DataError(f"{root} has no task {task!r} (split {split}); tasks: {list_tasks(root)}")
    return load_jsonl(path)


def load_split_table(root: str | os.PathLike[str]) -> SplitTable:
    """The scaffold -> split table of a built dataset (``scaffolds.tsv``), with its seed and fractions.

    Pass it to the readers (``table=``) so that external data is split consistently with ours.
    """
    root = Path(root)
    path = root / "scaffolds.tsv"
    if not path.is_file():
        raise DataError(f"{path}: missing; is {root} a folder made by `edt data build`?")
    cfg = read_manifest(root).get("config", {})
    fractions = tuple(cfg.get("fractions", (0.8, 0.1, 0.1)))
    return SplitTable.from_tsv(path.read_text(encoding="utf-8"), fractions, int(cfg.get("seed", 0)))  # type: ignore[arg-type]

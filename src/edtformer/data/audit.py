"""Check a built dataset folder for scaffold leakage between splits (``edt data stats --check``).

The guarantee: **no molecule in any training file has a held-out scaffold**, and every held-out
record contains at least one molecule whose scaffold appears in no training file. Scaffolds are
recomputed from the SMILES in the files (every molecule a record shows, plus the molecules of a
SMILES answer), so the check does not trust the builder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edtformer.data.build import record_molecules
from edtformer.data.loader import list_tasks, load_split_table, load_task
from edtformer.data.schema import SPLIT_NAMES
from edtformer.data.splits import scaffold_key


def audit_splits(root: str | os.PathLike[str]) -> dict[str, Any]:
    """Recompute scaffold keys over every file of ``root`` and report leaks.

    Returns a dict with ``ok`` (bool), ``train_held_out`` (keys found in training files that the
    folder's ``scaffolds.tsv`` assigns to valid/test), ``unseen_free`` (ids of valid/test records
    none of whose molecules has a scaffold unseen in training), ``missing_keys`` (keys not in
    ``scaffolds.tsv``) and ``scaffolds`` (number of distinct keys per split of the files).
    """
    root = Path(root)
    table = load_split_table(root)
    cache: dict[str, str] = {}

    def key(smiles: str) -> str:
        if smiles not in cache:
            cache[smiles] = scaffold_key(smiles)
        return cache[smiles]

    keys: dict[str, set[str]] = {s: set() for s in SPLIT_NAMES}
    held_out: list[tuple[str, list[str]]] = []
    for task in list_tasks(root):
        for split in SPLIT_NAMES:
            for rec in load_task(root, task, split):
                ks = [key(s) for s in record_molecules(dict(rec))]
                keys[split].update(ks)
                if split != "train":
                    held_out.append((rec["id"], ks))
    train_held_out = sorted(k for k in keys["train"] if table.assignment.get(k, "train") != "train")
    unseen_free = sorted(rid for rid, ks in held_out if all(k in keys["train"] for k in ks))
    all_keys = set().union(*keys.values())
    missing = sorted(k for k in all_keys if k not in table.assignment)
    return {
        "ok": not (train_held_out or unseen_free or missing),
        "train_held_out": train_held_out,
        "unseen_free": unseen_free,
        "missing_keys": missing,
        "scaffolds": {s: len(v) for s, v in keys.items()},
    }

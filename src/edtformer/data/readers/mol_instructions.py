"""Mol-Instructions (molecule-oriented) reader: SELFIES instruction records."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edtformer.chem.files import read_text
from edtformer.data.readers._common import (
    _number,
    _resolve_split,
    _selfies_to_smiles,
    _split_from_name,
)
from edtformer.data.schema import MOL_TOKEN, Record, make_record
from edtformer.data.splits import SplitTable
from edtformer.errors import DataError


def _mol_list(text: str, where: str) -> list[str] | None:
    """Decode ``a.b`` SELFIES into canonical SMILES, or ``None`` if ``text`` is not SELFIES."""
    text = text.strip()
    if not text.startswith("[") or " " in text:
        return None
    return [_selfies_to_smiles(part, where) for part in text.split(".") if part]


def read_mol_instructions(
    path: str | os.PathLike[str],
    task: str | None = None,
    split: str | None = None,
    table: SplitTable | None = None,
) -> Iterator[Record]:
    """Read a Mol-Instructions molecule-oriented JSON file (a list of instruction records).

    The input molecules (SELFIES; ``reactants>>product`` for reagent prediction) become the
    record's ``smiles``; an output that is SELFIES becomes a canonical-SMILES answer, a number a
    ``number`` answer, anything else ``text``. Records whose input holds no molecule (the
    description-guided molecule *design* task, text -> molecule) cannot be fed to the graph
    encoder and raise :class:`DataError` — filter that file out.

    Args:
        task: task name of the records (default: the file name without extension).
        split: force a split (default: ``metadata.split``, else the file name, else the scaffold split).
        table: scaffold split table of a built dataset, used when no split is named.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such Mol-Instructions file")
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of {{instruction, input, output}} objects")
    task = task or path.stem
    named = _split_from_name(path)
    for i, obj in enumerate(data):
        where = f"{path} record {i}"
        if not isinstance(obj, dict) or not {"instruction", "input", "output"} <= set(obj):
            raise DataError(f"{where}: expected an object with 'instruction', 'input', 'output'")
        inp, out = str(obj["input"]), str(obj["output"])
        sides = inp.split(">>") if ">>" in inp else [inp]
        decoded = [_mol_list(side, where) for side in sides]
        if any(d is None for d in decoded):
            raise DataError(
                f"{where}: input {inp[:60]!r} is not SELFIES; text-to-molecule tasks are not supported"
            )
        groups = [d for d in decoded if d is not None]
        smiles = [s for g in groups for s in g]
        slots = " >> ".join(" + ".join([MOL_TOKEN] * len(g)) for g in groups)
        answer_mols = _mol_list(out, where)
        if answer_mols:
            answer, atype = ".".join(sorted(answer_mols)), "smiles"
        elif _number(out) is not None:
            answer, atype = out.strip(), "number"
        else:
            answer, atype = out.strip(), "text"
        raw_meta = obj.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        yield make_record(
            id=f"{task}-{i:06d}",
            task=task,
            split=_resolve_split(split, meta.get("split") or named, smiles, table),
            smiles=smiles,
            question=f"{str(obj['instruction']).strip()}\n{slots}",
            answer=answer,
            answer_type=atype,
            category="Reaction"
            if len(groups) > 1 or atype == "smiles"
            else "Property"
            if atype == "number"
            else "Structure",
            source="mol-instructions",
            meta=dict(meta),
        )

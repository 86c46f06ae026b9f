"""TDC / MoleculeNet CSV reader."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path

from edtformer.chem.files import read_text
from edtformer.data.readers._common import _number, _resolve_split, _split_from_name
from edtformer.data.schema import MOL_TOKEN, Record, make_record
from edtformer.data.sources import canonical
from edtformer.data.splits import SplitTable
from edtformer.errors import DataError

_ID_COLUMNS = {"drug_id", "mol_id", "id", "name", "cid", "compound_id", "num", "index"}


def _read_rows(path: Path) -> list[dict[str, str]]:
    """The CSV file's rows as ``{column: cell}`` (blank lines skipped, a ragged row an error)."""
    table_rows = list(csv.reader(io.StringIO(read_text(path), newline="")))
    fields = table_rows[0] if table_rows else []
    rows: list[dict[str, str]] = []
    for n, cells in enumerate(table_rows[1:], start=2):
        if not cells:
            continue  # a blank line
        if len(cells) != len(fields):
            raise DataError(
                f"{path} line {n}: {len(cells)} cells, the header has {len(fields)} "
                "(a ragged row; quote cells that hold commas)"
            )
        rows.append(dict(zip(fields, cells, strict=True)))
    return rows


def _resolve_columns(
    path: Path,
    header: list[str],
    smiles_column: str | None,
    target_columns: list[str] | None,
    id_column: str | None,
) -> tuple[str, list[str]]:
    """``(SMILES column, target columns)`` of ``header``, defaults filled in and checked."""
    smiles_column = smiles_column or next(
        (c for c in ("Drug", "smiles", "SMILES", "Smiles") if c in header), None
    )
    if smiles_column is None or smiles_column not in header:
        raise DataError(
            f"{path} line 1: no SMILES column (looked for {smiles_column or 'Drug/smiles'}); header {header}"
        )
    if id_column is not None and id_column not in header:
        raise DataError(f"{path} line 1: no id column {id_column!r}; header {header}")
    if target_columns is None:
        target_columns = (
            ["Y"]
            if "Y" in header
            else [
                c
                for c in header
                if c not in (smiles_column, id_column) and c.lower() not in _ID_COLUMNS
            ]
        )
    missing = [c for c in target_columns if c not in header]
    if missing or not target_columns:
        raise DataError(
            f"{path} line 1: target column(s) {missing or target_columns} not in header {header}"
        )
    return smiles_column, target_columns


def _binary_columns(rows: list[dict[str, str]], target_columns: list[str]) -> dict[str, bool]:
    """Whether each target column holds only 0/1 values (or empty cells)."""
    return {
        c: all(r[c].strip() in ("", "0", "1", "0.0", "1.0") for r in rows) for c in target_columns
    }


def _question_answer(value: float, binary: bool, decimals: int) -> tuple[str, str, str]:
    """``(default question template, answer, answer type)`` of one target value."""
    if binary:
        return "Is this molecule positive for {target}?", "yes" if value >= 0.5 else "no", "yesno"
    return "What is the {target} value of this molecule?", f"{value:.{decimals}f}", "number"


def read_csv_dataset(
    path: str | os.PathLike[str],
    task: str | None = None,
    smiles_column: str | None = None,
    target_columns: list[str] | None = None,
    split: str | None = None,
    table: SplitTable | None = None,
    decimals: int = 2,
    skip_invalid: bool = False,
    question: str | None = None,
    id_column: str | None = None,
) -> Iterator[Record]:
    """Read a TDC (``Drug``, ``Y``) or MoleculeNet (``smiles`` + targets) CSV file.

    A target whose values are all 0/1 gives yes/no questions ("Is this molecule <target>?"),
    any other a number question with ``decimals`` decimals. Empty target cells are skipped
    (MoleculeNet's multi-task files); one record per (row, target).

    Args:
        task: task name (default: the file name without extension).
        smiles_column: default ``Drug``, ``smiles`` or ``SMILES`` (the first present).
        target_columns: default ``Y``, else every column except the SMILES and id columns.
        skip_invalid: skip rows with an unparseable SMILES instead of raising.
        question: question template with an optional ``{target}`` field, e.g. ``"Can this
            molecule cross the blood-brain barrier?"`` (default: "Is this molecule positive for
            {target}?" / "What is the {target} value of this molecule?"; ``{target}`` is the
            column name, or the task name for TDC's ``Y``).
        id_column: a column whose value names each row's records (``ID`` or ``ID:target`` with
            several targets; default ``task-000000`` numbering); never a target.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such CSV file")
    rows = _read_rows(path)
    header = list(rows[0]) if rows else []
    smiles_column, target_columns = _resolve_columns(
        path, header, smiles_column, target_columns, id_column
    )
    task = task or path.stem
    named = _split_from_name(path)
    binary = _binary_columns(rows, target_columns)
    i = 0
    for n, row in enumerate(rows, start=2):
        where = f"{path} line {n}"
        smi = canonical(row[smiles_column] or "")
        if smi is None:
            if skip_invalid:
                continue
            raise DataError(
                f"{where}: invalid SMILES {row[smiles_column]!r} (use skip_invalid to skip)"
            )
        row_split = _resolve_split(split, named, [smi], table)
        for col in target_columns:
            cell = (row[col] or "").strip()
            if not cell:
                continue
            value = _number(cell)
            if value is None:
                raise DataError(f"{where}: column {col!r} value {cell!r} is not a number")
            name = task if col == "Y" else col
            template, answer, atype = _question_answer(value, binary[col], decimals)
            q = (question or template).format(target=name)
            rid = f"{task}-{i:06d}"
            if id_column is not None:
                rid = row[id_column] if len(target_columns) == 1 else f"{row[id_column]}:{col}"
            yield make_record(
                id=rid,
                task=task,
                split=row_split,
                smiles=[smi],
                question=f"{MOL_TOKEN}\n{q}",
                answer=answer,
                answer_type=atype,
                category="Property",
                source=task,
                meta={"target": col, "value": value},
            )
            i += 1

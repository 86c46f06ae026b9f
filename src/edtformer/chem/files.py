"""One reader for molecule files: ``.smi`` / ``.txt``, ``.csv`` / ``.tsv``, ``.jsonl`` (each
optionally ``.gz``).

Every command that reads SMILES from a file uses :func:`read_molecule_rows`, so every file gets
the same rules:

- ``.smi``/``.txt``: one molecule per line, the SMILES then optional whitespace and a name (the
  Daylight convention); the name is a separate field, never part of the SMILES. Blank lines and
  ``#`` comments are skipped.
- ``.csv``/``.tsv``: parsed with :mod:`csv` (a quoted comma in a name column stays in that
  column); the SMILES column is ``smiles`` (any case) unless named. A row with fewer cells than
  the header is reported as a bad row, not dropped or shifted.
- ``.jsonl``: one JSON object per line with a ``smiles`` field (or the named one).
- The file must be UTF-8 text: a binary or wrongly encoded file is refused with one line naming
  the byte offset, before any row is used.

Rows are yielded with their line number and their other fields; a row whose SMILES cell is
missing gets ``error`` set and an empty ``smiles``, so commands that process rows independently
can report it and go on. SMILES *validity* is checked later by :func:`edtformer.chem.parse_smiles`.

:func:`read_molecule_file` reads a whole file at once and checks it before any row is used: at
least one molecule row (an empty file or a lone header is a :class:`DataError`), and every column
the command needs (an id column, a question column) present.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edtformer.errors import DataError

#: File name endings :func:`read_molecule_rows` understands (before an optional ``.gz``).
MOLECULE_FILE_SUFFIXES = (".smi", ".txt", ".csv", ".tsv", ".jsonl")


@dataclass
class MolRow:
    """One row of a molecule file.

    Attributes:
        line: 1-based line number in the file (the header is line 1 of a CSV).
        smiles: the SMILES cell as written (stripped of surrounding whitespace).
        fields: the row's other columns (name, id, question, ...): strings, except a JSONL
            file's values, which keep their JSON types (``7``, ``true``, ``null``).
        error: why the row cannot be used (``None`` for a usable row).
    """

    line: int
    smiles: str
    fields: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    for suffix in MOLECULE_FILE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise DataError(
        f"{path}: unknown molecule file type; expected one of {', '.join(MOLECULE_FILE_SUFFIXES)}"
        " (optionally .gz)"
    )


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text (``.gz`` decompressed); binary or non-UTF-8 files raise
    :class:`DataError` with the offending offset."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"input file not found: {path}")
    if not path.is_file():
        raise DataError(f"{path} is not a file")
    try:
        data = (
            gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        )
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataError(f"{path}: UTF-16 text (byte-order mark); save it as UTF-8")
    nul = data.find(b"\x00", 0, 1 << 16)
    if nul >= 0:
        raise DataError(f"{path}: binary file (NUL byte at offset {nul}), expected UTF-8 text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8"
        ) from None


def read_molecule_rows(path: str | Path, smiles_column: str | None = None) -> Iterator[MolRow]:
    """Rows of a molecule file (see the module docstring for the formats and rules).

    Raises:
        DataError: missing, binary or non-UTF-8 file; unknown type; no SMILES column.
    """
    path = Path(path)
    kind = _kind(path)
    text = read_text(path)
    if kind in (".smi", ".txt"):
        yield from _smi_rows(text)
    elif kind == ".jsonl":
        yield from _jsonl_rows(path, text, smiles_column or "smiles")
    else:
        yield from _table_rows(path, text, smiles_column, "\t" if kind == ".tsv" else ",")


def _smi_rows(text: str) -> Iterator[MolRow]:
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        fields = {"name": parts[1].strip()} if len(parts) > 1 else {}
        yield MolRow(n, parts[0], fields)


def _jsonl_rows(path: Path, text: str, column: str) -> Iterator[MolRow]:
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            yield MolRow(n, "", error=f"not JSON ({exc.msg})")
            continue
        if not isinstance(obj, dict):
            yield MolRow(n, "", error="not a JSON object")
            continue
        fields = {str(k): v for k, v in obj.items()}
        smiles = fields.pop(column, None)
        if not isinstance(smiles, str):
            yield MolRow(n, "", fields, error=f"no string field {column!r}")
            continue
        yield MolRow(n, smiles.strip(), fields)


def _table_rows(path: Path, text: str, column: str | None, delimiter: str) -> Iterator[MolRow]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        return
    names = [h.strip() for h in header]
    want = (column or "smiles").lower()
    lower = [h.lower() for h in names]
    if want not in lower:
        raise DataError(f"{path}: no column {want!r} in header {names} (name the SMILES column)")
    k = lower.index(want)
    for row in reader:
        n = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield MolRow(n, "", error=f"{len(row)} cells, the header has {len(names)}")
            continue
        fields = {names[i]: row[i] for i in range(len(names)) if i != k}
        yield MolRow(n, row[k].strip(), fields)


@dataclass
class MoleculeTable:
    """A whole molecule file, checked (:func:`read_molecule_file`).

    Attributes:
        path: the file.
        rows: its rows in file order (at least one).
        columns: the names of the rows' other fields, in first-seen order (``smiles`` excluded).
        id_column: the column that names each row (``None``: rows are named by line number).
    """

    path: Path
    rows: list[MolRow]
    columns: list[str]
    id_column: str | None = None

    def row_id(self, row: MolRow) -> Any:
        """The row's id: its ``id_column`` value as written, else its line number."""
        if self.id_column is None:
            return row.line
        return row.fields.get(self.id_column)

    def where(self, row: MolRow) -> str:
        """``FILE:LINE`` of the row (and its id when an id column is named), for messages."""
        at = f"{self.path}:{row.line}"
        return at if self.id_column is None else f"{at} ({self.id_column} {self.row_id(row)!s})"


def read_molecule_file(
    path: str | Path,
    smiles_column: str | None = None,
    id_column: str | None = None,
    require: dict[str, str] | None = None,
) -> MoleculeTable:
    """All rows of a molecule file, checked before any row is used.

    Args:
        path: ``.smi``/``.txt``/``.csv``/``.tsv``/``.jsonl`` (optionally ``.gz``).
        smiles_column: the SMILES column (default ``smiles``, any case).
        id_column: a column that names each row (in messages and outputs).
        require: more columns the command needs, ``{column: the option that named it}``
            (e.g. ``{"question": "--question-column"}``).

    Raises:
        DataError: an unreadable file (:func:`read_molecule_rows`), no molecule row (empty, or
            a header only), or a named column that no row has (the message lists the columns).
    """
    path = Path(path)
    rows = list(read_molecule_rows(path, smiles_column))
    if not rows:
        raise no_molecules_error(path)
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r.fields if k not in columns]
    wanted = dict(require or {})
    if id_column is not None:
        wanted = {id_column: "--id-column", **wanted}
    for column, option in wanted.items():
        if column not in columns:
            have = ", ".join(columns) if columns else "none besides the SMILES"
            raise DataError(f"{path}: no column {column!r} ({option}); its columns: {have}")
    return MoleculeTable(path, rows, columns, id_column)


def no_molecules_error(path: str | Path) -> DataError:
    """The error of a molecule file without a single molecule row."""
    path = Path(path)
    what = (
        "the file is empty or a header only"
        if _kind(path) in (".csv", ".tsv")
        else "no molecule lines"
    )
    return DataError(f"{path}: no molecules ({what})")


__all__ = [
    "MOLECULE_FILE_SUFFIXES",
    "MolRow",
    "MoleculeTable",
    "no_molecules_error",
    "read_molecule_file",
    "read_molecule_rows",
    "read_text",
]

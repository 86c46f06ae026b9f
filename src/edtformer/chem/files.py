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
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edtformer.errors import DataError

#: File name endings :func:`read_molecule_rows` understands (before an optional ``.gz``).
MOLECULE_FILE_SUFFIXES = (".smi", ".txt", ".csv", ".tsv", ".jsonl")


@dataclass
class MolRow:
    """One row of a molecule file.

    Attributes:
        line: 1-based line number in the file (the header is line 1 of a CSV).
        smiles: the SMILES cell as written (stripped of surrounding whitespace).
        fields: the row's other columns (name, id, question, ...), as strings.
        error: why the row cannot be used (``None`` for a usable row).
    """

    line: int
    smiles: str
    fields: dict[str, str] = field(default_factory=dict)
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
        fields = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
        smiles = fields.pop(column, None)
        if not isinstance(obj.get(column), str):
            yield MolRow(n, "", fields, error=f"no string field {column!r}")
            continue
        yield MolRow(n, (smiles or "").strip(), fields)


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


__all__ = ["MOLECULE_FILE_SUFFIXES", "MolRow", "read_molecule_rows", "read_text"]

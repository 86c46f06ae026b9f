"""The file options every command that reads molecules shares: ``--input``, ``--smiles-column``
and ``--id-column``, read by one reader (:func:`edtformer.chem.files.read_molecule_file`).

``patch``, ``ask`` and ``encode`` take the same three flags with the same meaning; a row's errors
are printed as ``FILE:LINE: reason`` (with the id when ``--id-column`` names one), and ``--json``
lines carry the row's id (its ``--id-column`` value, else its line number).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: The help text of ``--input``: the formats :func:`read_molecule_file` reads.
INPUT_HELP = (
    "a file of molecules: .smi/.txt (SMILES [name]), .csv/.tsv (a smiles column) or .jsonl "
    "(a smiles field), optionally .gz"
)


def add_file_options(p: Any, required: bool = False, short: bool = False) -> None:
    """Add ``--input`` (``-i`` with ``short``), ``--smiles-column`` and ``--id-column`` to ``p``."""
    flags = ("--input", "-i") if short else ("--input",)
    p.add_argument(*flags, required=required, metavar="FILE", help=INPUT_HELP)
    p.add_argument(
        "--smiles-column", metavar="NAME", default=None,
        help="the column (or JSONL field) with the SMILES (default: smiles, any case)",
    )  # fmt: skip
    p.add_argument(
        "--id-column", metavar="NAME", default=None,
        help="the column that names each row in errors and output (default: its line number)",
    )  # fmt: skip


def read_input(args: argparse.Namespace, require: dict[str, str] | None = None) -> Any:
    """The checked :class:`~edtformer.chem.files.MoleculeTable` of ``args.input`` (an empty file,
    a missing column: one :class:`~edtformer.errors.DataError` before any row is used)."""
    from edtformer.chem.files import read_molecule_file

    return read_molecule_file(args.input, args.smiles_column, args.id_column, require)


def check_file_options(args: argparse.Namespace) -> None:
    """``--smiles-column`` / ``--id-column`` without ``--input`` are refused (they would be
    silently ignored)."""
    from edtformer.errors import EdtError

    if args.input:
        return
    given = [
        f
        for f, v in (("--smiles-column", args.smiles_column), ("--id-column", args.id_column))
        if v
    ]
    if given:
        raise EdtError(f"{' and '.join(given)} name columns of --input FILE; no --input was given")


def row_error(command: str, where: str, message: object) -> None:
    """One ``edt COMMAND: error: FILE:LINE: reason`` line on stderr."""
    print(f"edt {command}: error: {where}: {message}", file=sys.stderr, flush=True)


__all__ = ["INPUT_HELP", "add_file_options", "check_file_options", "read_input", "row_error"]

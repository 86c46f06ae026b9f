"""``edt ask --input FILE --out FILE``: answer a file of molecules, batched, resumable.

Rows come from :func:`edtformer.chem.files.read_molecule_file` (``.smi``/``.csv``/``.tsv``/
``.jsonl``, optionally ``.gz``); every input column is kept in the output (ids, names, ...),
followed by ``line``, ``smiles``, ``question``, ``answer``, ``truncated`` and ``error`` (and
``facts`` with ``--show-facts``). The question is ``--question`` for every row, or each row's
``--question-column`` (default ``question``). With ``--choices yes,no`` (or ``A,B,C,D``) nothing
is generated: each prompt's options are scored in one forward per batch, ``answer`` is the most
probable option and ``p_<option>`` columns hold the probabilities (renormalised over the
options).

The arguments are checked once, before any row is read and before the output file is created
(:func:`check_batch_args`, then the file's columns in :func:`run_batch`): a bad combination is
one error line and exit 2, never a file of identical row errors.

The output (``.csv`` or ``.jsonl``, by extension) is appended batch by batch and flushed, so a
killed run loses at most one batch; ``--resume`` skips the input lines already in the output
(a half-written last line is dropped first). A bad row (invalid SMILES, missing cell, question
too long) is named on stderr as ``FILE:LINE: reason`` and in its ``error`` column; the other rows
are answered. JSONL keeps types: ids as in the input, ``truncated`` a boolean, ``null`` where a
value is absent (``answer`` of a refused row, ``error`` of an answered one). The exit code is 2
when any row of the output failed, in this run or an earlier one (so ``--resume`` gives the
same code as the first run).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edtformer.errors import DataError, EdtError

#: Output columns after the input's own.
ANSWER_COLUMNS = ("line", "smiles", "question", "answer", "truncated", "error")
#: Joins the facts of a row's molecules in a CSV cell (JSONL keeps the list).
FACTS_SEPARATOR = " || "


def _out_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise DataError(f"--out {path}: expected a .csv or .jsonl file name")
    return suffix


def drop_partial_line(path: Path) -> None:
    """Cut a half-written last line (a run killed mid-write) so appending stays valid."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with path.open("r+b") as fh:
            fh.truncate(cut)


def done_lines(path: Path, kind: str) -> dict[int, bool]:
    """Input line numbers already in an existing output file, each with whether it failed."""
    if not path.is_file():
        return {}
    drop_partial_line(path)
    text = path.read_text(encoding="utf-8")
    rows: Iterable[dict[str, Any]]
    if kind == ".jsonl":
        rows = (json.loads(line) for line in text.splitlines() if line.strip())
    else:
        rows = csv.DictReader(io.StringIO(text, newline=""))
    out = {}
    for row in rows:
        try:
            out[int(row["line"])] = bool(row.get("error"))
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{path}: not an `edt ask --out` file (no line column)") from None
    return out


class AnswerWriter:
    """Appends answer rows to a ``.csv`` or ``.jsonl`` file, flushing after every batch."""

    def __init__(self, path: Path, kind: str, columns: list[str], new: bool) -> None:
        self.kind = kind
        self.columns = columns
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = path.open("a", encoding="utf-8", newline="")
        self.writer = csv.DictWriter(self.fh, fieldnames=columns, extrasaction="ignore")
        if new and kind == ".csv":
            self.writer.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if self.kind == ".jsonl":
                self.fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            else:
                self.writer.writerow({k: _cell(v) for k, v in row.items()})
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def _cell(value: Any) -> Any:
    """A CSV cell: lists joined, ``None`` empty."""
    if isinstance(value, list):
        return FACTS_SEPARATOR.join(str(v) for v in value)
    return "" if value is None else value


def answer_row(
    row: Any,
    question: Any,
    answer: Any,
    choices: list[str] | None = None,
    show_facts: bool = False,
) -> dict[str, Any]:
    """One output row: the input's columns, then the question and the answer or its error
    (``answer`` is an :class:`~edtformer.model.outputs.Answer`, ``{option: probability}`` when
    ``choices`` are scored, an error, or an error text); absent values are ``None``."""
    base = {**row.fields, "line": row.line, "smiles": row.smiles, "question": question}
    probs: dict[str, Any] = {f"p_{c}": None for c in choices or []}
    facts: dict[str, Any] = {"facts": None} if show_facts else {}
    if isinstance(answer, EdtError | str):
        return {**base, "answer": None, "truncated": None, "error": str(answer), **facts, **probs}
    if isinstance(answer, dict):  # scored options
        best = max(answer, key=answer.__getitem__)
        probs = {f"p_{c}": round(p, 6) for c, p in answer.items()}
        return {**base, "answer": best, "truncated": False, "error": None, **facts, **probs}
    if show_facts:
        facts = {"facts": answer.facts}
    return {
        **base,
        "answer": answer.answer,
        "truncated": bool(answer.truncated),
        "error": None,
        **facts,
        **probs,
    }


def parse_choices(text: str | None) -> list[str] | None:
    """``--choices yes,no`` -> ``["yes", "no"]`` (at least two, distinct, non-empty)."""
    if text is None:
        return None
    options = [c.strip() for c in text.split(",")]
    if len(options) < 2 or any(not c for c in options) or len(set(options)) != len(options):
        raise EdtError(
            f"--choices: give two or more distinct comma-separated options, got {text!r}"
        )
    return options


#: Options that only apply to a file of molecules (``--input``).
BATCH_ONLY = (
    ("--out", "out"),
    ("--question", "batch_question"),
    ("--question-column", "question_column"),
    ("--smiles-column", "smiles_column"),
    ("--id-column", "id_column"),
    ("--resume", "resume"),
)


def check_batch_args(args: argparse.Namespace) -> None:
    """Every argument combination of batch mode, checked once before anything is read or written.

    Raises:
        EdtError: batch options without ``--input``; ``--input`` with a SMILES argument or
            without ``--out``; ``--question`` with ``--question-column``; a bad ``--out`` name,
            an existing ``--out`` without ``--resume``; ``--batch-size`` below 1.
    """
    if not args.input:
        given = [flag for flag, dest in BATCH_ONLY if getattr(args, dest, None)]
        if given:
            raise EdtError(
                f"{', '.join(given)} only apply to a file of molecules (--input FILE --out "
                "FILE); for one molecule give SMILES QUESTION"
            )
        return
    if args.smiles is not None:
        raise EdtError(
            "give either SMILES QUESTION or --input FILE, not both (the question of every row "
            "is --question TEXT or a question column)"
        )
    if not args.out:
        raise EdtError("--input needs --out FILE.csv or FILE.jsonl for the answers")
    if args.batch_question is not None and args.question_column:
        raise EdtError(
            "give --question TEXT (one question for every row) or --question-column NAME "
            "(each row's own), not both"
        )
    if args.batch_size < 1:
        raise EdtError(f"--batch-size must be at least 1, got {args.batch_size}")
    out = Path(args.out)
    _out_kind(out)
    if out.exists() and not args.resume:
        raise DataError(f"{out} exists; pass --resume to continue it, or choose another --out")


def _question_source(args: argparse.Namespace) -> tuple[str | None, str, dict[str, str] | None]:
    """``(question of every row or None, question column, columns the input must have)``."""
    question_for_all = args.batch_question
    qcol = args.question_column or "question"
    require = None
    if question_for_all is None:
        option = "--question-column" if args.question_column else (
            "no --question TEXT was given, so each row's question is read from this column; "
            "name another with --question-column"
        )  # fmt: skip
        require = {qcol: option}
    return question_for_all, qcol, require


def _output_columns(
    input_columns: list[str],
    out: Path,
    kind: str,
    drop_question: str | None,
    choices: list[str] | None,
    show_facts: bool,
) -> list[str]:
    """The output's columns (an existing CSV's own; ``drop_question``: the question column)."""
    fields = [f for f in input_columns if f not in ANSWER_COLUMNS]
    if drop_question is not None:
        fields = [f for f in fields if f != drop_question]
    columns = (
        fields
        + list(ANSWER_COLUMNS)
        + (["facts"] if show_facts else [])
        + [f"p_{c}" for c in choices or []]
    )
    if out.is_file() and kind == ".csv" and out.stat().st_size:
        with out.open(encoding="utf-8", newline="") as fh:
            columns = next(csv.reader(fh))  # keep the existing file's columns
    return columns


def _sort_rows(
    todo: list[Any],
    table: Any,
    question_for_all: str | None,
    qcol: str,
    choices: list[str] | None,
    show_facts: bool,
) -> tuple[list[tuple[Any, str]], list[dict[str, Any]]]:
    """``(ready, failed)``: ``(row, question)`` to answer, and the refused rows' output rows."""
    from edtformer.cli.files import row_error
    from edtformer.llm.prompt import PromptBuilder

    ready: list[tuple[Any, str]] = []
    failed: list[dict[str, Any]] = []
    for r in todo:
        question = question_for_all if question_for_all is not None else r.fields.get(qcol)
        error = r.error
        if error is None and (question is None or not str(question).strip()):
            error = f"no question in column {qcol!r}"
        if error is None:
            try:
                PromptBuilder.user_text(str(question), 1)
            except EdtError as exc:
                error = str(exc)
        if error is not None:
            row_error("ask", table.where(r), error)
            failed.append(answer_row(r, question, error, choices, show_facts))
        else:
            ready.append((r, str(question)))
    return ready, failed


def _answer_chunk(
    model: Any, chunk: list[tuple[Any, str]], choices: list[str] | None, args: argparse.Namespace
) -> list[Any]:
    """The answers (or option probabilities) of one batch of ``(row, question)``."""
    if choices is not None:  # one forward per batch, no generation
        return model.score_many(
            [r.smiles for r, _ in chunk],
            [q for _, q in chunk],
            choices,
            batch_size=args.batch_size,
        )
    return model.ask_many(
        [r.smiles for r, _ in chunk],
        [q for _, q in chunk],
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
    )


def _answer_ready(
    args: argparse.Namespace,
    load_model: Any,
    ready: list[tuple[Any, str]],
    table: Any,
    writer: AnswerWriter,
    choices: list[str] | None,
    show_facts: bool,
) -> int:
    """Load the model and write ``ready``'s answers batch by batch; returns how many failed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from edtformer.cli.files import row_error

    n_bad = 0
    model, _ = load_model(args.model, args.threads, args.device, args.dtype)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_stderr_console(),
        disable=not sys.stderr.isatty(),
    ) as bar:
        task = bar.add_task("answering", total=len(ready))
        for start in range(0, len(ready), args.batch_size):
            chunk = ready[start : start + args.batch_size]
            answers = _answer_chunk(model, chunk, choices, args)
            out_rows = []
            for (r, q), ans in zip(chunk, answers, strict=True):
                if isinstance(ans, EdtError):
                    n_bad += 1
                    row_error("ask", table.where(r), ans)
                out_rows.append(answer_row(r, q, ans, choices, show_facts))
            writer.write(out_rows)
            bar.advance(task, len(chunk))
    return n_bad


def run_batch(args: argparse.Namespace, load_model: Any) -> int:
    """The batch mode of ``edt ask`` (arguments checked by :func:`check_batch_args`); returns 2
    if any row of the output failed, else 0."""
    from edtformer.cli.files import read_input

    check_batch_args(args)
    out = Path(args.out)
    kind = _out_kind(out)
    question_for_all, qcol, require = _question_source(args)
    table = read_input(args, require)  # an empty file or a missing column: one error, no output
    choices = parse_choices(getattr(args, "choices", None))
    show_facts = bool(getattr(args, "show_facts", False)) and choices is None
    rows = table.rows
    done = done_lines(out, kind) if args.resume else {}
    lines = {r.line for r in rows}
    n_done = sum(1 for line in done if line in lines)
    n_failed_before = sum(1 for line, failed in done.items() if failed and line in lines)
    todo = [r for r in rows if r.line not in done]
    drop = qcol if question_for_all is None else None
    columns = _output_columns(table.columns, out, kind, drop, choices, show_facts)
    ready, failed = _sort_rows(todo, table, question_for_all, qcol, choices, show_facts)
    n_bad = len(failed)
    before = f" ({n_failed_before} of them failed)" if n_failed_before else ""
    print(
        f"{len(rows)} rows: {n_done} already in {out}{before}, {len(ready)} to answer, "
        f"{n_bad} refused",
        file=sys.stderr,
    )
    writer = AnswerWriter(out, kind, columns, new=not (out.is_file() and out.stat().st_size))
    try:
        writer.write(failed)
        if ready:
            n_bad += _answer_ready(args, load_model, ready, table, writer, choices, show_facts)
    finally:
        writer.close()
    print(f"wrote {out}", file=sys.stderr)
    return 2 if n_bad or n_failed_before else 0


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)

"""``edt ask --input FILE --out FILE``: answer a file of molecules, batched, resumable.

Rows come from :func:`edtformer.chem.files.read_molecule_rows` (``.smi``/``.csv``/``.tsv``/
``.jsonl``, optionally ``.gz``); every input column is kept in the output (ids, names, ...),
followed by ``question``, ``answer``, ``truncated`` and ``error``. The question is ``--question``
for every row, or each row's ``--question-column`` (default ``question``). With ``--choices
yes,no`` (or ``A,B,C,D``) nothing is generated: each prompt's options are scored in one forward
per batch, ``answer`` is the most probable option and ``p_<option>`` columns hold the
probabilities (renormalised over the options).

The output (``.csv`` or ``.jsonl``, by extension) is appended batch by batch and flushed, so a
killed run loses at most one batch; ``--resume`` skips the input lines already in the output
(a half-written last line is dropped first). A bad row (invalid SMILES, missing cell, question
too long) is named on stderr and in its ``error`` column; the other rows are answered.
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


def done_lines(path: Path, kind: str) -> set[int]:
    """Input line numbers already answered in an existing output file."""
    if not path.is_file():
        return set()
    drop_partial_line(path)
    text = path.read_text(encoding="utf-8")
    rows: Iterable[dict[str, Any]]
    if kind == ".jsonl":
        rows = (json.loads(line) for line in text.splitlines() if line.strip())
    else:
        rows = csv.DictReader(io.StringIO(text, newline=""))
    out = set()
    for row in rows:
        try:
            out.add(int(row["line"]))
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
                self.writer.writerow(row)
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        self.fh.close()


def answer_row(
    row: Any, question: Any, answer: Any, choices: list[str] | None = None
) -> dict[str, Any]:
    """One output row: the input's columns, then the question and the answer or its error
    (``answer`` is an :class:`~edtformer.model.outputs.Answer`, ``{option: probability}`` when
    ``choices`` are scored, an error, or an error text)."""
    base = {**row.fields, "line": row.line, "smiles": row.smiles, "question": question}
    probs = {f"p_{c}": "" for c in choices or []}
    if isinstance(answer, EdtError | str):
        return {**base, "answer": "", "truncated": "", "error": str(answer), **probs}
    if isinstance(answer, dict):  # scored options
        best = max(answer, key=answer.__getitem__)
        probs = {f"p_{c}": round(p, 6) for c, p in answer.items()}
        return {**base, "answer": best, "truncated": False, "error": "", **probs}
    return {**base, "answer": answer.answer, "truncated": answer.truncated, "error": "", **probs}


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


def run_batch(args: argparse.Namespace, load_model: Any) -> int:
    """The batch mode of ``edt ask``; returns 2 if any row failed, else 0."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from edtformer.chem.files import read_molecule_rows
    from edtformer.llm.prompt import PromptBuilder

    if not args.out:
        raise EdtError("--input needs --out FILE.csv or FILE.jsonl for the answers")
    if args.batch_size < 1:
        raise EdtError(f"--batch-size must be at least 1, got {args.batch_size}")
    out = Path(args.out)
    kind = _out_kind(out)
    if out.exists() and not args.resume:
        raise DataError(f"{out} exists; pass --resume to continue it, or choose another --out")
    rows = list(read_molecule_rows(args.input, args.smiles_column))
    qcol = args.question_column or "question"
    skip = done_lines(out, kind) if args.resume else set()
    todo = [r for r in rows if r.line not in skip]
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r.fields if k not in fields and k not in ANSWER_COLUMNS]
    if args.question is None:
        fields = [f for f in fields if f != qcol]
    choices = parse_choices(getattr(args, "choices", None))
    columns = fields + list(ANSWER_COLUMNS) + [f"p_{c}" for c in choices or []]
    if out.is_file() and kind == ".csv" and out.stat().st_size:
        with out.open(encoding="utf-8", newline="") as fh:
            columns = next(csv.reader(fh))  # keep the existing file's columns
    n_bad = 0
    ready: list[tuple[Any, str]] = []
    failed: list[dict[str, Any]] = []
    for r in todo:
        question = args.question if args.question is not None else r.fields.get(qcol)
        error = r.error
        if error is None and not question:
            error = f"no question (give --question or a {qcol!r} column)"
        if error is None:
            try:
                PromptBuilder.user_text(str(question), 1)
            except EdtError as exc:
                error = str(exc)
        if error is not None:
            n_bad += 1
            print(f"edt ask: {args.input}:{r.line}: {error}", file=sys.stderr)
            failed.append(answer_row(r, question, error, choices))
        else:
            ready.append((r, str(question)))
    print(
        f"{len(rows)} rows: {len(skip & {r.line for r in rows})} already answered, "
        f"{len(ready)} to answer, {n_bad} refused",
        file=sys.stderr,
    )
    writer = AnswerWriter(out, kind, columns, new=not (out.is_file() and out.stat().st_size))
    try:
        writer.write(failed)
        if ready:
            print("loading the model...", file=sys.stderr, flush=True)
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
                    answers: list[Any]
                    if choices is not None:  # one forward per batch, no generation
                        answers = model.score_many(
                            [r.smiles for r, _ in chunk],
                            [q for _, q in chunk],
                            choices,
                            batch_size=args.batch_size,
                        )
                    else:
                        answers = model.ask_many(
                            [r.smiles for r, _ in chunk],
                            [q for _, q in chunk],
                            max_new_tokens=args.max_new_tokens,
                            batch_size=args.batch_size,
                        )
                    out_rows = []
                    for (r, q), ans in zip(chunk, answers, strict=True):
                        if isinstance(ans, EdtError):
                            n_bad += 1
                            print(f"edt ask: {args.input}:{r.line}: {ans}", file=sys.stderr)
                        out_rows.append(answer_row(r, q, ans, choices))
                    writer.write(out_rows)
                    bar.advance(task, len(chunk))
    finally:
        writer.close()
    print(f"wrote {out}", file=sys.stderr)
    return 2 if n_bad else 0


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)

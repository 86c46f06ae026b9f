"""Readers for the paper's benchmark formats, yielding records in our schema (:class:`Record`).

None of these data sets ships offline; users who have the files can train and evaluate on them:

- :func:`read_moleculeqa` — MoleculeQA: JSON/JSONL objects (``smiles``/``cid``, ``question``,
  ``options``, ``answer``, ``category``), the BioT5-style ``{"Instances": [{"input", "output"}]}``
  JSON and the MolT5-style ``CID<TAB>Question<TAB>Answer`` text files (options inside the text).
- :func:`read_mol_instructions` — Mol-Instructions molecule-oriented JSON lists of
  ``{"instruction", "input", "output", "metadata"}`` with SELFIES molecules (decoded with
  ``selfies`` and canonicalised by RDKit; reactions ``a.b>>c`` give several molecules).
- :func:`read_csv_dataset` — TDC (``Drug``, ``Y``) and MoleculeNet (``smiles`` + target columns).

Splits: a reader uses the split it is given, else the one the file names (``train``/``valid``/
``test`` in its name or metadata), else the scaffold split of a built dataset's
:class:`~edtformer.data.splits.SplitTable` (pass ``table=``), else a seeded scaffold hash.
Bad lines raise :class:`~edtformer.errors.DataError` naming the file and line (or record index).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edtformer.data.schema import LETTERS, MOL_TOKEN, SPLIT_NAMES, Record, make_record
from edtformer.data.sources import canonical
from edtformer.data.splits import SplitTable, hash_split, scaffold_key
from edtformer.errors import DataError, require

_SPLIT_ALIASES = {
    "train": "train",
    "valid": "valid",
    "validation": "valid",
    "val": "valid",
    "dev": "valid",
    "test": "test",
}
_CATEGORIES = ("Structure", "Source", "Property", "Usage", "Application")


def _split_from_name(path: Path) -> str | None:
    for part in re.split(r"[^a-z]+", path.stem.lower()):
        if part in _SPLIT_ALIASES:
            return _SPLIT_ALIASES[part]
    return None


def _resolve_split(
    explicit: str | None, named: str | None, smiles: list[str], table: SplitTable | None
) -> str:
    for s in (explicit, named):
        if s is not None:
            if s.lower() not in _SPLIT_ALIASES:
                raise DataError(f"split {s!r} is not one of {SPLIT_NAMES}")
            return _SPLIT_ALIASES[s.lower()]
    if table is not None:
        return table.split_of_record(smiles)
    return max((hash_split(scaffold_key(s)) for s in smiles), key=SPLIT_NAMES.index)


def _smiles_or_error(text: str, where: str) -> str:
    smi = canonical(text)
    if smi is None:
        raise DataError(f"{where}: invalid SMILES {text!r}")
    return smi


def _selfies_to_smiles(text: str, where: str) -> str:
    sf: Any = require("selfies", "data")
    try:
        smiles = sf.decoder(text.strip())
    except Exception as exc:  # selfies raises its own DecoderError and others
        raise DataError(f"{where}: invalid SELFIES {text[:60]!r} ({exc})") from exc
    if not smiles:
        raise DataError(f"{where}: SELFIES {text[:60]!r} decodes to no molecule")
    return _smiles_or_error(smiles, where)


def _lower_keys(obj: dict[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in obj.items()}


# ---------------------------------------------------------------- MoleculeQA

_OPTION_RE = re.compile(r"^\s*Option\s+([A-D])\s*[:.]\s*(.*)$")


def _parse_mc_text(text: str) -> tuple[str | None, str | None, str, list[str]]:
    """(SMILES, SELFIES, question, options) from a MoleculeQA prompt text."""
    smiles = selfies = None
    question_lines: list[str] = []
    options: dict[str, str] = {}
    for line in text.splitlines():
        opt = _OPTION_RE.match(line)
        low = line.strip().lower()
        if opt:
            options[opt.group(1)] = opt.group(2).strip()
        elif low.startswith("molecule selfies:"):
            selfies = line.split(":", 1)[1].strip().replace("<bom>", "").replace("<eom>", "")
        elif low.startswith("molecule smiles:"):
            smiles = line.split(":", 1)[1].strip()
        elif low.startswith("question about this molecule:"):
            question_lines.append(line.split(":", 1)[1].strip())
        elif low and not low.startswith("your answer") and not options:
            question_lines.append(line.strip())
    return smiles, selfies, " ".join(question_lines).strip(), [options[k] for k in sorted(options)]


def _mc_record(
    i: int,
    where: str,
    smiles: str,
    question: str,
    options: list[str],
    answer: Any,
    category: str,
    split: str,
    source: str,
    meta: dict[str, Any],
) -> Record:
    if not 2 <= len(options) <= 4:
        raise DataError(f"{where}: expected 2-4 options, got {len(options)}")
    if isinstance(answer, int) and 0 <= answer < len(options):
        letter = LETTERS[answer]
    elif isinstance(answer, str) and answer.strip().upper() in LETTERS[: len(options)]:
        letter = answer.strip().upper()
    elif isinstance(answer, str) and answer.strip() in options:
        letter = LETTERS[options.index(answer.strip())]
    else:
        raise DataError(
            f"{where}: answer {answer!r} is neither a letter A-D, an index nor one of the options"
        )
    return make_record(
        id=f"{source}-{i:06d}",
        task=source,
        split=split,
        smiles=[smiles],
        question=f"{MOL_TOKEN}\n{question}",
        answer=letter,
        choices=options,
        answer_type="mc",
        category=category,
        source=source,
        meta=meta,
    )


def read_moleculeqa(
    path: str | os.PathLike[str],
    split: str | None = None,
    category: str | None = None,
    cid_to_smiles: dict[str, str] | None = None,
    table: SplitTable | None = None,
) -> Iterator[Record]:
    """Read a MoleculeQA file (JSON list, JSONL, BioT5 ``Instances`` JSON or MolT5 TSV).

    Args:
        path: the file.
        split: force a split (default: from the file name, else the scaffold split).
        category: force a category (default: the record's, else the parent folder name if it is
            Structure/Source/Property/Usage, else ``"Structure"``).
        cid_to_smiles: PubChem CID -> SMILES, for files that give only a CID.
        table: scaffold split table of a built dataset, used when no split is named.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such MoleculeQA file")
    named = _split_from_name(path)
    folder = path.parent.name if path.parent.name in _CATEGORIES else None
    default_cat = category or folder or "Structure"
    cids = {str(k): v for k, v in (cid_to_smiles or {}).items()}
    items: list[tuple[str, dict[str, Any]]] = []
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".txt", ".tsv"):
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
        header = next(reader, [])
        if [c.lower() for c in header[:3]] != ["cid", "question", "answer"]:
            raise DataError(f"{path} line 1: expected the header 'CID<TAB>Question<TAB>Answer'")
        for row in reader:
            n = reader.line_num
            if len(row) != 3:
                raise DataError(f"{path} line {n}: expected 3 tab-separated fields, got {len(row)}")
            items.append((f"{path} line {n}", {"cid": row[0], "text": row[1], "answer": row[2]}))
    elif path.suffix == ".jsonl":
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append((f"{path} line {n}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path} line {n}: invalid JSON ({exc.msg})") from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg})") from exc
        if isinstance(data, dict) and "Instances" in data:
            for n, inst in enumerate(data["Instances"]):
                out = inst.get("output")
                answer = out[0] if isinstance(out, list) and out else out
                items.append(
                    (
                        f"{path} instance {n}",
                        {"text": inst.get("input", ""), "answer": answer, "id": inst.get("id")},
                    )
                )
        elif isinstance(data, list):
            items = [(f"{path} record {n}", obj) for n, obj in enumerate(data)]
        else:
            raise DataError(
                f"{path}: expected a JSON list of questions or a {{'Instances': [...]}} object"
            )
    for i, (where, raw) in enumerate(items):
        if not isinstance(raw, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        obj = _lower_keys(raw)
        smiles = obj.get("smiles")
        selfies = obj.get("selfies")
        question = obj.get("question")
        options = obj.get("options", obj.get("choices"))
        if "text" in obj:
            smiles2, selfies2, question, options = _parse_mc_text(str(obj["text"]))
            smiles, selfies = smiles or smiles2, selfies or selfies2
        if isinstance(options, dict):
            options = [options[k] for k in sorted(options)]
        if not smiles and not selfies and obj.get("cid") is not None:
            smiles = cids.get(str(obj["cid"]))
            if smiles is None:
                raise DataError(f"{where}: CID {obj['cid']} has no SMILES; pass cid_to_smiles")
        if smiles:
            smi = _smiles_or_error(str(smiles), where)
        elif selfies:
            smi = _selfies_to_smiles(str(selfies), where)
        else:
            raise DataError(f"{where}: no molecule (expected 'smiles', 'selfies' or 'cid')")
        if not question or not isinstance(options, list):
            raise DataError(f"{where}: expected a question and a list of options")
        cat = str(obj.get("category") or default_cat)
        meta = {k: obj[k] for k in ("cid", "id") if obj.get(k) is not None}
        yield _mc_record(
            i,
            where,
            smi,
            str(question),
            [str(o) for o in options],
            obj.get("answer"),
            cat,
            _resolve_split(split, named, [smi], table),
            "moleculeqa",
            meta,
        )


# ---------------------------------------------------------------- Mol-Instructions


def _mol_list(text: str, where: str) -> list[str] | None:
    """Decode ``a.b`` SELFIES into canonical SMILES, or ``None`` if ``text`` is not SELFIES."""
    text = text.strip()
    if not text.startswith("[") or " " in text:
        return None
    return [_selfies_to_smiles(part, where) for part in text.split(".") if part]


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


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
        data = json.loads(path.read_text(encoding="utf-8"))
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


# ---------------------------------------------------------------- TDC / MoleculeNet CSV

_ID_COLUMNS = {"drug_id", "mol_id", "id", "name", "cid", "compound_id", "num", "index"}


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
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such CSV file")
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0]) if rows else []
    smiles_column = smiles_column or next(
        (c for c in ("Drug", "smiles", "SMILES", "Smiles") if c in header), None
    )
    if smiles_column is None or smiles_column not in header:
        raise DataError(
            f"{path} line 1: no SMILES column (looked for {smiles_column or 'Drug/smiles'}); header {header}"
        )
    if target_columns is None:
        target_columns = (
            ["Y"]
            if "Y" in header
            else [c for c in header if c != smiles_column and c.lower() not in _ID_COLUMNS]
        )
    missing = [c for c in target_columns if c not in header]
    if missing or not target_columns:
        raise DataError(
            f"{path} line 1: target column(s) {missing or target_columns} not in header {header}"
        )
    task = task or path.stem
    named = _split_from_name(path)
    binary = {
        c: all(r[c].strip() in ("", "0", "1", "0.0", "1.0") for r in rows) for c in target_columns
    }
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
            if binary[col]:
                template, answer, atype = (
                    "Is this molecule positive for {target}?",
                    "yes" if value >= 0.5 else "no",
                    "yesno",
                )
            else:
                template, answer, atype = (
                    "What is the {target} value of this molecule?",
                    f"{value:.{decimals}f}",
                    "number",
                )
            q = (question or template).format(target=name)
            yield make_record(
                id=f"{task}-{i:06d}",
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

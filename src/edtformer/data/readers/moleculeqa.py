"""MoleculeQA reader (JSON/JSONL, BioT5 ``Instances`` JSON, MolT5 TSV)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edtformer.chem.files import read_text
from edtformer.data.readers._common import (
    _CATEGORIES,
    _lower_keys,
    _resolve_split,
    _selfies_to_smiles,
    _smiles_or_error,
    _split_from_name,
)
from edtformer.data.schema import LETTERS, MOL_TOKEN, Record, make_record
from edtformer.data.splits import SplitTable
from edtformer.errors import DataError

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


def _tsv_items(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    """``(where, item)`` of a MolT5 ``CID<TAB>Question<TAB>Answer`` file."""
    items: list[tuple[str, dict[str, Any]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
    header = next(reader, [])
    if [c.lower() for c in header[:3]] != ["cid", "question", "answer"]:
        raise DataError(f"{path} line 1: expected the header 'CID<TAB>Question<TAB>Answer'")
    for row in reader:
        n = reader.line_num
        if len(row) != 3:
            raise DataError(f"{path} line {n}: expected 3 tab-separated fields, got {len(row)}")
        items.append((f"{path} line {n}", {"cid": row[0], "text": row[1], "answer": row[2]}))
    return items


def _jsonl_items(path: Path, text: str) -> list[tuple[str, Any]]:
    """``(where, item)`` of a JSONL file (blank lines skipped)."""
    items: list[tuple[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                items.append((f"{path} line {n}", json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path} line {n}: invalid JSON ({exc.msg})") from exc
    return items


def _json_items(path: Path, text: str) -> list[tuple[str, Any]]:
    """``(where, item)`` of a JSON list or a BioT5 ``{"Instances": [...]}`` object."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} line {exc.lineno}: invalid JSON ({exc.msg})") from exc
    if isinstance(data, dict) and "Instances" in data:
        items: list[tuple[str, Any]] = []
        for n, inst in enumerate(data["Instances"]):
            out = inst.get("output")
            answer = out[0] if isinstance(out, list) and out else out
            items.append(
                (
                    f"{path} instance {n}",
                    {"text": inst.get("input", ""), "answer": answer, "id": inst.get("id")},
                )
            )
        return items
    if isinstance(data, list):
        return [(f"{path} record {n}", obj) for n, obj in enumerate(data)]
    raise DataError(f"{path}: expected a JSON list of questions or a {{'Instances': [...]}} object")


def _read_items(path: Path) -> list[tuple[str, Any]]:
    """``(where, item)`` of every question in the file, by its format (suffix)."""
    text = read_text(path)
    if path.suffix in (".txt", ".tsv"):
        return _tsv_items(path, text)
    if path.suffix == ".jsonl":
        return _jsonl_items(path, text)
    return _json_items(path, text)


def _item_fields(obj: dict[str, Any], where: str, cids: dict[str, str]) -> tuple[str, Any, Any]:
    """``(SMILES, question, options)`` of one item (a ``text`` prompt parsed, a CID looked up)."""
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
    return smi, question, options


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
    items = _read_items(path)
    for i, (where, raw) in enumerate(items):
        if not isinstance(raw, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        obj = _lower_keys(raw)
        smi, question, options = _item_fields(obj, where, cids)
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

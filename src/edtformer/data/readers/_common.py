"""Helpers shared by the readers: split resolution and molecule decoding."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from edtformer.data.schema import SPLIT_NAMES
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


def _number(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None

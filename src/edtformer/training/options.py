"""Typed option values: a command-line string or a YAML/JSON value read as a config field's
declared type (the small type switch of :mod:`edtformer.training.config`)."""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from typing import Any

from edtformer.errors import EdtError


def plain(value: Any) -> Any:
    """``value`` with tuples as lists, nested (what JSON and YAML write)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def describe(hint: Any) -> str:
    """A declared type as the messages name it (``int``, ``str | None``)."""
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def unoptional(hint: Any) -> tuple[Any, bool]:
    """``(inner type, accepts None)`` of ``X | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_text(key: str, raw: str, hint: Any) -> Any:
    """Parse a command-line string to the declared type ``hint`` of option ``key``.

    Raises:
        EdtError: ``raw`` is not a value of that type (the message names key, type and value).
    """
    inner, optional = unoptional(hint)
    if optional:
        if raw.strip().lower() in {"none", "null", ""}:
            return None
        return parse_text(key, raw, inner)
    if inner is bool:
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise EdtError(f"option {key}: expected true/false (or 1/0, yes/no), got {raw!r}")
    if inner in (int, float):
        try:
            return inner(raw.strip())
        except ValueError:
            raise EdtError(f"option {key}: expected {inner.__name__}, got {raw!r}") from None
    if inner is str:
        return raw  # a string field keeps "none" (bridge.connector=none: the SMILES-only baseline)
    if typing.get_origin(inner) is tuple:
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    if typing.get_origin(inner) is dict:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise EdtError(f"option {key}: expected a JSON object, got {raw!r}") from None
        return check_value(key, value, inner)
    raise EdtError(f"option {key}: cannot parse a {describe(hint)} from the command line")


def check_value(key: str, value: Any, hint: Any) -> Any:
    """``value`` (from YAML/JSON/Python) as the declared type ``hint``, or an error naming ``key``."""
    inner, optional = unoptional(hint)
    if value is None and optional:
        return None
    ok: Any = None
    if inner is bool:
        ok = value if isinstance(value, bool) else None
    elif inner is int:
        ok = value if isinstance(value, int) and not isinstance(value, bool) else None
    elif inner is float:
        ok = (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )
    elif inner is str:
        ok = value if isinstance(value, str) else None
    elif typing.get_origin(inner) is tuple:
        if isinstance(value, str):  # the format-1 comma string (``encoder: "minimol,rdkit"``)
            value = [x for x in value.split(",") if x.strip()]
        if isinstance(value, list | tuple) and all(isinstance(x, str) for x in value):
            ok = tuple(x.strip() for x in value)
    elif typing.get_origin(inner) is dict:
        _, value_type = typing.get_args(inner)
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            ok = {k: check_value(f"{key}.{k}", v, value_type) for k, v in value.items()}
    if ok is None:
        raise EdtError(
            f"option {key}: expected {describe(hint)}, got {value!r} ({type(value).__name__})"
        )
    return ok


__all__ = ["check_value", "describe", "parse_text", "plain", "unoptional"]

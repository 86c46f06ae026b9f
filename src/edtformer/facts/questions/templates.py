"""The question template files: loading and validation.

``templates/train.json`` holds the only wordings the LLM is trained on, ``templates/heldout.json``
the only wordings it is evaluated on. Each file is checked on load: every fact kind present,
every template with exactly the placeholders its kind needs, no stray braces.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from edtformer.facts.questions.answers import KIND_TYPES

TEMPLATE_DIR = Path(__file__).parents[1] / "templates"
SPLITS = ("train", "heldout")

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _fields(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def _check_list(where: str, items: Any, need: set[str], allowed: set[str], minimum: int) -> None:
    if not isinstance(items, list) or len(items) < minimum:
        raise ValueError(f"templates: {where} must be a list of at least {minimum} strings")
    for i, text in enumerate(items):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"templates: {where}[{i}] is not a non-empty string")
        found = _fields(text)
        if not need <= found or not found <= allowed:
            raise ValueError(
                f"templates: {where}[{i}] {text!r} has placeholders {sorted(found)}; "
                f"needs {sorted(need)}, allows {sorted(allowed)}"
            )
        if "{" in _PLACEHOLDER.sub("", text) or "}" in _PLACEHOLDER.sub("", text):
            raise ValueError(f"templates: {where}[{i}] {text!r} has a stray brace")


def _validate(data: Any, split: str) -> None:
    if not isinstance(data, dict) or data.get("version") != 1:
        raise ValueError(f"templates: {split}.json must be an object with version 1")
    kinds = data.get("kinds")
    if not isinstance(kinds, dict):
        raise ValueError(f"templates: {split}.json has no 'kinds' object")
    missing = [k for k in KIND_TYPES if k not in kinds]
    if missing:
        raise ValueError(f"templates: {split}.json lacks kinds {missing}")
    for kind, items in kinds.items():
        if kind not in KIND_TYPES:
            raise ValueError(f"templates: {split}.json has an unknown kind {kind!r}")
        need = {"mol"} | ({"element"} if kind == "element_count" else set())
        need |= {"group"} if kind == "has_group" else set()
        _check_list(f"kinds.{kind}", items, need, need, 1)
    requests = data.get("format_requests")
    if not isinstance(requests, dict):
        raise ValueError(f"templates: {split}.json has no 'format_requests' object")
    for rtype in ("number", "yes_no", "json", "text"):
        need = {"key"} if rtype == "json" else set()
        _check_list(f"format_requests.{rtype}", requests.get(rtype), need, need, 1)
    options = {f"o{i}" for i in range(4)}
    _check_list("mc_layouts", data.get("mc_layouts"), {"q"} | options, {"q"} | options, 1)
    _check_list("two_facts", data.get("two_facts"), {"a", "b", "mol"}, {"a", "b", "mol"}, 1)
    choice = data.get("group_choice")
    if not isinstance(choice, dict):
        raise ValueError(f"templates: {split}.json has no 'group_choice' object")
    for which in ("present", "absent"):
        _check_list(f"group_choice.{which}", choice.get(which), {"mol"}, {"mol"}, 1)
    off = data.get("off_sheet")
    if not isinstance(off, dict) or not off:
        raise ValueError(f"templates: {split}.json has no 'off_sheet' object")
    for offkind, items in off.items():
        _check_list(f"off_sheet.{offkind}", items, {"mol"}, {"mol"}, 1)


@cache
def load_templates(split: str) -> dict:
    """The validated template file of ``split`` ("train" or "heldout"); cached, do not mutate."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    data = json.loads((TEMPLATE_DIR / f"{split}.json").read_text(encoding="utf-8"))
    _validate(data, split)
    return data


def fill(template: str, **values: str) -> str:
    """``template`` with each ``{name}`` given in ``values`` replaced (others left as they are)."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)

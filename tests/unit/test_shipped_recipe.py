"""`make model` runs the commands that trained the shipped default bridge.

The shipped ``training.json`` records every stage's command line (stage E's as ``command``, the
earlier stages' under ``continues``, oldest first). The Makefile's ``model`` target must run the
same ``edt train recipe`` options in the same order of stages; only the run folders (``--out``,
``--init-from``) differ, since the shipped runs lived elsewhere.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "src" / "edtformer" / "assets" / "bridge" / "default" / "training.json"
#: parsed options whose value is a run folder, not a training setting
PATH_FLAGS = ("out", "init_from")


def _after_edt(args: list[str]) -> list[str]:
    """The arguments after the ``edt`` executable (``edt`` or ``$(VENV)/bin/edt``)."""
    at = next(i for i, a in enumerate(args) if a.rsplit("/", 1)[-1] == "edt")
    return args[at + 1 :]


def _makefile_recipe_commands(text: str) -> list[list[str]]:
    """The ``edt ... train recipe`` command lines of the Makefile's ``model`` target, with
    ``$(RECIPE_COMMON)`` expanded, as argument lists."""
    joined = text.replace("\\\n", " ")
    common = re.search(r"^RECIPE_COMMON = (.*)$", joined, re.M)
    assert common, "the Makefile has no RECIPE_COMMON line"
    body = re.search(r"^model:.*?\n((?:\t.*\n)+)", joined, re.M)
    assert body, "the Makefile has no model target"
    commands = []
    for line in body.group(1).splitlines():
        line = line.strip()
        if "train recipe" not in line or line.startswith("#"):
            continue
        line = line.replace("$(RECIPE_COMMON)", common.group(1))
        args = shlex.split(line)
        commands.append(_after_edt(args))
    return commands


def _options(args: list[str]) -> dict[str, object]:
    """The ``edt`` command line's settings as the CLI's own parser reads them, without the
    run-folder flags; ``--set`` overrides sorted (no key is set twice in these commands)."""
    from edtformer.cli.main import build_parser

    parsed = vars(build_parser().parse_args(args))
    for key in (*PATH_FLAGS, "func"):
        parsed.pop(key, None)
    parsed["set"] = sorted(parsed.get("set") or [])
    return parsed


def _recorded_commands(record: dict) -> list[list[str]]:
    stages = [*record.get("continues", []), record]
    out = []
    for stage in stages:
        args = shlex.split(stage["command"])
        out.append(_after_edt(args))
    return out


def test_makefile_runs_the_shipped_bridges_commands():
    if not SHIPPED.is_file():
        pytest.skip("no shipped default bridge in this checkout")
    made = _makefile_recipe_commands((ROOT / "Makefile").read_text())
    recorded = _recorded_commands(json.loads(SHIPPED.read_text()))
    assert len(made) == len(recorded), (len(made), len(recorded))
    for stage, (m, r) in enumerate(zip(made, recorded, strict=True)):
        assert _options(m) == _options(r), f"stage {stage}: Makefile and training.json differ"
        # a stage that continues another one says so in both
        assert ("--init-from" in m) == ("--init-from" in r), f"stage {stage}"


def test_option_comparison_sees_a_changed_setting():
    a = shlex.split("train recipe --seed 2 --out x --set recipe.eval_every=300 --no-progress")
    b = shlex.split("train recipe --no-progress --out y --set recipe.eval_every=300 --seed 2")
    assert _options(a) == _options(b)
    c = [*b[:-1], "3"]
    assert _options(a) != _options(c)
    d = shlex.split("train recipe --no-progress --out y --set recipe.eval_every=301 --seed 2")
    assert _options(a) != _options(d)

"""`make model` runs the recipe that trained the shipped default bridge.

The shipped ``training.json`` records every stage's command line (the last stage's as
``command``, earlier stages' under ``continues``, oldest first). The Makefile's ``model`` target
must resolve to the same training config (``edt train recipe --config default``: the shipped
recipe file) in the same order of stages; only the run folders (``--out``, ``--init-from``,
``--data``) differ, and a recipe whose precision is ``auto`` must have chosen the precision
the record names.
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
    """The ``edt ... train recipe`` command lines of the Makefile's ``model`` target (with
    ``$(RECIPE_COMMON)`` expanded where the Makefile has one), as argument lists."""
    joined = text.replace("\\\n", " ")
    common = re.search(r"^RECIPE_COMMON = (.*)$", joined, re.M)
    body = re.search(r"^model:.*?\n((?:\t.*\n)+)", joined, re.M)
    assert body, "the Makefile has no model target"
    commands = []
    for line in body.group(1).splitlines():
        line = line.strip()
        if "train recipe" not in line or line.startswith("#"):
            continue
        if common:
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


def _resolved(args: list[str], precision: str | None = None) -> dict:
    """The training config an ``edt`` command line resolves to, without its run folders;
    ``precision``: what ``auto`` chose (the record's ``precision``)."""
    from edtformer.cli.main import build_parser
    from edtformer.cli.train import _config

    ns = build_parser().parse_args(args)
    cfg = _config(ns, ns.stage, "runs/x").to_dict()
    cfg["run"].pop("out_dir")
    cfg["data"].pop("dir")
    cfg["model"].pop("init_from", None)
    if cfg["run"]["precision"] == "auto" and precision is not None:
        cfg["run"]["precision"] = precision
    return cfg


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
    record = json.loads(SHIPPED.read_text())
    recorded = _recorded_commands(record)
    assert len(made) == len(recorded), (len(made), len(recorded))
    chosen = record.get("precision")
    for stage, (m, r) in enumerate(zip(made, recorded, strict=True)):
        assert _resolved(m, chosen) == _resolved(r, chosen), f"stage {stage}: configs differ"
        # a stage that continues another one says so in both
        assert ("--init-from" in m) == ("--init-from" in r), f"stage {stage}"


def test_the_recipe_stage_reads_the_shipped_recipe_by_default():
    bare = _resolved(shlex.split("train recipe --out x"))
    named = _resolved(shlex.split("train recipe --config default --out y"))
    assert bare == named
    assert bare["lora"]["r"] == 8 and bare["recipe"]["fact_sheet"] is True
    assert _resolved(shlex.split("train recipe --set lora.r=4"))["lora"]["r"] == 4


def test_option_comparison_sees_a_changed_setting():
    a = shlex.split("train recipe --seed 2 --out x --set recipe.eval_every=300 --no-progress")
    b = shlex.split("train recipe --no-progress --out y --set recipe.eval_every=300 --seed 2")
    assert _options(a) == _options(b)
    c = [*b[:-1], "3"]
    assert _options(a) != _options(c)
    d = shlex.split("train recipe --no-progress --out y --set recipe.eval_every=301 --seed 2")
    assert _options(a) != _options(d)

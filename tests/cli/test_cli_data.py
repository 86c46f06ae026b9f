"""`edt data build` / `edt data stats` end to end (tiny size)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edtformer.cli.main import main


def test_build_and_stats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d"
    assert main(["data", "build", "--out", str(out), "--size", "tiny", "--no-progress"]) == 0
    assert (out / "manifest.json").is_file() and (out / "struct_mc" / "test.jsonl").is_file()
    assert main(["data", "stats", str(out), "--check"]) == 0
    text = capsys.readouterr().out
    assert "struct_mc" in text and "no leak" in text
    assert main(["data", "stats", str(out), "--check", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]  # JSONL
    tasks = {r["task"]: r for r in rows if "task" in r}
    mc = tasks["struct_mc"]
    assert mc["total"] == mc["train"] + mc["valid"] + mc["test"] > 0 and isinstance(mc["test"], int)
    assert rows[-1]["split_check"] == "ok" and rows[-1]["train_held_out"] == 0


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "stats", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert "no manifest" in err and "Traceback" not in err
    assert main(["data", "build", "--out", str(tmp_path / "x"), "--fractions", "0.5,0.5"]) == 2
    assert "--fractions" in capsys.readouterr().err

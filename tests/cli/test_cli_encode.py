"""``edt encoders`` and ``edt encode``: listing, resumable cache fill, per-molecule errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edtformer.cli.main import main


def test_encoders_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encoders", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {r["name"]: r for r in map(json.loads, lines)}  # JSONL: one encoder per line
    assert len(rows) == len(lines) > 3
    assert rows["minimol"]["default"] and rows["minimol"]["width"] == 512
    assert "TDC:BBB_Martins" in rows["chemprop"]["trained_on"]
    assert main(["encoders"]) == 0
    assert "minimol*" in capsys.readouterr().out


def test_encode_smi_resumes_and_reports_bad_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    smi = tmp_path / "in.smi"
    smi.write_text("CCO ethanol\nnot_a_smiles\n\n# comment\nc1ccccc1\nOCC\n")
    argv = ["encode", "--encoder", "random", "--input", str(smi), "--cache", str(tmp_path / "c")]
    assert main([*argv, "--json"]) == 1  # one bad molecule -> non-zero, good ones written
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["computed"] == 3 and summary["failed"] == 1 and summary["cached"] == 0
    assert err.count("\n") == 1 and "in.smi:2" in err and "not_a_smiles" in err
    assert main([*argv, "--json"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["cached"] == 3 and again["computed"] == 0


def test_encode_csv_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "in.csv"
    csv.write_text("id,SMILES\n1,CCO\n2,C(O)C\n")
    argv = ["encode", "--encoder", "random", "--input", str(csv), "--cache", str(tmp_path / "c")]
    assert main([*argv, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["molecules"] == 2 and s["computed"] + s["cached"] == 2
    assert main([*argv, "--smiles-column", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err


def test_encode_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encode", "--encoder", "nope", "--input", "x.smi", "--cache", str(tmp_path)]) == 2
    assert "known encoders" in capsys.readouterr().err
    args = ["encode", "--encoder", "random", "--input", str(tmp_path / "missing.smi")]
    assert main([*args, "--cache", str(tmp_path)]) == 2

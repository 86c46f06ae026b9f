"""``edt eval --input``: hostile benchmark files give one named line and exit 2, never a traceback.

Each reader (MoleculeQA, Mol-Instructions, TDC/MoleculeNet CSV) reads through the strict text
front end (``chem.files.read_text``): binary and non-UTF-8 files, ragged CSV rows, broken JSON,
directories and missing files are refused before any model is loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edtformer.cli.main import main

CASES = {
    "binary.csv": (b"\x00\x01\xff\xfe binary", "csv", "binary file (NUL byte at offset 0)"),
    "latin1.csv": (b"smiles,label\nCC\xe9O,1\n", "csv", "not UTF-8 text (byte 0xe9 at offset 15)"),
    "ragged.csv": (b"smiles,label\nCCO\nCCN,1\n", "csv", "line 2: 1 cells, the header has 2"),
    "extra.csv": (b"smiles,label\nCCN,1,2\n", "csv", "line 2: 3 cells, the header has 2"),
    "empty.csv": (b"", "csv", "no SMILES column"),
    "bad.json": (b'{"a": 1', "mol-instructions", "line 1: invalid JSON"),
    "utf16.json": ("[]".encode("utf-16"), "mol-instructions", "UTF-16 text (byte-order mark)"),
    "binary.jsonl": (b"{\x00\x01}", "moleculeqa", "binary file (NUL byte at offset 1)"),
    "latin1.jsonl": (b'{"question": "caf\xe9"}\n', "moleculeqa", "not UTF-8 text"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_benchmark_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    data, fmt, message = CASES[name]
    path = tmp_path / name
    path.write_bytes(data)
    argv = ["eval", "--input", str(path), "--format", fmt, "--task", "bbbp",
            "--model", str(tmp_path / "no_model")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1 and str(path) in err


@pytest.mark.parametrize("fmt", ["csv", "mol-instructions", "moleculeqa"])
def test_directory_or_missing_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    for target in (tmp_path, tmp_path / "missing.file"):
        argv = ["eval", "--input", str(target), "--format", fmt, "--task", "bbbp"]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert str(target) in err and "Traceback" not in err and len(err.splitlines()) == 1

"""``edt entropy train`` on a tiny file, then ``edt entropy eval`` and ``edt patch --model`` with it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import TRICKY_SMILES

from edtformer.cli.main import main


def test_entropy_train_eval_patch_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    smi = tmp_path / "train.smi"
    smi.write_text("\n".join([s for s, _ in TRICKY_SMILES] * 6) + "\n")
    out = tmp_path / "model"
    code = main(
        ["entropy", "train", "--out", str(out), "--train-file", str(smi), "--n-train", "all",
         "--n-val", "10", "--batch-size", "16", "--d-model", "32", "--n-layer", "1",
         "--max-len", "32", "--warmup-steps", "2", "--threads", "1"]
    )  # fmt: skip
    assert code == 0 and (out / "model.safetensors").is_file()
    meta = json.loads((out / "config.json").read_text())["metadata"]
    assert meta["command"].startswith("edt ") and meta["complete"]
    capsys.readouterr()
    code = main(["entropy", "eval", "--model", str(out), "--test-file", str(smi), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["n_molecules"] == 6 * len(TRICKY_SMILES)
    code = main(["patch", "--model", str(out), "--json", "C" * 40])  # longer than the window
    row = json.loads(capsys.readouterr().out)
    assert code == 0 and len(row["entropy"]) == 40


def test_entropy_eval_missing_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["entropy", "eval", "--model", str(tmp_path / "none")]) == 2
    assert "checkpoint" in capsys.readouterr().err

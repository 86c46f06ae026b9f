"""``benchmarks/serve_load.py`` end to end with the tiny model and tiny counts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.fixtures.benchmarks import load_benchmark
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.model import EDTFormer, EDTFormerConfig

pytest.importorskip("fastapi", reason="pip install -e '.[serve]' (fastapi, uvicorn)")


def _tiny_model_and_bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A saved tiny model under ``tmp_path / "model"`` and the loaded benchmark module (its
    server subprocesses import this checkout's ``src``)."""
    llm = make_tiny_llm(tmp_path / "llm")
    torch.manual_seed(0)
    cfg = EDTFormerConfig(encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics")
    EDTFormer.build(cfg).save_pretrained(tmp_path / "model")
    src = str(Path(__file__).resolve().parents[2] / "src")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    return load_benchmark("serve_load")


@pytest.mark.slow  # starts a server subprocess and runs two load levels
def test_load_benchmark_runs_levels_and_writes_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _tiny_model_and_bench(tmp_path, monkeypatch)
    out = tmp_path / "load.json"
    argv = ["--model", str(tmp_path / "model"), "--clients", "1,3", "--requests", "4",
            "--max-tokens", "3", "--threads", "1", "--out", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    result = json.loads(out.read_text())
    assert [lv["clients"] for lv in result["levels"]] == [1, 3]
    for level in result["levels"]:
        assert level["errors"] == 0 and level["completed"] == 4
        assert 0 < level["latency_p50_s"] <= level["latency_p95_s"]
    assert result["rss_peak_mb"] > 0


@pytest.mark.slow  # four server subprocesses
def test_load_benchmark_compares_with_an_older_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _tiny_model_and_bench(tmp_path, monkeypatch)
    out = tmp_path / "load.json"
    argv = ["--model", str(tmp_path / "model"), "--clients", "2", "--requests", "2",
            "--max-tokens", "3", "--threads", "1", "--before", "HEAD", "--rounds", "1",
            "--out", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    comp = json.loads(out.read_text())["comparison"]
    assert comp["before"] == "HEAD" and len(comp["runs"]["before"]) == 1
    [level] = comp["levels"]
    assert level["clients"] == 2 and level["errors"] == 0
    assert level["before_requests_per_s"] > 0 and level["requests_per_s_ratio"] > 0

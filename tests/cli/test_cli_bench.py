"""`edt bench --budget tiny`: 2 variants x 2 seeds end to end on the tiny LLM, then a resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "llm"))
from tiny import make_tiny_llm

from edtformer.cli.main import main


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edtformer.data import build_datasets, preset

    root = tmp_path_factory.mktemp("cli_bench")
    make_tiny_llm(root / "llm")
    build_datasets(root / "data", preset("tiny"))
    return root


def tiny_bench_args(workdir: Path, out: Path, seeds: str, *extra: str) -> list[str]:
    """``edt bench`` on the tiny budget: full and MLP, 2 steps, 6 questions per task."""
    return [
        "bench", "--budget", "tiny", "--llm", str(workdir / "llm"), "--data",
        str(workdir / "data"), "--out", str(out), "--seeds", seeds, "--variants", "full,mlp",
        "--max-steps", "2", "--eval-limit", "6", *extra,
    ]  # fmt: skip


@pytest.mark.slow
def test_tiny_bench_writes_table_and_resumes(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDT_CACHE", str(workdir / "cache"))
    out = workdir / "results"
    args = tiny_bench_args(workdir, out, "0,1")
    assert main(args) == 0
    first = capsys.readouterr().out
    assert first.count("seed") == 4 and "(reused)" not in first
    table = (out / "ablations.md").read_text()
    assert "| full |" in table and "| mlp |" in table and "± " in table
    assert "bridge (frozen LLM)" in table
    data = json.loads((out / "ablations.json").read_text())
    assert [r["variant"] for r in data["rows"]] == ["full", "mlp"]
    assert data["rows"][0]["seeds"] == [0, 1] and len(data["runs"]) == 4
    for variant in ("full", "mlp"):
        for seed in (0, 1):
            run = out / "runs" / "tiny" / variant / f"seed{seed}"
            assert (run / "eval.json").is_file() and (run / "final" / "config.json").is_file()
    assert (out / "ablations.png").stat().st_size > 1000
    # every run records the precision it trained in and where (the report's "Runs" section)
    assert all(r["precision"] and "torch capability" in r["hardware"] for r in data["runs"])
    assert "## Runs" in table and f"| full | 1 | {data['runs'][1]['precision']} |" in table
    # a second call reuses every finished run
    assert main(args) == 0
    assert capsys.readouterr().out.count("(reused)") == 4


def test_unknown_variant_is_exit_2(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["bench", "--budget", "tiny", "--variants", "nope", "--data", str(workdir / "data")]
    )
    assert code == 2 and "unknown bench variant" in capsys.readouterr().err


def test_tiny_budget_needs_llm(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["bench", "--budget", "tiny", "--variants", "full", "--data", str(workdir / "data"),
         "--out", str(workdir / "x")]
    )  # fmt: skip
    assert code == 2 and "--llm" in capsys.readouterr().err


@pytest.mark.slow
def test_jobs_runs_in_parallel_processes_with_the_same_table(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDT_CACHE", str(workdir / "cache"))
    out = workdir / "results_jobs"
    args = tiny_bench_args(workdir, out, "0", "--jobs", "2")
    assert main(args) == 0
    assert capsys.readouterr().out.count("seed 0:") == 2
    data = json.loads((out / "ablations.json").read_text())
    assert [r["variant"] for r in data["rows"]] == ["full", "mlp"]  # table order, not finish order
    # same runs as the one-process bench (same seed, same budget): same scores
    serial = json.loads((workdir / "results" / "ablations.json").read_text())
    for run in data["runs"]:
        twin = next(r for r in serial["runs"] if (r["variant"], r["seed"]) == (run["variant"], 0))
        assert [r["metrics"] for r in run["reports"]] == [r["metrics"] for r in twin["reports"]]
    assert main(tiny_bench_args(workdir, out, "0", "--jobs", "0")) == 2
    assert "jobs must be >= 1" in capsys.readouterr().err


def test_tiny_learn_bench_runs_every_row_with_its_zero_token_control(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The learnable setting (recipes/ablation.yaml through run_recipe) on the tiny LLM: every
    row trains, writes its valid curve with the zero-token control and is scored twice."""
    from edtformer.experiments.bench import VARIANT_NAMES
    from edtformer.training.curve import COUNT_KINDS

    monkeypatch.setenv("EDT_CACHE", str(workdir / "cache"))
    out = workdir / "learn"
    args = [
        "bench", "--budget", "tiny_learn", "--llm", str(workdir / "llm"), "--data",
        str(workdir / "data"), "--out", str(out), "--seeds", "0",
    ]  # fmt: skip
    assert main(args) == 0
    assert capsys.readouterr().out.count("seed 0") == len(VARIANT_NAMES)
    data = json.loads((out / "ablations.json").read_text())
    assert [r["variant"] for r in data["rows"]] == list(VARIANT_NAMES)
    by = {r["variant"]: r for r in data["runs"]}
    for name in VARIANT_NAMES:
        run = out / "runs" / "tiny_learn" / name / "seed0"
        trained = name != "smiles_zeroshot"
        text_only = name.startswith("smiles")
        assert (run / "eval.json").is_file()
        assert {r["task"] for r in by[name]["reports"]} == {
            "struct_text", "stereo", "bbbp", "solubility"
        }  # fmt: skip
        assert bool(by[name]["zero_reports"]) == (trained and not text_only)
        # every count question's result, for paired comparisons between rows
        assert by[name]["count_items"] and all(k.split("|")[0] in COUNT_KINDS
                                               for k in by[name]["count_items"])  # fmt: skip
        if trained:
            curve = [json.loads(x) for x in (run / "curve.jsonl").read_text().splitlines()]
            assert curve[-1]["step"] == 3
            assert ("zero/hbd_exact" in curve[-1]) == (not text_only)
    table = (out / "ablations.md").read_text()
    assert "counts exact, zero tokens" in table and "| full |" in table

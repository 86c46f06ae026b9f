"""benchmarks/ablation_curve.py: the budget is the first curve point past 3 SE, on hand-made curves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fixtures.benchmarks import load_benchmark


def _curve(run: Path, points: list[tuple[int, float, float]]) -> None:
    run.mkdir(parents=True)
    config = {"model": {"connector": "edt", "encoders": ["minimol", "rdkit_atoms"]},
              "optim": {"max_steps": 300, "batch_size": 8}, "recipe": {"eval_per_kind": 48},
              "run": {"seed": 0}, "lora": {"r": 8}}  # fmt: skip
    (run / "config.json").write_text(json.dumps(config))
    rows = []
    for step, gap, se in points:
        rows.append({"step": step, "samples": 8 * step, "count_acc": 0.3 + gap,
                     "count_acc_control": 0.3, "count_gap": gap, "count_gap_se": se,
                     "count_gap_in_se": gap / se, "count_n": 240.0, "hbd_exact": 0.5,
                     "zero/hbd_exact": 0.4, "metrics": {}, "zero_metrics": {}})  # fmt: skip
    (run / "curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_budget_is_the_first_point_beyond_three_standard_errors(tmp_path: Path) -> None:
    mod = load_benchmark("ablation_curve")
    run = tmp_path / "run"
    _curve(run, [(0, 0.0, 0.02), (100, 0.05, 0.02), (200, 0.09, 0.025), (300, 0.2, 0.03)])
    assert mod.main([str(run), "--out", str(tmp_path / "out")]) == 0
    data = json.loads((tmp_path / "out" / "ablation_curve.json").read_text())
    assert data["budget_step"] == 200  # 0.09 > 3 * 0.025; 0.05 < 3 * 0.02
    text = (tmp_path / "out" / "ablation_curve.md").read_text()
    assert "from **step 200**" in text and "0.500 / 0.400" in text


def test_no_budget_is_said_plainly(tmp_path: Path) -> None:
    mod = load_benchmark("ablation_curve")
    run = tmp_path / "run"
    _curve(run, [(0, 0.0, 0.02), (100, 0.01, 0.02)])
    assert mod.main([str(run), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "ablation_curve.md").read_text()
    assert "At no curve point up to step 100" in text


def test_missing_run_is_one_clear_error(tmp_path: Path) -> None:
    mod = load_benchmark("ablation_curve")
    with pytest.raises(SystemExit, match=r"curve\.jsonl not found"):
        mod.main([str(tmp_path / "nope")])


def test_bench_rows_curves_average_over_seeds(tmp_path: Path) -> None:
    mod = load_benchmark("ablation_curve")
    root = tmp_path / "runs" / "learn"
    _curve(root / "full" / "seed0", [(0, 0.0, 0.02), (100, 0.2, 0.03)])
    _curve(root / "full" / "seed1", [(0, 0.0, 0.02), (100, 0.1, 0.03)])
    _curve(root / "mlp" / "seed0", [(0, 0.0, 0.02), (100, 0.0, 0.03)])
    assert mod.main(["--bench", str(root), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "ablation_rows_curves.md").read_text()
    assert "| full | 100 | 800 | 2 | 0.450 / 0.300 |" in text  # (0.5 + 0.4) / 2 with tokens
    assert "| mlp | 100 | 800 | 1 | 0.300 / 0.300 |" in text


def test_bench_curves_of_runs_on_another_machine_are_kept(tmp_path: Path) -> None:
    """A run folder gone (fresh machine): its curve comes from the committed curves file; a run
    folder present replaces the recorded curve of the same seed."""
    mod = load_benchmark("ablation_curve")
    out = tmp_path / "out"
    first = tmp_path / "a" / "runs" / "learn"
    _curve(first / "full" / "seed0", [(0, 0.0, 0.02), (100, 0.2, 0.03)])
    _curve(first / "full" / "seed1", [(0, 0.0, 0.02), (100, 0.0, 0.03)])
    assert mod.main(["--bench", str(first), "--out", str(out)]) == 0
    second = tmp_path / "b" / "runs" / "learn"  # only seed 1 (re-run) and seed 2 here
    _curve(second / "full" / "seed1", [(0, 0.0, 0.02), (100, 0.1, 0.03)])
    _curve(second / "full" / "seed2", [(0, 0.0, 0.02), (100, 0.3, 0.03)])
    assert mod.main(["--bench", str(second), "--out", str(out)]) == 0
    data = json.loads((out / "ablation_rows_curves.json").read_text())
    assert sorted(data["per_seed"]["full"]) == ["0", "1", "2"]
    assert data["source"]["full"] == {"0": "recorded", "1": "run folder", "2": "run folder"}
    last = data["mean"]["full"][-1]
    assert last["n"] == 3 and last["count_acc"] == pytest.approx(0.3 + (0.2 + 0.1 + 0.3) / 3)
    text = (out / "ablation_rows_curves.md").read_text()
    assert "- full: seed 0 (recorded), 1 (run folder), 2 (run folder)" in text


def test_bench_curves_file_of_the_old_layout_records_nothing(tmp_path: Path) -> None:
    mod = load_benchmark("ablation_curve")
    out = tmp_path / "out"
    out.mkdir()
    (out / "ablation_rows_curves.json").write_text(json.dumps({"full": [{"step": 1}]}))
    assert mod.recorded_curves(out / "ablation_rows_curves.json") == {}
    root = tmp_path / "runs" / "learn"
    _curve(root / "mlp" / "seed0", [(0, 0.0, 0.02)])
    assert mod.main(["--bench", str(root), "--out", str(out)]) == 0
    assert list(json.loads((out / "ablation_rows_curves.json").read_text())["mean"]) == ["mlp"]

"""The recipe's report scripts: the targets table and the learning-curve table, on hand-made runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from tests.fixtures.benchmarks import load_benchmark


def _report(path: Path) -> Path:
    reports = [
        {"task": "struct_text", "split": "test", "model": "m", "seed": 0, "n": 30,
         "training_mode": "bridge (frozen LLM)",
         "metrics": {"has_group/balanced_accuracy": 0.95, "has_group/n": 10.0,
                     "n_rings/exact_accuracy": 0.5, "n_rings/n": 20.0, "heavy_atoms/mae": 0.8}},
        {"task": "struct_mc", "split": "test", "model": "m", "seed": 0, "n": 8,
         "training_mode": "bridge (frozen LLM)",
         "metrics": {"accuracy": 0.75, "pred_rate/A": 0.5, "pred_rate/B": 0.5,
                     "cloze_accuracy": 0.6}},
        {"task": "bbbp", "split": "test", "model": "m", "seed": 0, "n": 8,
         "training_mode": "bridge (frozen LLM)", "metrics": {"roc_auc": 0.87, "accuracy": 0.8}},
    ]  # fmt: skip
    path.write_text(json.dumps({"reports": reports}))
    return path


def test_targets_table_marks_met_and_missed(tmp_path: Path, monkeypatch) -> None:
    mod = load_benchmark("targets")
    (tmp_path / "spec.json").write_text(json.dumps({"test_roc_auc": 0.90}))
    argv = ["targets", str(_report(tmp_path / "r.json")), "--specialist",
            str(tmp_path / "spec.json"), "--out", str(tmp_path / "t")]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    mod.main()
    rows = {r["label"]: r for r in json.loads((tmp_path / "t.json").read_text())["rows"]}
    assert rows["functional group yes/no, balanced accuracy"]["met"] is True
    assert rows["functional group yes/no, balanced accuracy"]["n"] == "10"
    assert rows["ring count, exact"]["met"] is False
    assert rows["heavy-atom count, MAE"]["met"] is True  # lower is better
    assert rows["struct_mc 4-choice, letter scoring"]["met"] is True
    assert rows["most-chosen MC letter share"]["met"] is False  # 0.5 > 0.35
    assert rows["BBBP: bridge within 0.02 of the specialist"]["met"] is False  # 0.87 vs 0.90
    assert (
        rows["H-bond donors, exact"]["value"] is None
        and rows["H-bond donors, exact"]["met"] is None
    )


def test_learning_curve_table_and_plot(tmp_path: Path) -> None:
    mod = load_benchmark("learning_curves")
    for name, acc in (("a", 0.9), ("b", 0.6)):
        run = tmp_path / name
        run.mkdir()
        rows = [{"step": 0, "samples": 0, "n_rings_exact": 0.1, "metrics": {}},
                {"step": 10, "samples": 80, "n_rings_exact": acc, "metrics": {}}]  # fmt: skip
        (run / "curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    runs = [mod.read_run(f"{tmp_path / 'a'}:full"), mod.read_run(str(tmp_path / "b"))]
    assert [r[0] for r in runs] == ["full", "b"]
    md = mod.table(runs)
    assert "| full | 80 |" in md and "0.90" in md and "0.60" in md
    mod.plot(runs, tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size > 1000
    # a run that continues a model (--init-from a folder with training.json) is drawn after it
    parent = tmp_path / "parent"
    parent.mkdir()
    (parent / "training.json").write_text(json.dumps({"samples": 7200}))
    (tmp_path / "b" / "config.json").write_text(json.dumps({"model": {"init_from": str(parent)}}))
    assert [r["samples"] for r in mod.read_run(str(tmp_path / "b"))[1]] == [7200, 7280]
    (parent / "training.json").write_text(json.dumps({"samples": 80, "total": {"samples": 9000}}))
    assert mod.read_run(str(tmp_path / "b"))[1][0]["samples"] == 9000
    # the run's own record wins (its copy in benchmarks/results has no starting folder)
    (tmp_path / "b" / "training.json").write_text(
        json.dumps({"samples": 80, "total": {"samples": 3280}})
    )
    assert mod.read_run(str(tmp_path / "b"))[1][0]["samples"] == 3200


def test_merge_reports_joins_two_processes_and_refuses_overlaps(tmp_path: Path) -> None:
    merge = load_benchmark("merge_reports")
    both = json.loads(_report(tmp_path / "all.json").read_text())["reports"]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"reports": both[:1]}))
    b.write_text(json.dumps({"reports": both[1:]}))
    assert merge.merge([a, b]) == {"reports": both}
    assert merge.merge([b, a])["reports"][0]["task"] == "struct_mc"
    with pytest.raises(ValueError, match="more than one file"):
        merge.merge([a, a])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"reports": [{**both[1], "task": "stereo", "model": "n"}]}))
    with pytest.raises(ValueError, match="disagree on 'model'"):
        merge.merge([a, other])


def test_readme_tables_replace_only_their_blocks(tmp_path: Path) -> None:
    mod = load_benchmark("readme_tables")
    readme = "intro\n<!-- targets:start -->\nold\n<!-- targets:end -->\nmid\n<!-- drugs:start -->\n<!-- drugs:end -->\nend\n"
    text = mod.replace_block(readme, "targets", "| new | table |\n")
    assert "old" not in text and "| new | table |" in text and text.startswith("intro\n")
    assert text.endswith("mid\n<!-- drugs:start -->\n<!-- drugs:end -->\nend\n")
    rows = [{"drug": "Aspirin", "question": "Q?", "answer": "a | b\nc", "expected": "x",
             "facts": "ester | rings 1"}]  # fmt: skip
    table = mod.drug_table(rows)
    assert table.splitlines()[2] == "| Aspirin | Q? | a / b c | x | ester / rings 1 |"
    with pytest.raises(ValueError, match="no <!-- other:start -->"):
        mod.replace_block(readme, "other", "x")

"""The ablation table's aggregation and verdicts, on hand-made run results (no training)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from edtformer.evaluation.report import MetricReport
from edtformer.experiments.bench import (
    BUDGETS,
    RunResult,
    aggregate,
    check_orderings,
    get_variants,
    markdown,
)


def _run(variant: str, seed: int, mc: float, stereo: float, letters: dict[str, float]) -> RunResult:
    mc_metrics = {"accuracy": mc, **{f"pred_rate/{k}": v for k, v in letters.items()}}
    reports = [
        MetricReport("struct_mc", "test", variant, seed, "bridge", 100, mc_metrics),
        MetricReport("stereo", "test", variant, seed, "bridge", 100, {"accuracy": stereo}),
    ]
    return RunResult(variant, seed, reports, train_seconds=10.0, eval_seconds=2.0)


FLAT = {"A": 0.25, "B": 0.25, "C": 0.25, "D": 0.25}
BIASED = {"A": 0.7, "B": 0.1, "C": 0.1, "D": 0.1}


def test_mean_std_and_letter_share() -> None:
    runs = [_run("full", 0, 0.5, 0.4, FLAT), _run("full", 1, 0.7, 0.4, BIASED)]
    (row,) = aggregate(runs, get_variants(["full"]), BUDGETS["cpu"])
    mc = row["metrics"]["struct MC acc"]
    assert mc["mean"] == pytest.approx(0.6) and mc["n"] == 2
    assert mc["std"] == pytest.approx(math.sqrt(0.02))  # sample std of 0.5, 0.7
    share = row["metrics"]["top MC letter share"]
    assert share["mean"] == pytest.approx((0.25 + 0.7) / 2)


def test_verdicts_need_two_seeds_and_a_margin_above_the_spread() -> None:
    budget = BUDGETS["cpu"]
    one_seed = aggregate(
        [_run("full", 0, 0.6, 0.4, FLAT), _run("mlp", 0, 0.3, 0.4, FLAT)],
        get_variants(["full", "mlp"]),
        budget,
    )
    lines = check_orderings(one_seed)
    assert len(lines) == 2 and all("one seed only" in line for line in lines)

    runs = [
        _run("full", 0, 0.60, 0.40, FLAT), _run("full", 1, 0.62, 0.30, FLAT),
        _run("mlp", 0, 0.30, 0.36, FLAT), _run("mlp", 1, 0.32, 0.34, FLAT),
    ]  # fmt: skip
    rows = aggregate(runs, get_variants(["full", "mlp"]), budget)
    mc_line, stereo_line = check_orderings(rows, n_eval=100)
    assert "**holds**" in mc_line and "margin +0.300" in mc_line
    # test-sampling SE of the MC margin: sqrt(.61*.39/200 + .31*.69/200)
    assert f"SE {math.sqrt(0.61 * 0.39 / 200 + 0.31 * 0.69 / 200):.3f}" in mc_line
    assert "within the seed spread" in stereo_line  # 0.35 vs 0.35, std 0.07
    flipped = aggregate(
        [_run("full", s, 0.2 + 0.01 * s, 0.3, FLAT) for s in (0, 1)]
        + [_run("mlp", s, 0.5 + 0.01 * s, 0.3, FLAT) for s in (0, 1)],
        get_variants(["full", "mlp"]),
        budget,
    )
    assert "does NOT hold" in check_orderings(flipped)[0]
    small = aggregate(
        [_run("full", s, 0.30 + 0.01 * s, 0.3, FLAT) for s in (0, 1)]
        + [_run("mlp", s, 0.25 + 0.01 * s, 0.3, FLAT) for s in (0, 1)],
        get_variants(["full", "mlp"]),
        budget,
    )
    # margin 0.05 beats the seed spread (0.007) but not 2 SE of 100 questions x 2 seeds (~0.09)
    assert "within 2 SE of test sampling" in check_orderings(small, n_eval=100)[0]
    assert "**holds**" in check_orderings(small)[0]
    text = markdown(rows, budget, [0, 1])
    assert "| full |" in text and "0.610 ± 0.014" in text and "## Checks" in text


# -- the learnable setting (recipe budgets) ------------------------------------------------------


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


#: What each row of the learnable table may change against the full row (its own fields only).
ALLOWED = {
    "full": set(),
    "entropy_only": {"model.patch_rule"},
    "brics_only": {"model.patch_rule"},
    "anchors_only": {"bridge.connector"},
    "dynamic_only": {"bridge.connector"},
    # an MLP or no connector has no query transformer to read the question with
    "mlp": {"bridge.connector", "bridge.instruction_aware"},
    "smiles_lora": {"bridge.connector", "bridge.instruction_aware"},
    "smiles_zeroshot": {"bridge.connector", "bridge.instruction_aware"},
    "no_stereo_emb": {"bridge.stereo_embedding"},
    "fused": {"model.encoders"},
}


@pytest.mark.parametrize("budget_name", ["learn", "tiny_learn"])
def test_every_learn_row_differs_from_full_only_in_what_it_names(
    budget_name: str, tmp_path: Path
) -> None:
    from edtformer.experiments.bench import VARIANTS, train_config

    budget = BUDGETS[budget_name]
    full = _flat(train_config(VARIANTS[0], budget, 0, "d", tmp_path, None).to_dict())
    assert full["recipe.fact_sheet"] is False and full["lora.r"] == 8
    assert not any(k.startswith(("recipe.fact_t", "recipe.aux_", "recipe.slot_")) for k in full)
    assert full["recipe.curve_zero_tokens"] is True
    for variant in VARIANTS:
        cfg = _flat(train_config(variant, budget, 0, "d", tmp_path, None).to_dict())
        changed = {k for k in cfg if cfg[k] != full[k]}
        assert changed <= ALLOWED[variant.name], (variant.name, changed)
        if budget_name == "learn" and variant.name != "fused":  # fused names two streams
            assert cfg["model.encoders"] == ["minimol", "rdkit_atoms"]


def test_learn_budget_rdkit_stream_is_per_atom() -> None:
    """An atom's row of the descriptor stream depends on its neighbourhood, not on the rest of
    the molecule: the hydroxyl O of butanol and of dodecanol get the same row."""
    from rdkit import Chem

    from edtformer.encoders.descriptors import local_descriptors

    budget = BUDGETS["learn"]
    assert budget.encoder.split(",") == ["minimol", "rdkit_atoms"]
    short = local_descriptors(Chem.MolFromSmiles("CCCCO"))
    long = local_descriptors(Chem.MolFromSmiles("CCCCCCCCCCCCO"))
    assert short.shape[1] == long.shape[1]
    assert torch.equal(short[-1], long[-1]) and torch.equal(short[0], long[0])
    kinds = set(budget.eval_kinds)
    assert {"n_rings", "hbd", "hba", "n_stereocentres", "has_group", "bbbp", "solubility"} <= kinds


def test_paired_gap_is_the_mean_difference_with_its_standard_error() -> None:
    from edtformer.evaluation.tasks import ItemResult
    from edtformer.training.curve import paired_gap

    full = [ItemResult(str(i), "hbd", "1", "1", i < 8) for i in range(10)]
    zero = [ItemResult(str(i), "hbd", "1", "1", i < 5) for i in range(10)]
    gap = paired_gap(full, zero)
    assert gap["n"] == 10 and gap["acc"] == pytest.approx(0.8)
    assert gap["acc_control"] == pytest.approx(0.5) and gap["gap"] == pytest.approx(0.3)
    # differences: three 1s, seven 0s -> sample var 0.2333, SE sqrt(0.2333 / 10)
    assert gap["gap_se"] == pytest.approx(math.sqrt((3 * 0.7**2 + 7 * 0.3**2) / 9 / 10))
    other = [ItemResult(str(i), "has_group", "yes", "yes", True) for i in range(10)]
    assert paired_gap(other, other) == {}  # not a count kind


def test_learn_table_pools_the_counts_and_shows_the_zero_token_control() -> None:
    budget = BUDGETS["learn"]

    def reports(acc: float) -> list[MetricReport]:
        st = {f"{k}/exact_accuracy": acc for k in ("n_rings", "n_aromatic_rings", "hbd", "hba")}
        so = {"n_stereocentres/exact_accuracy": acc, "same_stereoisomer/accuracy": 0.5}
        return [
            MetricReport("struct_text", "test", "full", 0, "bridge", 240, st),
            MetricReport("stereo", "test", "full", 0, "bridge", 120, so),
            MetricReport("solubility", "test", "full", 0, "bridge", 120, {"number/mae": 1.5}),
        ]

    gap = {"counts": {"gap": 0.3, "gap_se": 0.04}}
    runs = [
        RunResult("full", s, reports(0.7), 1.0, 1.0, zero_reports=reports(0.4), gaps=gap)
        for s in (0, 1)
    ]
    (row,) = aggregate(runs, get_variants(["full"]), budget)
    assert row["metrics"]["counts exact"]["mean"] == pytest.approx(0.7)
    assert row["metrics"]["counts exact, zero tokens"]["mean"] == pytest.approx(0.4)
    assert row["metrics"]["counts gap (paired)"]["mean"] == pytest.approx(0.3)
    assert row["metrics"]["log S MAE"]["mean"] == pytest.approx(1.5)
    assert row["counts_gap_se"] == pytest.approx(0.04)
    text = markdown([row], budget, [0, 1])
    assert "zero tokens" in text and "ablation" in text


def _finished(out: Path, budget_name: str, variant: str, seed: int, budget: object) -> None:
    """A hand-made finished run folder (eval.json + variant.json) of ``budget``."""
    import json
    from dataclasses import asdict

    run = out / "runs" / budget_name / variant / f"seed{seed}"
    run.mkdir(parents=True)
    result = _run(variant, seed, 0.5, 0.5, FLAT)
    (run / "eval.json").write_text(json.dumps(result.to_dict()))
    (run / "variant.json").write_text(json.dumps({"budget": asdict(budget)}))  # type: ignore[call-overload]


def test_finished_runs_are_reused_with_per_variant_seeds(tmp_path: Path) -> None:
    from edtformer.experiments.bench import run_bench

    budget = BUDGETS["cpu"]
    for seed in (0, 1, 2):
        _finished(tmp_path, "cpu", "full", seed, budget)
    for seed in (0, 1):
        _finished(tmp_path, "cpu", "mlp", seed, budget)
    results = run_bench(
        budget, [0, 1, 2], get_variants(["full", "mlp"]), tmp_path / "data", tmp_path,
        seeds_of={"mlp": [0, 1]},
    )  # fmt: skip
    assert [(r.variant, r.seed) for r in results] == [
        ("full", 0), ("full", 1), ("full", 2), ("mlp", 0), ("mlp", 1)
    ]  # fmt: skip
    assert (
        "| full | edt | combine | minimol | bridge (frozen LLM) | 0,1,2 |"
        in (tmp_path / "ablations.md").read_text()
    )


def test_a_run_of_other_budget_settings_is_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    from edtformer.errors import EdtError
    from edtformer.experiments.bench import run_bench

    _finished(tmp_path, "cpu", "full", 0, replace(BUDGETS["cpu"], max_steps=7))
    with pytest.raises(EdtError, match="other cpu budget settings"):
        run_bench(BUDGETS["cpu"], [0], get_variants(["full"]), tmp_path / "data", tmp_path)
    with pytest.raises(EdtError, match="not in this bench"):
        run_bench(
            BUDGETS["cpu"], [0], get_variants(["full"]), tmp_path / "data", tmp_path,
            seeds_of={"mlp": [0]},
        )  # fmt: skip


def test_runs_go_seed_major_so_a_cut_bench_has_every_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every variant's first seed is trained before any variant's second seed."""
    import edtformer.experiments.bench as bench

    order: list[tuple[str, int]] = []

    def fake_train(todo, budget, data_dir, llm, jobs):  # type: ignore[no-untyped-def]
        for variant, seed, _ in todo:
            order.append((variant.name, seed))
            yield variant, seed, _run(variant.name, seed, 0.5, 0.5, FLAT)

    monkeypatch.setattr(bench, "_train_and_score", fake_train)
    monkeypatch.setattr(bench, "write_outputs", lambda *a, **k: None)
    variants = get_variants(["full", "anchors_only", "mlp"])
    bench.run_bench(
        BUDGETS["cpu"], [0, 1, 2], variants, tmp_path, tmp_path, seeds_of={"mlp": [0, 1]}
    )
    assert order == [
        ("full", 0), ("anchors_only", 0), ("mlp", 0),
        ("full", 1), ("anchors_only", 1), ("mlp", 1),
        ("full", 2), ("anchors_only", 2),
    ]  # fmt: skip


def test_runs_recorded_in_the_report_are_reused_on_a_fresh_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bench whose run folders are gone (a fresh clone) trains only what its committed report
    does not record, and rewrites the report after every run it finishes."""
    import json
    import shutil
    from dataclasses import replace

    import edtformer.experiments.bench as bench

    budget = BUDGETS["cpu"]
    for seed in (0, 1):
        _finished(tmp_path, "cpu", "full", seed, budget)
    bench.run_bench(budget, [0, 1], get_variants(["full"]), tmp_path / "data", tmp_path)
    shutil.rmtree(tmp_path / "runs")  # weights and folders are not committed; the report is

    trained: list[tuple[str, int]] = []
    seen_in_report: list[list[tuple[str, int]]] = []

    def fake_train(todo, budget, data_dir, llm, jobs):  # type: ignore[no-untyped-def]
        for variant, seed, _ in todo:
            trained.append((variant.name, seed))
            yield variant, seed, _run(variant.name, seed, 0.9, 0.5, FLAT)
            runs = json.loads((tmp_path / "ablations.json").read_text())["runs"]
            seen_in_report.append([(r["variant"], r["seed"]) for r in runs])

    monkeypatch.setattr(bench, "_train_and_score", fake_train)
    results = bench.run_bench(
        budget, [0, 1, 2], get_variants(["full", "mlp"]), tmp_path / "data", tmp_path
    )
    assert trained == [("mlp", 0), ("mlp", 1), ("full", 2), ("mlp", 2)]
    assert [(r.variant, r.seed) for r in results] == [
        ("full", 0), ("full", 1), ("full", 2), ("mlp", 0), ("mlp", 1), ("mlp", 2)
    ]  # fmt: skip
    # the report after the first trained run already holds it beside the reused ones
    assert seen_in_report[0] == [("full", 0), ("full", 1), ("mlp", 0)]
    assert seen_in_report[-1] == [(r.variant, r.seed) for r in results]

    # a report of other budget settings is not reused: every run is trained again
    trained.clear()
    other = replace(budget, max_steps=budget.max_steps + 1)
    bench.run_bench(other, [0], get_variants(["full"]), tmp_path / "data", tmp_path)
    assert trained == [("full", 0)]


def test_a_reused_folder_takes_its_precision_from_its_training_record(tmp_path: Path) -> None:
    """An ``eval.json`` written before runs recorded their precision gets it from the run's
    ``final/training.json``; the report names it per run."""
    import json

    from edtformer.experiments.bench import run_bench

    budget = BUDGETS["cpu"]
    _finished(tmp_path, "cpu", "full", 0, budget)
    final = tmp_path / "runs" / "cpu" / "full" / "seed0" / "final"
    final.mkdir()
    cpu = "x86_64 CPU (Xeon, torch capability AVX512, native bf16: CPU flag amx_bf16)"
    (final / "training.json").write_text(json.dumps({"precision": "bf16-mixed", "hardware": cpu}))
    (run,) = run_bench(budget, [0], get_variants(["full"]), tmp_path / "data", tmp_path)
    assert (run.precision, run.hardware) == ("bf16-mixed", cpu)
    assert f"| full | 0 | bf16-mixed | {cpu} |" in (tmp_path / "ablations.md").read_text()


def test_rows_scored_on_the_same_questions_compare_by_a_paired_difference() -> None:
    """With every seed's per-question results recorded, the counts check states the paired SE
    (the two rows answer the same questions); runs without them keep the unpaired SE."""
    from edtformer.experiments.bench_report import check_orderings, paired_margin

    budget = BUDGETS["learn"]

    def learn_run(variant: str, seed: int, right: list[bool]) -> RunResult:
        acc = sum(right) / len(right)
        st = {f"{k}/exact_accuracy": acc for k in ("n_rings", "n_aromatic_rings", "hbd", "hba")}
        reports = [
            MetricReport("struct_text", "test", variant, seed, "bridge", 240, st),
            MetricReport("stereo", "test", variant, seed, "bridge", 60,
                         {"n_stereocentres/exact_accuracy": acc}),
        ]  # fmt: skip
        items = {f"n_rings|{k}": r for k, r in enumerate(right)}
        return RunResult(variant, seed, reports, 1.0, 1.0, count_items=items)

    full = [learn_run("full", s, [k % 2 == 0 or k % 5 == 0 for k in range(60)]) for s in (0, 1)]
    anchors = [learn_run("anchors_only", s, [k % 2 == 0 for k in range(60)]) for s in (0, 1)]
    rows = aggregate(full + anchors, get_variants(["full", "anchors_only"]), budget)
    by = {r["variant"]: r for r in rows}
    margin, se, n = paired_margin(by["full"], by["anchors_only"])  # type: ignore[misc]
    assert n == 120 and margin == pytest.approx(12 / 120)  # 6 of 60 more, per seed
    assert se == pytest.approx(math.sqrt(0.1 * 0.9 / 119 / 120 * 120), rel=1e-6)
    line = next(x for x in check_orderings(rows, 60, ("counts exact",), {"counts exact": 300})
                if "static Q-Former" in x)  # fmt: skip
    assert "paired test-sampling SE" in line and "over 120 question pairs" in line
    without = [RunResult.from_dict({**r.to_dict(), "count_items": {}}) for r in anchors]
    rows = aggregate(full + without, get_variants(["full", "anchors_only"]), budget)
    assert paired_margin(rows[0], rows[1]) is None
    line = next(x for x in check_orderings(rows, 60, ("counts exact",), {"counts exact": 300})
                if "static Q-Former" in x)  # fmt: skip
    assert "paired" not in line and "test-sampling SE" in line


def test_a_bench_worker_stops_when_the_bench_process_is_gone() -> None:
    """A worker whose parent is not the bench that started it any more stops; one whose parent
    is alive keeps running."""
    import os
    import threading

    from edtformer.experiments.bench import watch_parent

    stopped = threading.Event()
    codes: list[int] = []

    def stop(code: int) -> None:
        codes.append(code)
        stopped.set()

    watch_parent(os.getppid() + 10_000_000, interval=0.01, stop=stop)  # no such parent: gone
    assert stopped.wait(5.0) and codes == [1]
    alive = threading.Event()
    thread = watch_parent(os.getppid(), interval=0.05, stop=lambda code: alive.set())
    assert not alive.wait(0.2) and thread.is_alive() and thread.daemon

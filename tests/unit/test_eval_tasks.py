"""The evaluator on a tiny random LLM and a tiny built dataset: every answer type, letter
balance, one-forward choice scoring equal to the model's own scores, and the leakage refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.data import build_datasets, load_task, make_record, preset
from edtformer.errors import DataError
from edtformer.evaluation import tasks as T
from edtformer.evaluation.evaluator import Evaluator, evaluate_records, load_eval_records
from edtformer.evaluation.leakage import LeakageError, check_leakage, leaked_sources
from edtformer.model import EDTFormer, EDTFormerConfig


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("eval")
    make_tiny_llm(out / "llm")
    build_datasets(out / "data", preset("tiny"))
    return out


@pytest.fixture(scope="module")
def model(root: Path) -> EDTFormer:
    torch.manual_seed(0)
    cfg = EDTFormerConfig(
        encoders=("random",), llm=str(root / "llm"), bridge=tiny(), patch_rule="brics"
    )
    return EDTFormer.build(cfg).eval()


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("struct_mc", {"accuracy", "pred_rate/A", "gold_rate/D"}),
        ("bbbp", {"accuracy", "f1", "roc_auc"}),
        ("freesolv", {"mae", "rmse", "spearman", "n_unparseable"}),
        ("forward", {"exact_match", "validity", "morgan_fts"}),
        ("text_description", {"bleu4", "rougeL", "meteor", "fg_hallucination_rate"}),
        ("stereo", {"accuracy", "n_judged"}),
    ],
)
def test_every_answer_type_gives_a_report(
    root: Path, model: EDTFormer, task: str, expected: set[str]
) -> None:
    records = load_eval_records(task, "test", root / "data", limit=6)
    result = evaluate_records(model, records, task, max_new_tokens=3, batch_size=4)
    report = result.report
    assert report.task == task and report.split == "test" and report.n == len(records)
    assert expected <= set(report.metrics), sorted(report.metrics)
    assert report.training_mode == "bridge (frozen LLM)"
    assert len(result.items) == len(records)
    assert 0 <= report.n_unparseable <= len(records)
    MetricReportRoundTrip = type(report).from_json(report.to_json())
    assert MetricReportRoundTrip.metrics.keys() == report.metrics.keys()


def test_mixed_task_prefixes_group_metrics(root: Path, model: EDTFormer) -> None:
    records = load_eval_records("stereo", "test", root / "data")
    groups = T.group_records(records)
    assert len(groups) > 1
    report = evaluate_records(model, records, "stereo", max_new_tokens=2).report
    for group in groups:
        assert any(k.startswith(f"{group}/") for k in report.metrics), group


def test_choice_scoring_matches_model_score_and_batching(root: Path, model: EDTFormer) -> None:
    records = load_eval_records("struct_mc", "test", root / "data", limit=5)
    one = Evaluator(model, batch_size=1).choice_probs(records, ["A", "B", "C", "D"])
    many = Evaluator(model, batch_size=5).choice_probs(records, ["A", "B", "C", "D"])
    np.testing.assert_allclose(one, many, atol=1e-5)
    np.testing.assert_allclose(one.sum(axis=1), 1.0, atol=1e-6)


def test_cloze_scores_each_option_as_its_own_answer_whatever_the_batching(
    root: Path, model: EDTFormer
) -> None:
    records = load_eval_records("struct_mc", "test", root / "data", limit=5)
    one = Evaluator(model, batch_size=1).cloze_probs(records)
    many = Evaluator(model, batch_size=3).cloze_probs(records)
    np.testing.assert_allclose(one, many, atol=1e-5)
    np.testing.assert_allclose(many.sum(axis=1), 1.0, atol=1e-9)
    r = records[2]  # by hand: each option the answer of its own full prompt (no sharing)
    convs = [model.prompts.messages(r["question"], len(r["smiles"]), c) for c in r["choices"]]
    batch = model.prepare([list(r["smiles"])] * len(convs), convs)
    norm = model.answer_logprobs(batch).double().numpy() / [len(c) for c in r["choices"]]
    np.testing.assert_allclose(many[2], np.exp(norm) / np.exp(norm).sum(), atol=1e-4)


def test_mc_letter_rates_follow_predictions_not_position() -> None:
    recs = [
        make_record(
            id=f"q{i}", task="t", split="test", smiles=["CCO"], question="<mol>\nQ?",
            answer="ABCD"[i % 4], answer_type="mc", category="Structure", source="x",
            choices=["w", "x", "y", "z"],
        )
        for i in range(8)
    ]  # fmt: skip
    probs = np.zeros((8, 4))
    probs[np.arange(8), np.arange(8) % 4] = 1.0  # always right, every letter twice
    metrics, _ = T.score_mc(recs, probs)
    assert metrics["accuracy"] == 1.0
    assert all(metrics[f"pred_rate/{c}"] == metrics[f"gold_rate/{c}"] == 0.25 for c in "ABCD")
    # a 2-choice record is never assigned C or D even when those letters score highest
    two = [{**recs[0], "choices": ["w", "x"], "answer": "B"}]
    _, items2 = T.score_mc(two, np.array([[0.1, 0.2, 0.3, 0.4]]))
    assert items2[0].prediction == "B"


def test_built_mc_gold_letters_are_balanced(root: Path) -> None:
    gold = [r["answer"] for r in load_task(root / "data", "struct_mc", "test")]
    for letter in "ABCD":
        assert abs(gold.count(letter) / len(gold) - 0.25) < 0.15


def test_yesno_options_follow_training_capitalisation() -> None:
    def rec(answer: str):
        return make_record(
            id="y", task="t", split="test", smiles=["C"], question="<mol>\nQ?", answer=answer,
            answer_type="yesno", category="Property", source="x",
        )  # fmt: skip

    assert T.choice_options([rec("yes"), rec("no")]) == ["yes", "no"]
    assert T.choice_options([rec("Yes"), rec("No")]) == ["Yes", "No"]


def test_label_answers_compare_as_lists_sets_or_exact() -> None:
    rec = make_record(
        id="s", task="stereo", split="test", smiles=["C"], question="<mol>\nQ?", answer="S,R",
        answer_type="text", category="Structure", source="x", meta={"kind": "rs"},
    )  # fmt: skip
    _, items = T.score_text([rec, rec, rec], ["S, R", "R,S", "S,R."], "rs", "stereo")
    assert [i.correct for i in items] == [True, False, True]
    groups = {**rec, "answer": "amide, ester", "meta": {"kind": "groups"}}
    _, items = T.score_text([groups], ["ester and amide"], "groups", "struct_text")
    assert items[0].correct is True


def test_number_exact_accuracy_only_for_integer_targets() -> None:
    def rec(answer: str):
        return make_record(
            id="n", task="t", split="test", smiles=["C"], question="<mol>\nQ?", answer=answer,
            answer_type="number", category="Structure", source="x",
        )  # fmt: skip

    metrics, _ = T.score_number([rec("2"), rec("3")], ["2", "three"])
    assert metrics["exact_accuracy"] == 0.5 and metrics["n_unparseable"] == 1
    metrics, _ = T.score_number([rec("-1.25"), rec("0.50")], ["-1.0", "1"])
    assert "exact_accuracy" not in metrics and metrics["mae"] == pytest.approx(0.375)


def test_limit_is_a_deterministic_seeded_subset(root: Path) -> None:
    a = load_eval_records("struct_mc", "test", root / "data", limit=4, seed=3)
    b = load_eval_records("struct_mc", "test", root / "data", limit=4, seed=3)
    c = load_eval_records("struct_mc", "test", root / "data", limit=4, seed=4)
    assert [r["id"] for r in a] == [r["id"] for r in b] != [r["id"] for r in c]


def test_training_split_is_refused(root: Path) -> None:
    with pytest.raises(DataError, match="never the training split"):
        load_eval_records("struct_mc", "train", root / "data")


def test_leakage_is_table_driven_and_refused() -> None:
    assert leaked_sources(["TDC:BBB_Martins", "TDC:AMES"], "bbbp") == ["TDC:BBB_Martins"]
    assert leaked_sources(["TDC:BBB_Martins"], "BBB_Martins_test") == ["TDC:BBB_Martins"]
    assert check_leakage(("minimol",), "bbbp") == ""
    assert check_leakage(("chemprop",), "struct_mc") == ""
    for task in ("bbbp", "logbb", "freesolv"):
        with pytest.raises(LeakageError, match="chemprop"):
            check_leakage(("minimol", "chemprop"), task)
    assert "LEAK" in check_leakage(("chemprop",), "freesolv", allow=True)


def test_leaking_model_is_refused_before_scoring(root: Path, model: EDTFormer) -> None:
    records = load_eval_records("bbbp", "test", root / "data", limit=2)
    model.config.encoders = ("chemprop",)  # as if built on admet-ai's Chemprop
    try:
        with pytest.raises(LeakageError):
            evaluate_records(model, records, "bbbp")
        report = evaluate_records(model, records, "bbbp", allow_leak=True).report
        assert report.notes.startswith("LEAK")
    finally:
        model.config.encoders = ("random",)

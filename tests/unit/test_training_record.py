"""The run record (``training.json``): its ``extra`` keys and the history of a continued model."""

from __future__ import annotations

import json
from pathlib import Path

from edtformer.training.compat import RETIRED_KEYS
from edtformer.training.config import build_config
from edtformer.training.record import add_history, training_extra

SHIPPED = Path(__file__).resolve().parents[2] / "src/edtformer/assets/bridge/default/training.json"


#: ``extra``'s keys as the recipe runner wrote them before the ``bridge`` section.
EXTRA_KEYS = {
    "instruction_aware", "token_norm", "fact_sheet", "sheet_full_rate", "eval_every",
    "eval_per_kind", "eval_at_start", "curve_kinds", "curve_zero_tokens", "balance_bbbp",
    "answer_loss", "bbbp_targets", "sheet_lines", "decline_unnamed",
}  # fmt: skip


def test_extra_keeps_the_keys_of_earlier_records() -> None:
    """``extra`` names the same levers as before, ``instruction_aware`` and ``token_norm``
    included although they moved to ``bridge``; the shipped record's (less the options retired
    since) have the values the default recipe resolves to."""
    extra = json.loads(json.dumps(training_extra(build_config("recipe", "smol", "default"))))
    assert set(extra) == EXTRA_KEYS
    shipped = json.loads(SHIPPED.read_text())["extra"]
    retired = {k.split(".", 1)[1] for k in RETIRED_KEYS if k.startswith("recipe.")}
    kept = set(shipped) - retired
    assert kept <= set(extra) and {k: extra[k] for k in kept} == {k: shipped[k] for k in kept}


def test_a_continued_model_records_what_it_continues(tmp_path: Path) -> None:
    record = {"samples": 10, "train_seconds": 1.0}
    assert add_history(record, tmp_path) == record  # no training.json: unchanged
    parent = {"samples": 30, "train_seconds": 2.04, "continues": [{"samples": 5}]}
    (tmp_path / "training.json").write_text(json.dumps(parent))
    out = add_history(record, tmp_path)
    assert out["continues"] == [{"samples": 5}, {"samples": 30, "train_seconds": 2.04}]
    assert out["total"] == {"samples": 45, "train_seconds": 3.0}


def test_a_make_model_call_is_recorded_with_its_wall_time(tmp_path: Path) -> None:
    """``python -m edtformer.training.record`` (the Makefile's ``model`` target) adds the whole
    call's seconds, split and CPU to ``training.json``; a folder without one is a clear error."""
    import time

    from edtformer.training.record import main

    (tmp_path / "training.json").write_text(json.dumps({"train_seconds": 1.0, "seed": 0}))
    started = time.time() - 90.0
    assert main([str(tmp_path), "--started", str(started), "--split", "valid"]) == 0
    record = json.loads((tmp_path / "training.json").read_text())
    assert record["train_seconds"] == 1.0  # the rest kept
    entry = record["make_model"]
    assert 90.0 <= entry["seconds"] < 600.0 and entry["eval_split"] == "valid"
    assert entry["command"] == "make model" and "CPU" in entry["hardware"]
    assert "rebuilt end to end by `make model` in 2 min" in (tmp_path / "README.md").read_text()
    assert main([str(tmp_path / "none"), "--started", "0", "--split", "test"]) == 2

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

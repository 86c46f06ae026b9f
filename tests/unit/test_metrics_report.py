"""MetricReport: JSON round trip (NaN safe), markdown and rich rows."""

from __future__ import annotations

import json
import math

import pytest
from rich.console import Console

from edtformer.evaluation import MetricInputError, MetricReport, markdown_table, rich_table


def _report(**kw: object) -> MetricReport:
    base: dict[str, object] = dict(
        task="bbbp",
        split="test",
        model="edt-tiny",
        seed=0,
        training_mode="bridge",
        n=120,
        metrics={"accuracy": 0.75, "roc_auc": float("nan")},
        n_unparseable=3,
        notes="roc_auc undefined: one class",
    )
    base.update(kw)
    return MetricReport(**base)  # type: ignore[arg-type]


def test_json_round_trip_with_nan() -> None:
    r = _report()
    text = r.to_json()
    data = json.loads(text)  # strict JSON: NaN written as null
    assert data["metrics"]["roc_auc"] is None and data["format_version"] == 1
    back = MetricReport.from_json(text)
    assert back.metrics["accuracy"] == 0.75 and math.isnan(back.metrics["roc_auc"])
    assert (back.task, back.seed, back.n_unparseable, back.notes) == (
        "bbbp",
        0,
        3,
        "roc_auc undefined: one class",
    )


def test_from_dict_errors() -> None:
    with pytest.raises(MetricInputError, match="missing"):
        MetricReport.from_dict({"task": "x"})
    bad = _report().to_dict() | {"format_version": 99}
    with pytest.raises(MetricInputError, match="format_version"):
        MetricReport.from_dict(bad)


def test_markdown_table() -> None:
    a = _report()
    b = _report(model="mlp", metrics={"accuracy": 0.5, "f1": 0.25}, n_unparseable=0)
    table = markdown_table([a, b])
    lines = table.splitlines()
    assert lines[0] == (
        "| task | split | model | training_mode | seed | n | accuracy | roc_auc | f1 | n_unparseable |"
    )
    assert lines[2] == "| bbbp | test | edt-tiny | bridge | 0 | 120 | 0.7500 | nan | – | 3 |"
    assert lines[3] == "| bbbp | test | mlp | bridge | 0 | 120 | 0.5000 | – | 0.2500 | 0 |"
    assert (
        a.markdown_row(["accuracy"], digits=2)
        == "| bbbp | test | edt-tiny | bridge | 0 | 120 | 0.75 | 3 |"
    )


def test_rich_table_renders() -> None:
    console = Console(record=True, width=200)
    console.print(rich_table([_report()], title="results"))
    out = console.export_text()
    assert "edt-tiny" in out and "0.7500" in out and "results" in out

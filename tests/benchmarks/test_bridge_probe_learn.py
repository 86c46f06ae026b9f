"""benchmarks/bridge_probe.py --setting learn: the LLM ablation table's targets, end to end on the
tiny built dataset with a random encoder fused with the per-atom RDKit stream (no network, no
MiniMol weights; the feature cache lives in a temporary folder)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch
from tests.fixtures.benchmarks import load_benchmark

from edtformer.chem import parse_smiles


@pytest.fixture(scope="module")
def probe() -> ModuleType:
    return load_benchmark("bridge_probe")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from edtformer.data import build_datasets, preset

    root = tmp_path_factory.mktemp("bridge_probe_learn") / "data"
    build_datasets(root, preset("tiny"))
    return root


def test_learn_labels_include_acceptors(probe: ModuleType) -> None:
    heads = [name for name, _ in probe.LEARN_HEADS]
    # paracetamol: 1 ring (aromatic), donors NH + OH = 2, acceptors C=O + OH = 2, no centre
    labels, groups = probe.labels_of(parse_smiles("CC(=O)Nc1ccc(O)cc1"), probe.LEARN_HEADS)
    assert dict(zip(heads, labels, strict=True)) == {
        "n_rings": 1, "n_aromatic_rings": 1, "hbd": 2, "hba": 2, "n_stereocentres": 0,
    }  # fmt: skip
    assert groups[probe.GROUPS.index("benzene ring")] == 1.0


def test_balanced_group_accuracy_and_property_scores(probe: ModuleType) -> None:
    heads = probe.LEARN_HEADS
    nan = math.nan
    # rows 0-1 structure, row 2 BBBP, row 3 solubility
    labels = torch.tensor([[1] * len(heads), [0] * len(heads), [-1] * len(heads), [-1] * 5])
    groups = torch.zeros(4, len(probe.GROUPS))
    groups[0, 0] = 1.0
    groups[2:] = nan
    pred_groups = torch.zeros_like(groups)  # group 0: right on the "no", wrong on the "yes"
    preds = [torch.tensor([1, 1, 0, 0]) for _ in heads]
    bbbp = torch.tensor([nan, nan, 1.0, nan])
    logs = torch.tensor([nan, nan, nan, -2.0])
    out = probe.score(
        [*preds, pred_groups, torch.zeros(4), torch.full((4,), -1.0)],
        labels, groups, heads, bbbp, logs, balanced_groups=True,
    )  # fmt: skip
    assert out["n_rings"] == 0.5 and out["counts"] == 0.5
    assert out["group_bal_acc"] == 0.5  # only group 0 has both answers: (0 + 1) / 2
    assert math.isnan(out["bbbp_auc"])  # one class only: undefined
    assert out["logs_mae"] == pytest.approx(1.0)
    # the vectorised per-group balanced accuracy is the project's (scikit-learn's) one
    from edtformer.evaluation.classification import balanced_accuracy

    gen = torch.Generator().manual_seed(0)
    truth = (torch.rand(50, 6, generator=gen) < 0.3).float()
    truth[:, 5] = 0.0  # one answer only: undefined
    pred = (torch.rand(50, 6, generator=gen) < 0.5).float()
    got = probe.group_balanced_accuracy(pred, truth)
    for j in range(6):
        want = balanced_accuracy(truth[:, j].numpy(), pred[:, j].numpy())
        assert (math.isnan(want) and math.isnan(got[j])) or got[j] == pytest.approx(want)


def test_learn_setting_end_to_end(
    probe: ModuleType, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "results"
    args = [
        "--setting", "learn", "--data", str(data), "--encoders", "random,rdkit_atoms",
        "--seeds", "0,1", "--steps", "1", "--batch-size", "6", "--n-train", "16",
        "--n-test", "12", "--threads", "1", "--out", str(out),
    ]  # fmt: skip
    probe.main(args)
    result = json.loads((out / "bridge_probe_learn.json").read_text())
    assert not (out / "bridge_probe.json").exists()  # the default setting's outputs untouched
    assert (out / "bridge_probe_learn.png").stat().st_size > 0
    rows = result["rows"]
    variants = [v[0] for v in probe.VARIANTS]
    assert set(rows) == {"majority class", *variants}
    assert all(len(rows[v]) == 2 for v in variants) and len(rows["majority class"]) == 1
    for name, runs in rows.items():
        for r in runs:
            missing = set(probe.LEARN.columns) - set(r)
            assert not missing, (name, missing)
            for c in ("counts", "n_rings", "hba", "group_bal_acc", "logs_mae"):
                assert r[c] is not None and 0.0 <= r[c] < math.inf, (name, c)
    floor = rows["majority class"][0]
    assert floor["group_bal_acc"] == pytest.approx(0.5)  # a constant answer per group
    assert floor["bbbp_auc"] in (None, 0.5) and floor["logs_spearman"] is None
    meta = result["meta"]
    assert meta["encoders"] == "random,rdkit_atoms" and meta["n"]["train"]["bbbp"] > 0
    assert meta["n"]["test"]["solubility"] > 0
    md = (out / "bridge_probe_learn.md").read_text()
    for header in probe.LEARN.headers:
        assert header in md
    assert "random (frozen) + rdkit_atoms (frozen)" in md and meta["cpu"] in md

    # the finished runs are reused, and only under the same encoders
    probe.main(args)
    saved = json.loads((out / "bridge_probe_runs" / "learn" / "full_seed0.json").read_text())
    assert saved["settings"]["encoders"] == ["random", "rdkit_atoms"]
    again = json.loads((out / "bridge_probe_learn.json").read_text())
    assert again["rows"]["full"] == rows["full"] and again["meta"]["reused"]
    other = [*args[:5], "random", *args[6:], "--variants", "mlp", "--seeds", "0"]
    probe.main(other)
    assert not json.loads((out / "bridge_probe_learn.json").read_text())["meta"]["reused"]

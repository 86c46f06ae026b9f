"""benchmarks/bridge_probe.py: hand-checked labels, scoring, and one training step per connector."""

from __future__ import annotations

import math
from types import ModuleType

import pytest
import torch
from tests.fixtures.benchmarks import load_benchmark

from edtformer.chem import parse_smiles


@pytest.fixture(scope="module")
def probe() -> ModuleType:
    return load_benchmark("bridge_probe")


def test_labels_by_hand(probe: ModuleType) -> None:
    heads = [name for name, _ in probe.CLASS_HEADS]
    # L-alanine: no ring, donors NH2 + OH = 2, one stereocentre, S
    labels, groups = probe.labels_of(parse_smiles("N[C@@H](C)C(=O)O"))
    got = dict(zip(heads, labels, strict=True))
    assert got == {
        "n_rings": 0, "n_aromatic_rings": 0, "hbd": 2, "n_stereocentres": 1,
        "n_R": 0, "n_S": 1, "first_centre_R": 0,
    }  # fmt: skip
    assert groups[probe.GROUPS.index("carboxylic acid")] == 1.0
    assert groups[probe.GROUPS.index("benzene ring")] == 0.0
    # D-alanine flips only the CIP heads; no stereocentre -> first_centre_R undefined
    d = dict(zip(heads, probe.labels_of(parse_smiles("N[C@H](C)C(=O)O"))[0], strict=True))
    assert (d["n_R"], d["n_S"], d["first_centre_R"]) == (1, 0, 1)
    benzene = dict(zip(heads, probe.labels_of(parse_smiles("c1ccccc1"))[0], strict=True))
    assert benzene["first_centre_R"] == -1 and benzene["n_aromatic_rings"] == 1


def test_score_skips_undefined_and_computes_micro_f1(probe: ModuleType) -> None:
    k = len(probe.CLASS_HEADS)
    labels = torch.tensor([[1] * k, [0] * (k - 1) + [-1]])
    preds = [torch.tensor([1, 1]) for _ in range(k)]
    groups = torch.zeros(2, len(probe.GROUPS))
    groups[0, 0] = groups[1, 1] = 1.0
    pred_groups = torch.zeros_like(groups)
    pred_groups[0, 0] = pred_groups[0, 2] = 1.0  # 1 TP, 1 FP, 1 FN -> F1 = 2/4
    out = probe.score([*preds, pred_groups], labels, groups)
    assert out["n_rings"] == 0.5 and out["first_centre_R"] == 1.0  # undefined row skipped
    assert out["groups"] == pytest.approx(0.5)
    assert out["structure"] == pytest.approx((0.5 * 3 + 0.5) / 4)
    assert not math.isnan(out["stereo"])


@pytest.mark.parametrize("variant", ["full", "brics_only", "anchors_only", "mlp"])
def test_one_step_per_connector(probe: ModuleType, variant: str) -> None:
    _, connector, partition, stereo = next(v for v in probe.VARIANTS if v[0] == variant)
    recs = [parse_smiles(s) for s in ("N[C@@H](C)C(=O)O", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1")]
    n = [r.n_atoms for r in recs]
    labels, groups = zip(*(probe.labels_of(r) for r in recs), strict=True)
    mols = probe.Molecules(
        feats=[torch.randn(k, 512) for k in n],
        patches=[torch.stack([torch.arange(k) // 2, torch.zeros(k, dtype=torch.long)]) for k in n],
        stereo=[torch.zeros(k, 2, dtype=torch.long) for k in n],
        labels=torch.tensor(labels),
        groups=torch.tensor(groups),
    )
    model = probe.Probe(connector, stereo)
    inputs = probe.collate(mols, [0, 1, 2], partition)
    if partition == "brics":
        assert inputs[2] is not None and inputs[2].shape[1] == 1
    logits = model(*inputs)
    assert logits.shape == (3, sum(c for _, c in probe.CLASS_HEADS) + len(probe.GROUPS))
    loss, _ = probe.loss_and_preds(logits, mols.labels, mols.groups)
    loss.backward()
    assert all(p.grad is not None for p in model.heads.parameters())

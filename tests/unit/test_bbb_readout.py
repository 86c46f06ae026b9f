"""The blood-brain-barrier read-out (``bridge/readout.py``) and its LLM-free fit
(:func:`edtformer.training.recipe.fit_bbb_head`): scikit-learn's logistic regression, copied into
the read-out's tensors."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

from edtformer.bridge.readout import BBBReadout, pool_mean_max
from edtformer.chem import parse_smiles
from edtformer.errors import EdtError
from edtformer.training.recipe import BBB_C_GRID, fit_bbb_head, readout_yes_prob

D = 16


def _smiles(i: int) -> str:
    return "C" * (1 + i % 7) + "N" * (i % 3) + "O" * (i % 2)


def _label(s: str) -> str:
    """A molecule's number of N and O atoms decides its label."""
    return "yes" if s.count("N") + s.count("O") < 2 else "no"


class _Batch:
    """A molecule's "encoder features": one-hot atomic numbers (mod ``D``) per atom."""

    def __init__(self, mols: list[Any]) -> None:
        self.mols = mols

    def inputs(self) -> tuple[list[torch.Tensor], torch.Tensor]:
        n = max(m.GetNumAtoms() for m in self.mols)
        h = torch.zeros(len(self.mols), n, D)
        mask = torch.zeros(len(self.mols), n, dtype=torch.bool)
        for b, m in enumerate(self.mols):
            for a in m.GetAtoms():
                h[b, a.GetIdx(), a.GetAtomicNum() % D] = 1.0
                mask[b, a.GetIdx()] = True
        return [h], mask


def _bbbp_folder(root: Path, labels: Any = _label) -> Path:
    (root / "bbbp").mkdir(parents=True, exist_ok=True)
    for split, ids in (("train", range(60)), ("valid", range(60, 90))):
        rows = [
            {"id": f"bbbp-{i}", "task": "bbbp", "split": split, "smiles": [_smiles(i)],
             "question": "<mol>\nCan this molecule cross the blood-brain barrier?",
             "answer": labels(_smiles(i)), "choices": None, "answer_type": "yesno",
             "category": "Property", "source": "test", "meta": {}}
            for i in ids
        ]  # fmt: skip
        (root / "bbbp" / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _model(readout: BBBReadout | None) -> Any:
    return SimpleNamespace(
        readout=readout,
        processor=lambda recs: _Batch([r.mol for r in recs]),  # MolRecord -> RDKit mol
    )


def test_bbb_read_out_is_a_logistic_regression_chosen_on_valid(tmp_path: Path) -> None:
    """fit_bbb_head: standardised mean + max features, C chosen by valid ROC-AUC, copied into
    the read-out, frozen; the read-out's logits are the regression's decision function."""
    from sklearn.linear_model import LogisticRegression

    readout = BBBReadout((D,))
    shapes = {k: tuple(v.shape) for k, v in readout.state_dict().items()}
    model = _model(readout)
    report = fit_bbb_head(model, _bbbp_folder(tmp_path), seed=0)
    assert report["C"] in BBB_C_GRID and report["valid_roc_auc"] > 0.9
    assert set(report["valid_roc_auc_by_C"]) == {str(c) for c in BBB_C_GRID}
    assert not any(p.requires_grad for p in readout.parameters())  # frozen
    # the saved tensors keep their names and shapes (a shipped read-out loads unchanged)
    assert {k: tuple(v.shape) for k, v in readout.state_dict().items()} == shapes
    assert set(shapes) == {"bbb.weight", "bbb.bias", "bbb_mean", "bbb_std"}
    # the read-out's logit is sklearn's decision function on the standardised features
    train = [_smiles(i) for i in range(60)]
    feats, mask = _Batch([parse_smiles(s).mol for s in train]).inputs()
    x = pool_mean_max(feats, mask)
    z = ((x - readout.bbb_mean) / readout.bbb_std).double().numpy()
    y = np.array([_label(s) == "yes" for s in train], dtype=int)
    clf = LogisticRegression(C=report["C"], max_iter=3000, random_state=0).fit(z, y)
    got = readout.bbb_readout(x).detach().double().numpy()
    assert np.allclose(got, clf.decision_function(z), atol=1e-3)
    probs = readout(feats, mask).detach().double().numpy()  # forward: P(BBB+)
    assert np.allclose(probs, 1 / (1 + np.exp(-clf.decision_function(z))), atol=1e-3)
    # recipe.bbbp_targets=soft: P(yes) per BBBP molecule is the read-out's sigmoid
    records = [{"task": "bbbp", "smiles": [s]} for s in train] + [
        {"task": "stereo", "smiles": ["C"]}
    ]
    prob = readout_yes_prob(model, records)
    assert set(prob) == set(train)
    want = 1 / (1 + np.exp(-clf.decision_function(z)))
    assert np.allclose([prob[s] for s in train], want, atol=1e-3)


def test_one_class_labels_give_the_base_rate_and_no_read_out_is_an_error(tmp_path: Path) -> None:
    readout = BBBReadout((D,))
    report = fit_bbb_head(_model(readout), _bbbp_folder(tmp_path, lambda s: "yes"), seed=0)
    assert report["C"] is None and report["valid_roc_auc"] is None
    assert float(readout.bbb.weight.abs().sum()) == 0.0
    assert float(torch.sigmoid(readout.bbb.bias)) == pytest.approx(0.99)  # clipped rate
    with pytest.raises(EdtError, match="no blood-brain-barrier read-out"):
        fit_bbb_head(_model(None), tmp_path, seed=0)
    with pytest.raises(EdtError, match="needs a blood-brain-barrier read-out"):
        readout_yes_prob(_model(None), [{"task": "bbbp", "smiles": ["C"]}])

"""A BBBP specialist on the same frozen features the bridge reads (the bar for the bridge).

The bridge answers "Can this molecule cross the blood-brain barrier?" through a frozen LLM. How
good is that answer compared with the simplest model a chemist would fit on the same features?
This script pools MiniMol's per-atom features of every molecule (mean and max over atoms,
1,024 numbers), fits a logistic regression on the ``bbbp`` train split of ``edt data build``,
picks its regularisation strength on the valid split, and scores the scaffold test split once.

    python experiments/diagnostics/bbbp_specialist.py --data data_out [--encoders minimol,rdkit]
    # writes experiments/records/bbbp_specialist.json

Node features come from the feature cache (``$EDT_CACHE/features``), computed if missing.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from edtformer.chem import parse_smiles
from edtformer.data import load_task
from edtformer.encoders import get_encoder
from edtformer.encoders.cache import NodeFeatureCache
from edtformer.llm.loading import cache_root
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parents[1] / "records"


def pooled_features(cache: NodeFeatureCache, smiles: list[str]) -> np.ndarray:
    """Mean and max of each molecule's node features, float64 ``[M, 2 * D]``."""
    records = [parse_smiles(s) for s in smiles]
    out = []
    for start in range(0, len(records), 64):
        feats = cache.encode(records[start : start + 64])
        m = feats.mask.unsqueeze(-1).float()  # [B, N, 1]
        mean = (feats.h * m).sum(1) / m.sum(1).clamp_min(1.0)
        mx = feats.h.masked_fill(m == 0, float("-inf")).amax(1)
        out.append(torch.cat([mean, mx], dim=1).double().numpy())
    return np.concatenate(out)


def split_xy(
    caches: list[NodeFeatureCache], data: Path, split: str
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features of every stream, side by side, and 0/1 labels (1 = crosses)."""
    recs = load_task(data, "bbbp", split)
    smiles = [r["smiles"][0] for r in recs]
    x = np.concatenate([pooled_features(c, smiles) for c in caches], axis=1)
    y = np.array([1 if r["answer"].strip().lower() == "yes" else 0 for r in recs])
    return x, y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data_out", help="folder of `edt data build`")
    ap.add_argument("--out", default=str(RESULTS / "bbbp_specialist.json"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--encoders",
        default="minimol",
        help="the frozen streams the bridge reads, e.g. minimol,rdkit",
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = [n.strip() for n in args.encoders.split(",") if n.strip()]
    caches = [NodeFeatureCache(cache_root() / "features", get_encoder(n)) for n in names]
    data = Path(args.data)
    (xtr, ytr), (xva, yva), (xte, yte) = (
        split_xy(caches, data, s) for s in ("train", "valid", "test")
    )
    scaler = StandardScaler().fit(xtr)
    xtr, xva, xte = scaler.transform(xtr), scaler.transform(xva), scaler.transform(xte)
    valid_auc = {}
    for c in (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0):
        clf = LogisticRegression(C=c, max_iter=3000, random_state=args.seed).fit(xtr, ytr)
        valid_auc[c] = float(roc_auc_score(yva, clf.predict_proba(xva)[:, 1]))
    best = max(valid_auc, key=lambda c: valid_auc[c])
    clf = LogisticRegression(C=best, max_iter=3000, random_state=args.seed).fit(xtr, ytr)
    p = clf.predict_proba(xte)[:, 1]
    result = {
        "model": f"logistic regression on the node features of {', '.join(names)} (mean + max "
        "pooled per stream), frozen encoders",
        "encoders": names,
        "data": f"{data} bbbp (B3DB), scaffold split; C chosen on valid, test scored once",
        "seed": args.seed,
        "n": {"train": len(ytr), "valid": len(yva), "test": len(yte)},
        "valid_roc_auc_by_C": valid_auc,
        "C": best,
        "test_roc_auc": float(roc_auc_score(yte, p)),
        "test_accuracy": float(((p >= 0.5) == yte).mean()),
        "machine": platform.machine(),
    }
    atomic_write_json(Path(args.out), result)
    print(json.dumps({k: result[k] for k in ("C", "test_roc_auc", "test_accuracy")}))


if __name__ == "__main__":
    main()

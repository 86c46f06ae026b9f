"""What do the connectors' tokens carry? A probe of structure, stereo and properties, without the LLM.

``edt bench`` asks the question end to end (frozen SmolLM2 reading the tokens), which on a CPU
budget mostly measures how fast a 135M LLM learns to read soft tokens at all. This benchmark
isolates the bridge: every connector (full EDT with ``combine`` patches, entropy-only,
BRICS-only, anchors-only, dynamic-only, MLP, and EDT without the stereo embedding) is trained
from scratch under one budget, with the *same* small transformer readout in place of the LLM,
to predict facts of each molecule from its tokens. Two settings (``--setting``):

``default`` (writes ``bridge_probe.*``): RDKit facts of the ``struct_mc`` / ``stereo`` molecules

- structure: number of rings, aromatic rings, H-bond donors (classes, clipped), and the
  presence of each of the 31 functional groups of :data:`edtformer.facts.dataset.FUNCTIONAL_GROUPS`
  (multi-label, micro-F1);
- stereo: number of specified stereocentres, number of R and of S centres (clipped), and the
  CIP label of the first specified stereocentre in atom order (binary; only molecules with one).

``learn`` (writes ``bridge_probe_learn.*``): the question kinds of the LLM ablation table of the
learnable setting (``recipes/ablation.yaml``, ``edt bench --budget learn``)

- ring, aromatic-ring, H-bond donor, H-bond acceptor and specified-stereocentre counts (exact
  class accuracy; classes ``0 .. K-1``, the last one "K-1 or more", see :data:`LEARN_HEADS`);
- functional-group yes/no: balanced accuracy per group, averaged over the groups with both
  answers among the test molecules (trained with a per-group positive weight ``n_no / n_yes``,
  the probe's counterpart of the recipe's ``P(yes | group) = 1/2`` stream);
- BBBP (binary, ROC-AUC) on the molecules of the built ``bbbp`` task;
- aqueous solubility log S (regression, MAE and Spearman) on the built ``solubility`` task.

  Structure molecules carry only the structure labels and property molecules only their property
  (every other loss is masked for them). Each step's batch is drawn from the three pools in the
  recipe's kind weights: 12 % BBBP, 16 % solubility, the rest structure molecules (at batch 32:
  4 + 5 + 23). Same-stereoisomer pairs are not probed (a pair is two molecules; the probe
  reads one).

Molecules: train split for training and scaffold-disjoint test split for scoring, up to
``--n-train`` / ``--n-test`` per source (a seeded sample; only those with cached features of the
pretrained encoders unless ``--encode-missing``). The frozen encoder streams are ``--encoders``
(default ``minimol,rdkit_atoms``: MiniMol node features fused with the per-atom RDKit
descriptors, the learnable setting's streams; ``--encoders minimol`` is the earlier probe); the
bridge is the ``smol`` preset (width 256, 4 layers, 8 anchors, <= 24 dynamic tokens, LLM width
576). Each connector x seed trains ``--steps`` steps of AdamW (lr ``--lr``, batch
``--batch-size``). A "majority class" row gives the floor (the train split's most frequent
answer, per functional group; the train mean for log S; a constant BBBP score, AUC 0.5).

    python benchmarks/bridge_probe.py --data data_out --seeds 0,1 --threads 1
    python benchmarks/bridge_probe.py --setting learn --data data_out --seeds 0,1 --threads 1
    # writes benchmarks/results/bridge_probe[_learn].{json,md,png}; finished runs are kept in
    # benchmarks/results/bridge_probe_runs/[learn/] and reused by the next call with the same
    # settings (encoders included)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from edtformer.bridge import bridge_preset, build_connector
from edtformer.chem import MolRecord, parse_smiles
from edtformer.data import load_task
from edtformer.errors import EdtError
from edtformer.evaluation.classification import roc_auc
from edtformer.evaluation.regression import spearman
from edtformer.facts.dataset import FUNCTIONAL_GROUPS, molecule_facts
from edtformer.llm.loading import cache_root
from edtformer.model.processing import MoleculeProcessor, build_processor
from edtformer.training.precision import cpu_name
from edtformer.utils.io import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
LLM_WIDTH = 576  # SmolLM2-135M's hidden size: the connectors project to it as in edt bench
DEFAULT_ENCODERS = "minimol,rdkit_atoms"  # the learnable setting's per-atom streams

#: (name, connector, patch partition used: "combine" | "entropy" | "brics" | None, stereo emb.)
VARIANTS: tuple[tuple[str, str, str | None, bool], ...] = (
    ("full", "edt", "combine", True),
    ("entropy_only", "edt", "entropy", True),
    ("brics_only", "edt", "brics", True),
    ("anchors_only", "anchors_only", None, True),
    ("dynamic_only", "dynamic_only", "combine", True),
    ("mlp", "mlp", None, True),
    ("no_stereo_emb", "edt", "combine", False),
)

#: Multi-class heads: (name, fact key or derived, number of classes; the last class is "k or more").
CLASS_HEADS: tuple[tuple[str, int], ...] = (
    ("n_rings", 7),
    ("n_aromatic_rings", 5),
    ("hbd", 6),
    ("n_stereocentres", 6),
    ("n_R", 5),
    ("n_S", 5),
    ("first_centre_R", 2),
)
STRUCTURE = ("n_rings", "n_aromatic_rings", "hbd", "groups")
STEREO = ("n_stereocentres", "n_R", "n_S", "first_centre_R")
GROUPS = tuple(FUNCTIONAL_GROUPS)

#: The count heads of the learnable setting (the LLM table's count kinds), wider than the default
#: ones so that few answers are clipped (on data_out's train molecules: rings 1 %, aromatic rings
#: 0.5 %, donors 3 %, acceptors 2 % and stereocentres < 1 % fall in the last, "or more" class).
LEARN_HEADS: tuple[tuple[str, int], ...] = (
    ("n_rings", 11),
    ("n_aromatic_rings", 7),
    ("hbd", 11),
    ("hba", 16),
    ("n_stereocentres", 9),
)
#: Share of each step's batch drawn from the BBBP and solubility molecules (the recipe's kind
#: weights, ``recipes/ablation.yaml``); the rest are structure molecules.
PROPERTY_SHARES: dict[str, float] = {"bbbp": 0.12, "solubility": 0.16}


@dataclass(frozen=True)
class Setting:
    """What a run predicts and where its results go."""

    name: str
    heads: tuple[tuple[str, int], ...]
    properties: bool
    """BBBP and solubility heads, trained and scored on their own molecules."""
    stem: str
    """Output files ``<out>/<stem>.{json,md,png}``."""
    columns: tuple[str, ...]
    headers: tuple[str, ...]

    @property
    def runs_subdir(self) -> str:
        """Finished runs' folder under ``<out>/bridge_probe_runs``."""
        return "" if self.name == "default" else self.name


DEFAULT = Setting(
    "default",
    CLASS_HEADS,
    False,
    "bridge_probe",
    ("structure", "stereo", *STRUCTURE, *STEREO),
    ("structure", "stereo", *STRUCTURE, *STEREO),
)
LEARN = Setting(
    "learn",
    LEARN_HEADS,
    True,
    "bridge_probe_learn",
    (
        "counts", "n_rings", "n_aromatic_rings", "hbd", "hba", "n_stereocentres",
        "group_bal_acc", "bbbp_auc", "logs_mae", "logs_spearman",
    ),
    (
        "counts exact", "rings", "arom. rings", "donors", "acceptors", "stereocentres",
        "group yes/no bal. acc", "BBBP AUC", "log S MAE", "log S Spearman",
    ),
)  # fmt: skip
SETTINGS: dict[str, Setting] = {s.name: s for s in (DEFAULT, LEARN)}


@dataclass
class Molecules:
    """Per-molecule inputs and labels of one split.

    Structure molecules have ``labels`` and ``groups``; property molecules (learn setting) only
    their ``bbbp`` or ``logs`` value. Undefined labels are ``-1`` (classes) or NaN.
    """

    feats: list[Tensor]  # [n_i, sum(widths)] each: the encoder streams side by side
    patches: list[Tensor]  # [2, n_i] each: entropy patches, BRICS fragments
    stereo: list[Tensor]  # [n_i, C] each: stereo codes (C = 3: chirality, E/Z, CIP)
    labels: Tensor  # int64 [M, n heads], -1 where undefined
    groups: Tensor  # float [M, len(GROUPS)], NaN rows for property molecules
    bbbp: Tensor | None = None  # float [M]: 1 crosses the BBB, 0 not, NaN undefined
    logs: Tensor | None = None  # float [M]: aqueous solubility log S, NaN undefined
    widths: tuple[int, ...] = ()  # encoder stream widths (empty: one stream)

    def __len__(self) -> int:
        return len(self.feats)

    def stream_widths(self) -> tuple[int, ...]:
        """Width of each encoder stream."""
        return self.widths or (int(self.feats[0].shape[1]),)

    def pool(self, kind: str) -> list[int]:
        """Rows of the ``structure``, ``bbbp`` or ``solubility`` molecules."""
        if kind == "structure":
            mask = torch.isfinite(self.groups[:, 0])
        else:
            values = self.bbbp if kind == "bbbp" else self.logs
            if values is None:
                return []
            mask = torch.isfinite(values)
        return torch.nonzero(mask).flatten().tolist()

    @staticmethod
    def concat(parts: Sequence[Molecules]) -> Molecules:
        """One set of the molecules of ``parts`` (in order)."""
        return Molecules(
            [f for p in parts for f in p.feats],
            [x for p in parts for x in p.patches],
            [s for p in parts for s in p.stereo],
            torch.cat([p.labels for p in parts]),
            torch.cat([p.groups for p in parts]),
            torch.cat([_or_nan(p.bbbp, len(p)) for p in parts]),
            torch.cat([_or_nan(p.logs, len(p)) for p in parts]),
            parts[0].widths,
        )


def _or_nan(values: Tensor | None, n: int) -> Tensor:
    return torch.full((n,), math.nan) if values is None else values


def labels_of(
    record: MolRecord, heads: Sequence[tuple[str, int]] = CLASS_HEADS
) -> tuple[list[int], list[float]]:
    """Class labels (``-1``: not defined) and functional-group presence of one molecule."""
    facts = molecule_facts(record.mol)
    centres = [lab for _, lab in facts["stereocentres"] if lab in ("R", "S")]
    values = {
        "n_rings": facts["n_rings"],
        "n_aromatic_rings": facts["n_aromatic_rings"],
        "hbd": facts["hbd"],
        "hba": facts["hba"],
        "n_stereocentres": facts["n_stereocentres"],
        "n_R": centres.count("R"),
        "n_S": centres.count("S"),
        "first_centre_R": (1 if centres[0] == "R" else 0) if centres else -1,
    }
    labels = []
    for name, n_classes in heads:
        v = values[name]
        labels.append(-1 if v < 0 else min(int(v), n_classes - 1))
    groups = [1.0 if g in facts["functional_groups"] else 0.0 for g in GROUPS]
    return labels, groups


def split_smiles(data: Path, split: str) -> list[str]:
    """Unique molecules of the struct_mc and stereo tasks of one split, in file order."""
    seen: dict[str, None] = {}
    for task in ("struct_mc", "stereo"):
        for record in load_task(data, task, split):
            for s in record["smiles"]:
                seen.setdefault(s, None)
    return list(seen)


def property_values(data: Path, task: str, split: str) -> dict[str, float]:
    """SMILES -> label of the ``bbbp`` (1 yes / 0 no) or ``solubility`` (log S) task of a split."""
    out: dict[str, float] = {}
    for record in load_task(data, task, split):
        answer = str(record["answer"]).strip().lower()
        value = float(answer == "yes") if task == "bbbp" else float(answer)
        out.setdefault(record["smiles"][0], value)
    return out


def make_processor(encoders: Sequence[str]) -> MoleculeProcessor:
    """The frozen encoder streams (read through the feature cache) + ``combine`` patches."""
    processor, rule = build_processor(list(encoders), "combine", True, cache_root() / "features")
    if rule != "combine":
        raise EdtError(f"the probe needs the entropy model for its patches (got rule {rule!r})")
    return processor


def sample_records(
    smiles: Sequence[str],
    limit: int,
    processor: MoleculeProcessor,
    encode_missing: bool,
    seed: int = 0,
) -> tuple[list[MolRecord], int]:
    """Up to ``limit`` parsed molecules of ``smiles`` (seeded order); pretrained encoders' features
    must be cached unless ``encode_missing``. Returns ``(records, skipped)``."""
    caches = [
        e.cache for e in processor.encoders if e.info.pretrained and hasattr(e, "cache")
    ]  # pretrained encoders are slow (or need weights): only their cache is required
    order = np.random.default_rng(seed).permutation(len(smiles))
    records: list[MolRecord] = []
    skipped = 0
    for i in order:
        if len(records) >= limit:
            break
        try:
            rec = parse_smiles(smiles[int(i)])
        except EdtError:
            skipped += 1
            continue
        # an existence test: the processor below reads (and validates) each entry once
        if not encode_missing and not all(c.path(rec.canonical_smiles).is_file() for c in caches):
            skipped += 1
            continue
        records.append(rec)
    return records, skipped


def featurise(
    records: Sequence[MolRecord],
    processor: MoleculeProcessor,
    heads: Sequence[tuple[str, int]],
    structure: bool,
    desc: str,
) -> Molecules:
    """Encoder streams, patches, stereo codes and (``structure``) labels of ``records``."""
    feats, patches, stereo, labels, groups = [], [], [], [], []
    for start in tqdm(range(0, len(records), 256), desc=desc, unit="batch"):
        chunk = records[start : start + 256]
        batch = processor(chunk)
        for m, rec in enumerate(chunk):
            n = rec.n_atoms
            feats.append(torch.cat([h[m, :n] for h in batch.node_feats], dim=-1).clone())
            assert batch.patch_ids is not None
            patches.append(batch.patch_ids[m, :, :n].clone())
            assert batch.stereo is not None
            stereo.append(batch.stereo[m, :n].clone())
            if structure:
                lab, grp = labels_of(rec, heads)
            else:
                lab, grp = [-1] * len(heads), [math.nan] * len(GROUPS)
            labels.append(lab)
            groups.append(grp)
    return Molecules(
        feats,
        patches,
        stereo,
        torch.tensor(labels, dtype=torch.long).reshape(len(records), len(heads)),
        torch.tensor(groups, dtype=torch.float).reshape(len(records), len(GROUPS)),
        widths=processor.widths,
    )


def load_split(
    data: Path,
    split: str,
    limit: int,
    encode_missing: bool,
    seed: int = 0,
    encoders: Sequence[str] = ("minimol",),
    setting: Setting = DEFAULT,
) -> tuple[Molecules, dict[str, int]]:
    """Featurise up to ``limit`` molecules per source of ``split``.

    Returns ``(molecules, counts)``: counts of used and skipped molecules per source
    (``structure`` and, in the learn setting, ``bbbp`` and ``solubility``)."""
    processor = make_processor(encoders)
    records, skipped = sample_records(
        split_smiles(data, split), limit, processor, encode_missing, seed
    )
    parts = [featurise(records, processor, setting.heads, True, f"featurise {split}")]
    counts = {"structure": len(records), "structure_skipped": skipped}
    if setting.properties:
        for task in ("bbbp", "solubility"):
            values = property_values(data, task, split)
            recs, skipped = sample_records(list(values), limit, processor, encode_missing, seed)
            mols = featurise(recs, processor, setting.heads, False, f"featurise {split} {task}")
            y = torch.tensor([values[r.smiles] for r in recs], dtype=torch.float)
            if task == "bbbp":
                mols.bbbp = y
            else:
                mols.logs = y
            parts.append(mols)
            counts |= {task: len(recs), f"{task}_skipped": skipped}
    return Molecules.concat(parts) if setting.properties else parts[0], counts


def collate(
    mols: Molecules, idx: Sequence[int], partition: str | None
) -> tuple[list[Tensor], Tensor, Tensor | None, Tensor]:
    """Pad molecules ``idx`` into connector inputs ``(streams, node_mask, patch_ids, stereo)``."""
    n_max = max(mols.feats[i].shape[0] for i in idx)
    b = len(idx)
    x = torch.zeros(b, n_max, mols.feats[idx[0]].shape[1])
    mask = torch.zeros(b, n_max, dtype=torch.bool)
    parts = {"combine": [0, 1], "entropy": [0], "brics": [1]}.get(partition or "", [0])
    pid = torch.full((b, len(parts), n_max), -1, dtype=torch.long)
    st = torch.zeros(b, n_max, mols.stereo[idx[0]].shape[1], dtype=torch.long)
    for k, i in enumerate(idx):
        n = mols.feats[i].shape[0]
        x[k, :n] = mols.feats[i]
        mask[k, :n] = True
        pid[k, :, :n] = mols.patches[i][parts]
        st[k, :n] = mols.stereo[i]
    streams = [s.contiguous() for s in torch.split(x, list(mols.stream_widths()), dim=-1)]
    return streams, mask, (pid if partition else None), st


class Probe(nn.Module):
    """Connector + a fixed small readout (1 transformer layer over the tokens and a CLS slot).

    Shapes: tokens ``[B, Q, 576]`` -> CLS state ``[B, 128]`` -> logits of every head
    ``[B, sum classes + groups (+ BBBP logit, standardised log S)]``.
    """

    def __init__(
        self,
        connector: str,
        stereo_embedding: bool,
        readout: int = 128,
        encoder_widths: Sequence[int] = (512,),
        heads: Sequence[tuple[str, int]] = CLASS_HEADS,
        properties: bool = False,
    ) -> None:
        super().__init__()
        cfg = bridge_preset(
            "smol",
            connector=connector,
            encoder_widths=tuple(encoder_widths),
            llm_width=LLM_WIDTH,
            stereo_embedding=stereo_embedding,
        )
        self.connector = build_connector(cfg)
        self.inp = nn.Linear(LLM_WIDTH, readout)
        self.cls = nn.Parameter(torch.zeros(1, 1, readout))
        self.layer = nn.TransformerEncoderLayer(
            readout, 4, 2 * readout, dropout=0.0, batch_first=True, norm_first=True
        )
        self.norm = nn.LayerNorm(readout)
        n_out = sum(c for _, c in heads) + len(GROUPS) + (2 if properties else 0)
        self.heads = nn.Linear(readout, n_out)

    def forward(
        self, streams: list[Tensor], mask: Tensor, patch_ids: Tensor | None, stereo: Tensor
    ) -> Tensor:
        out = self.connector(streams, mask, patch_ids, stereo)
        tok = self.inp(out.tokens)  # [B, Q, R]
        b = tok.shape[0]
        x = torch.cat([self.cls.expand(b, -1, -1), tok], dim=1)  # [B, 1+Q, R]
        keep = torch.cat([torch.ones(b, 1, dtype=torch.bool), out.mask], dim=1)
        h = self.layer(x, src_key_padding_mask=~keep)[:, 0]  # [B, R]
        return self.heads(self.norm(h))  # [B, n_out]


def loss_and_preds(
    logits: Tensor,
    labels: Tensor,
    groups: Tensor,
    heads: Sequence[tuple[str, int]] = CLASS_HEADS,
    pos_weight: Tensor | None = None,
    bbbp: Tensor | None = None,
    logs: Tensor | None = None,
    logs_norm: tuple[float, float] = (0.0, 1.0),
) -> tuple[Tensor, list[Tensor]]:
    """Summed losses of every head (undefined labels skipped) and per-head predictions.

    Losses: cross-entropy per class head, binary cross-entropy over the functional groups
    (``pos_weight`` per group), and with ``bbbp`` / ``logs`` given (the property heads: the last
    two logits) binary cross-entropy and the squared error of the standardised log S
    (``logs_norm`` = train mean, std). Predictions: class per head, groups 0/1, then the BBBP
    logit and log S in its own units.
    """
    total = logits.new_zeros(())
    preds: list[Tensor] = []
    start = 0
    for k, (_, c) in enumerate(heads):
        part = logits[:, start : start + c]
        y = labels[:, k]
        ok = y >= 0
        if bool(ok.any()):
            total = total + nn.functional.cross_entropy(part[ok], y[ok])
        preds.append(part.argmax(dim=1))
        start += c
    g = logits[:, start : start + len(GROUPS)]
    ok = torch.isfinite(groups[:, 0])
    if bool(ok.any()):
        total = total + nn.functional.binary_cross_entropy_with_logits(
            g[ok], groups[ok], pos_weight=pos_weight
        )
    preds.append((g > 0).float())
    start += len(GROUPS)
    if bbbp is not None and logs is not None:
        b_logit, s_pred = logits[:, start], logits[:, start + 1]
        ok = torch.isfinite(bbbp)
        if bool(ok.any()):
            total = total + nn.functional.binary_cross_entropy_with_logits(b_logit[ok], bbbp[ok])
        mean, std = logs_norm
        ok = torch.isfinite(logs)
        if bool(ok.any()):
            total = total + nn.functional.mse_loss(s_pred[ok], (logs[ok] - mean) / std)
        preds += [b_logit, s_pred * std + mean]
    return total, preds


def group_balanced_accuracy(pred: Tensor, truth: Tensor) -> Tensor:
    """Balanced accuracy (mean of the recalls of "yes" and "no") of each column of 0/1
    ``[M, G]`` predictions, float ``[G]``; NaN for a group with only one answer in ``truth``."""
    pos = truth.sum(0)
    neg = (1 - truth).sum(0)
    tpr = (pred * truth).sum(0) / pos.clamp_min(1.0)
    tnr = ((1 - pred) * (1 - truth)).sum(0) / neg.clamp_min(1.0)
    return torch.where((pos > 0) & (neg > 0), (tpr + tnr) / 2, math.nan)


def score(
    preds: list[Tensor],
    labels: Tensor,
    groups: Tensor,
    heads: Sequence[tuple[str, int]] = CLASS_HEADS,
    bbbp: Tensor | None = None,
    logs: Tensor | None = None,
    balanced_groups: bool = False,
) -> dict[str, float]:
    """Accuracy per class head (defined labels only) and the functional groups' micro-F1 (or,
    with ``balanced_groups``, their per-group balanced accuracy, averaged over the groups with
    both answers present); with ``bbbp`` / ``logs`` also BBBP ROC-AUC and log S MAE and
    Spearman (on the molecules that have them)."""
    out: dict[str, float] = {}
    for k, (name, _) in enumerate(heads):
        ok = labels[:, k] >= 0
        out[name] = float((preds[k][ok] == labels[ok, k]).float().mean()) if ok.any() else math.nan
    rows = torch.isfinite(groups[:, 0])
    p, y = preds[len(heads)][rows], groups[rows]
    if balanced_groups:
        per = group_balanced_accuracy(p, y)
        per = per[~torch.isnan(per)]
        out["group_bal_acc"] = float(per.mean()) if len(per) else math.nan
        out["counts"] = statistics.fmean(out[name] for name, _ in heads)
    else:
        tp = float((p * y).sum())
        fp = float((p * (1 - y)).sum())
        fn = float(((1 - p) * y).sum())
        out["groups"] = 2 * tp / max(2 * tp + fp + fn, 1.0)
    if all(k in out for k in STRUCTURE) and all(k in out for k in STEREO):
        out["structure"] = statistics.fmean(out[k] for k in STRUCTURE)
        out["stereo"] = statistics.fmean(out[k] for k in STEREO)
    if bbbp is not None and logs is not None:
        b_score, s_pred = preds[len(heads) + 1], preds[len(heads) + 2]
        ok = torch.isfinite(bbbp)
        out["bbbp_auc"] = (
            roc_auc(bbbp[ok].long().numpy(), b_score[ok].numpy()) if ok.any() else math.nan
        )
        ok = torch.isfinite(logs)
        if ok.any():
            out["logs_mae"] = float((s_pred[ok] - logs[ok]).abs().mean())
            out["logs_spearman"] = spearman(s_pred[ok].numpy(), logs[ok].numpy())
        else:
            out["logs_mae"] = out["logs_spearman"] = math.nan
    return out


def score_setting(preds: list[Tensor], mols: Molecules, setting: Setting) -> dict[str, float]:
    """:func:`score` of ``preds`` on ``mols`` with the setting's heads and metrics."""
    if not setting.properties:
        return score(preds, mols.labels, mols.groups, setting.heads)
    return score(
        preds, mols.labels, mols.groups, setting.heads, mols.bbbp, mols.logs, balanced_groups=True
    )


def majority(train: Molecules, test: Molecules, setting: Setting = DEFAULT) -> dict[str, float]:
    """The floor: each head predicts the train split's most frequent answer (per group; log S:
    the train mean; BBBP: one constant score)."""
    preds: list[Tensor] = []
    for k, (_, c) in enumerate(setting.heads):
        y = train.labels[:, k]
        mode = int(torch.bincount(y[y >= 0], minlength=c).argmax())
        preds.append(torch.full((len(test),), mode))
    rows = torch.isfinite(train.groups[:, 0])
    preds.append((train.groups[rows].mean(0) > 0.5).float().expand(len(test), -1))
    if setting.properties:
        assert train.logs is not None
        mean = float(train.logs[torch.isfinite(train.logs)].mean())
        preds += [torch.zeros(len(test)), torch.full((len(test),), mean)]
    return score_setting(preds, test, setting)


def _property_targets(mols: Molecules, idx: Sequence[int]) -> tuple[Tensor | None, Tensor | None]:
    """BBBP and log S labels of rows ``idx`` (NaN: undefined), or ``(None, None)`` without them."""
    if mols.bbbp is None or mols.logs is None:
        return None, None
    return mols.bbbp[list(idx)], mols.logs[list(idx)]


def run_variant(
    variant: tuple[str, str, str | None, bool],
    seed: int,
    train: Molecules,
    test: Molecules,
    steps: int,
    batch_size: int,
    lr: float,
    setting: Setting = DEFAULT,
) -> dict[str, float]:
    """Train one connector + readout from scratch and score it on the test molecules."""
    name, connector, partition, stereo_emb = variant
    t_run = time.perf_counter()
    torch.manual_seed(seed)
    model = Probe(
        connector,
        stereo_emb,
        encoder_widths=train.stream_widths(),
        heads=setting.heads,
        properties=setting.properties,
    )
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    pos_weight: Tensor | None = None
    logs_norm = (0.0, 1.0)
    pools: list[tuple[list[int], int]] = []
    if setting.properties:
        assert train.logs is not None
        struct = train.pool("structure")
        y = train.groups[struct]
        pos = y.sum(0)
        # P(yes | group) = 1/2 in the loss, as the recipe's balanced has_group stream
        pos_weight = torch.where(
            pos > 0, ((len(struct) - pos) / pos.clamp_min(1.0)).clamp(0.01, 100.0), 1.0
        )
        y_logs = train.logs[torch.isfinite(train.logs)]
        logs_norm = (float(y_logs.mean()), float(y_logs.std()) or 1.0)
        n_prop = {k: round(share * batch_size) for k, share in PROPERTY_SHARES.items()}
        pools = [
            (train.pool("bbbp"), n_prop["bbbp"]),
            (train.pool("solubility"), n_prop["solubility"]),
            (struct, batch_size - sum(n_prop.values())),
        ]
    t0 = time.perf_counter()
    model.train()
    for _ in tqdm(range(steps), desc=f"{name} seed {seed}", unit="step", leave=False):
        if pools:
            idx = [
                int(i)
                for pool, k in pools
                if k > 0 and pool
                for i in rng.choice(pool, k, replace=len(pool) < k)
            ]
        else:
            idx = rng.choice(len(train), batch_size, replace=False).tolist()
        logits = model(*collate(train, idx, partition))
        loss, _ = loss_and_preds(
            logits,
            train.labels[idx],
            train.groups[idx],
            setting.heads,
            pos_weight,
            *_property_targets(train, idx),
            logs_norm,
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    train_s = time.perf_counter() - t0
    model.eval()
    chunks: list[list[Tensor]] = []
    with torch.no_grad():
        for start in range(0, len(test), 256):
            idx = list(range(start, min(start + 256, len(test))))
            _, preds = loss_and_preds(
                model(*collate(test, idx, partition)),
                test.labels[idx],
                test.groups[idx],
                setting.heads,
                None,
                *_property_targets(test, idx),
                logs_norm,
            )
            chunks.append(preds)
    preds = [torch.cat([c[k] for c in chunks]) for k in range(len(chunks[0]))]
    result = score_setting(preds, test, setting)
    result["train_seconds"] = train_s
    result["run_seconds"] = time.perf_counter() - t_run
    result["final_loss"] = float(loss.detach())
    return result


def _cell(vals: Sequence[float], n_runs: int, digits: int = 3) -> str:
    vals = [v for v in vals if not math.isnan(v)]
    if not vals:
        return "—"
    m = statistics.fmean(vals)
    if n_runs == 1:
        return f"{m:.{digits}f}"
    s = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def table(
    rows: dict[str, list[dict[str, float]]], meta: dict[str, Any], setting: Setting = DEFAULT
) -> str:
    """Markdown: mean ± sample std over seeds of every metric."""
    enc = meta.get("encoders", "minimol")
    streams = " + ".join(f"{e} (frozen)" for e in str(enc).split(","))
    if setting.properties:
        n = meta["n"]
        lines = [
            "# Bridge probe, learnable setting: the LLM ablation table's questions, without the LLM",
            "",
            f"{streams} -> `smol` connector -> 1-layer readout, trained from scratch per run: "
            f"{meta['steps']} steps x batch {meta['batch_size']} (per batch "
            f"{meta['batch_mix']}), AdamW lr {meta['lr']}, seeds {meta['seeds']}. Train "
            f"molecules: {n['train']['structure']} structure (`struct_mc` + `stereo`), "
            f"{n['train']['bbbp']} BBBP, {n['train']['solubility']} solubility; scored on the "
            f"scaffold test split: {n['test']['structure']} structure, {n['test']['bbbp']} BBBP, "
            f"{n['test']['solubility']} solubility molecules. Each molecule carries only its own "
            "source's targets (the other losses are masked).",
            "",
            "Cells: mean ± sample std over seeds. Counts: exact class accuracy (classes "
            f"{meta['classes']}, the last one meaning 'or more'); `counts exact`: their mean. "
            "Group yes/no: balanced accuracy per functional group (the loss weights each group "
            "to P(yes) = 1/2), averaged over the groups with both answers among the test "
            "molecules. BBBP: ROC-AUC. log S: MAE (log mol/L) and Spearman. Floor row: the "
            "train split's most frequent answer per head and group, a constant BBBP score and "
            "the train mean log S (Spearman undefined: —). Same-stereoisomer pairs are not "
            "probed. Rows are the LLM table's connectors; `entropy_only` uses the entropy "
            "partition of the `combine` patches. `train s`: training time, `run s`: wall time "
            "of the run (training + scoring), means over seeds.",
            "",
            f"Machine: {meta['machine']}, shared with other jobs (niced). Sum of the runs' wall "
            f"times {meta['runs_minutes']:.1f} min; this call {meta['wall_minutes']:.1f} min"
            f"{' (finished runs reused)' if meta.get('reused') else ''}, featurisation included.",
            "",
        ]
    else:
        lines = [
            "# Bridge probe: what the connectors' tokens carry (no LLM)",
            "",
            f"{streams} -> `smol` connector -> 1-layer readout; {meta['steps']} steps x batch "
            f"{meta['batch_size']}, AdamW lr {meta['lr']}, seeds {meta['seeds']}; trained on "
            f"{meta['n_train']} train-split molecules, scored on {meta['n_test']} scaffold-test "
            f"molecules ({meta['n_test_stereo']} with a specified stereocentre). Cells: test "
            "accuracy (groups: micro-F1), mean ± std over seeds. `structure` / `stereo`: means of "
            f"their columns. {meta['machine']}.",
            "",
        ]
    lines += [
        "| variant | " + " | ".join(setting.headers) + " | train s | run s |",
        "|---|" + "---|" * (len(setting.columns) + 2),
    ]
    for name, runs in rows.items():
        cells = [_cell([r.get(c, math.nan) for r in runs], len(runs)) for c in setting.columns]
        secs = statistics.fmean(r.get("train_seconds", 0.0) for r in runs)
        wall = statistics.fmean(r.get("run_seconds", 0.0) for r in runs)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {secs:.0f} | {wall:.0f} |")
    return "\n".join(lines) + "\n"


def plot(rows: dict[str, list[dict[str, float]]], path: Path, setting: Setting = DEFAULT) -> None:
    """Bar chart of the headline metrics with seed std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = (
        ("counts", "group_bal_acc", "bbbp_auc", "logs_spearman")
        if setting.properties
        else ("structure", "stereo")
    )
    names = list(rows)
    width = 0.8 / len(cols)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    for k, col in enumerate(cols):
        vals = [[r[col] for r in rows[n] if not math.isnan(r.get(col, math.nan))] for n in names]
        ms = [statistics.fmean(v) if v else math.nan for v in vals]
        ss = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in vals]
        x = np.arange(len(names)) + (k - (len(cols) - 1) / 2) * width
        ax.bar(x, ms, width, yerr=ss, capsize=3, label=col)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("test score (accuracy / AUC / Spearman)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, ncols=len(cols))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _json_safe(row: dict[str, float]) -> dict[str, float | None]:
    """NaN (an undefined metric) as ``null``: JSON has no NaN."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}


def _from_json(row: dict[str, float | None]) -> dict[str, float]:
    return {k: (math.nan if v is None else v) for k, v in row.items()}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--setting", choices=sorted(SETTINGS), default="default")
    ap.add_argument("--data", default="data_out", help="folder from `edt data build`")
    ap.add_argument(
        "--encoders",
        default=DEFAULT_ENCODERS,
        help="frozen encoder streams, comma-separated (`minimol` alone: the earlier probe)",
    )
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--variants", help="comma-separated subset (default all)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--n-train", type=int, default=6000, help="train molecules per source")
    ap.add_argument("--n-test", type=int, default=1500, help="test molecules per source")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--encode-missing", action="store_true", help="run MiniMol on uncached mols")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    setting = SETTINGS[args.setting]
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    wanted = args.variants.split(",") if args.variants else [v[0] for v in VARIANTS]
    unknown = sorted(set(wanted) - {v[0] for v in VARIANTS})
    if unknown:
        ap.error(f"unknown variant(s) {unknown}")
    data = Path(args.data)
    train, n_tr = load_split(
        data, "train", args.n_train, args.encode_missing, encoders=encoders, setting=setting
    )
    test, n_te = load_split(
        data, "test", args.n_test, args.encode_missing, encoders=encoders, setting=setting
    )
    print(f"train {n_tr}\ntest {n_te}  (skipped: uncached or unparseable)")
    rows: dict[str, list[dict[str, float]]] = {"majority class": [majority(train, test, setting)]}
    settings = {
        k: getattr(args, k)
        for k in ("setting", "steps", "batch_size", "lr", "n_train", "n_test", "data")
    } | {"encoders": encoders, "n_used": {"train": n_tr, "test": n_te}}
    runs_dir = args.out / "bridge_probe_runs" / setting.runs_subdir
    runs_dir.mkdir(parents=True, exist_ok=True)
    reused_any = False
    for variant in VARIANTS:
        if variant[0] not in wanted:
            continue
        rows[variant[0]] = []
        for seed in seeds:
            # finished runs are kept (same settings only, encoders included), so two processes
            # can split the variants and a last call with all of them writes the table
            done = runs_dir / f"{variant[0]}_seed{seed}.json"
            saved = json.loads(done.read_text()) if done.is_file() else None
            if saved is not None and saved["settings"] == json.loads(json.dumps(settings)):
                r = _from_json(saved["result"])
                reused = " (reused)"
                reused_any = True
            else:
                r = run_variant(
                    variant, seed, train, test, args.steps, args.batch_size, args.lr, setting
                )
                atomic_write_json(done, {"settings": settings, "result": _json_safe(r)})
                reused = ""
            rows[variant[0]].append(r)
            shown = ", ".join(f"{c} {r.get(c, math.nan):.3f}" for c in setting.columns[:2])
            secs = r.get("run_seconds", math.nan)
            print(f"{variant[0]} seed {seed}: {shown} ({secs:.0f} s){reused}", flush=True)
    meta: dict[str, Any] = {
        "setting": setting.name, "encoders": ",".join(encoders), "steps": args.steps,
        "batch_size": args.batch_size, "lr": args.lr, "seeds": seeds,
        "n_train": len(train), "n_test": len(test), "n": {"train": n_tr, "test": n_te},
        "n_test_stereo": int((test.labels[:, [h for h, _ in setting.heads].index(
            "n_stereocentres")] > 0).sum()),
        "classes": ", ".join(f"{h} 0-{c - 1}" for h, c in setting.heads),
        "cpu": cpu_name(),
        "machine": f"{cpu_name()}, torch {torch.__version__}, {args.threads} thread(s)",
        "wall_minutes": (time.perf_counter() - t_start) / 60, "reused": reused_any,
        "runs_minutes": sum(r.get("run_seconds", 0.0) for v in rows.values() for r in v) / 60,
    }  # fmt: skip
    if setting.properties:
        n_prop = {k: round(s * args.batch_size) for k, s in PROPERTY_SHARES.items()}
        meta["batch_mix"] = (
            f"{args.batch_size - sum(n_prop.values())} structure + {n_prop['bbbp']} BBBP + "
            f"{n_prop['solubility']} solubility molecules"
        )
    rows_json = {k: [_json_safe(r) for r in v] for k, v in rows.items()}
    out = args.out / setting.stem
    atomic_write_json(out.with_suffix(".json"), {"meta": meta, "rows": rows_json})
    atomic_write_text(out.with_suffix(".md"), table(rows, meta, setting))
    plot(rows, out.with_suffix(".png"), setting)
    print(table(rows, meta, setting))


if __name__ == "__main__":
    main()

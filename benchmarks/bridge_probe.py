"""What do the connectors' tokens carry? A probe of structure and stereo, without the LLM.

``edt bench`` asks the question end to end (frozen SmolLM2 reading the tokens), which on a CPU
budget mostly measures how fast a 135M LLM learns to read soft tokens at all. This benchmark
isolates the bridge: every connector (full EDT with ``combine`` patches, entropy-only,
BRICS-only, anchors-only, dynamic-only, MLP, and EDT without the stereo embedding) is trained
from scratch under one budget, with the *same* small transformer readout in place of the LLM,
to predict RDKit-computed facts of each molecule from its tokens:

- structure: number of rings, aromatic rings, H-bond donors (classes, clipped), and the
  presence of each of the 31 functional groups of :data:`edtformer.data.facts.FUNCTIONAL_GROUPS`
  (multi-label);
- stereo: number of specified stereocentres, number of R and of S centres (clipped), and the
  CIP label of the first specified stereocentre in atom order (binary; only molecules with one).

Molecules: the unique molecules of the ``struct_mc`` and ``stereo`` tasks of ``edt data build``,
train split for training and scaffold-disjoint test split for scoring (only those with cached
MiniMol node features unless ``--encode-missing``). The frozen encoder is MiniMol; the bridge is
the ``smol`` preset (width 256, 4 layers, 8 anchors, <= 24 dynamic tokens, LLM width 576). Each
connector x seed trains ``--steps`` steps of AdamW (lr ``--lr``, batch ``--batch-size``).
A "majority class" row gives the floor (the train split's most frequent answer).

    python benchmarks/bridge_probe.py --data data_out --seeds 0,1 --threads 1
    # writes benchmarks/results/bridge_probe.{json,md,png}; finished runs are kept in
    # benchmarks/results/bridge_probe_runs/ and reused by the next call with the same settings
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from edtformer.bridge import bridge_preset, build_connector
from edtformer.chem import MolRecord, parse_smiles
from edtformer.data import load_task
from edtformer.data.facts import FUNCTIONAL_GROUPS, molecule_facts
from edtformer.encoders import get_encoder
from edtformer.encoders.cache import CachedEncoder, NodeFeatureCache
from edtformer.entropy import load_default_scorer
from edtformer.llm.loading import cache_root
from edtformer.model.processing import MoleculeProcessor, make_patcher
from edtformer.utils.io import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
LLM_WIDTH = 576  # SmolLM2-135M's hidden size: the connectors project to it as in edt bench

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


@dataclass
class Molecules:
    """Per-molecule inputs and labels of one split."""

    feats: list[Tensor]  # [n_i, 512] each
    patches: list[Tensor]  # [2, n_i] each: entropy patches, BRICS fragments
    stereo: list[Tensor]  # [n_i, 2] each
    labels: Tensor  # int64 [M, len(CLASS_HEADS)], -1 where undefined
    groups: Tensor  # float [M, len(GROUPS)]

    def __len__(self) -> int:
        return len(self.feats)


def labels_of(record: MolRecord) -> tuple[list[int], list[float]]:
    """Class labels (``-1``: not defined) and functional-group presence of one molecule."""
    facts = molecule_facts(record.mol)
    labels = [-1] * len(CLASS_HEADS)
    centres = [lab for _, lab in facts["stereocentres"] if lab in ("R", "S")]
    values = {
        "n_rings": facts["n_rings"],
        "n_aromatic_rings": facts["n_aromatic_rings"],
        "hbd": facts["hbd"],
        "n_stereocentres": facts["n_stereocentres"],
        "n_R": centres.count("R"),
        "n_S": centres.count("S"),
        "first_centre_R": (1 if centres[0] == "R" else 0) if centres else -1,
    }
    for k, (name, n_classes) in enumerate(CLASS_HEADS):
        v = values[name]
        labels[k] = -1 if v < 0 else min(int(v), n_classes - 1)
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


def load_split(
    data: Path, split: str, limit: int, encode_missing: bool, seed: int = 0
) -> tuple[Molecules, int]:
    """Featurise up to ``limit`` molecules of ``split`` (seeded sample); returns (data, skipped)."""
    smiles = split_smiles(data, split)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(smiles))
    encoder = get_encoder("minimol")
    cache = NodeFeatureCache(cache_root() / "features", encoder)
    records: list[MolRecord] = []
    skipped = 0
    for i in order:
        if len(records) >= limit:
            break
        rec = parse_smiles(smiles[int(i)])
        # an existence test: the processor below reads (and validates) each entry once
        if not encode_missing and not cache.path(rec.canonical_smiles).is_file():
            skipped += 1
            continue
        records.append(rec)
    processor = MoleculeProcessor(
        [CachedEncoder(encoder, cache_root() / "features")],
        make_patcher("combine", scorer=load_default_scorer()),
    )
    feats, patches, stereo, labels, groups = [], [], [], [], []
    for start in tqdm(range(0, len(records), 256), desc=f"featurise {split}", unit="batch"):
        chunk = records[start : start + 256]
        batch = processor(chunk)
        for m, rec in enumerate(chunk):
            n = rec.n_atoms
            feats.append(batch.node_feats[0][m, :n].clone())
            assert batch.patch_ids is not None
            patches.append(batch.patch_ids[m, :, :n].clone())
            assert batch.stereo is not None
            stereo.append(batch.stereo[m, :n].clone())
            lab, grp = labels_of(rec)
            labels.append(lab)
            groups.append(grp)
    return (
        Molecules(
            feats, patches, stereo, torch.tensor(labels), torch.tensor(groups, dtype=torch.float)
        ),
        skipped,
    )


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
    st = torch.zeros(b, n_max, 2, dtype=torch.long)
    for k, i in enumerate(idx):
        n = mols.feats[i].shape[0]
        x[k, :n] = mols.feats[i]
        mask[k, :n] = True
        pid[k, :, :n] = mols.patches[i][parts]
        st[k, :n] = mols.stereo[i]
    return [x], mask, (pid if partition else None), st


class Probe(nn.Module):
    """Connector + a fixed small readout (1 transformer layer over the tokens and a CLS slot).

    Shapes: tokens ``[B, Q, 576]`` -> CLS state ``[B, 128]`` -> logits of every head.
    """

    def __init__(self, connector: str, stereo_embedding: bool, readout: int = 128) -> None:
        super().__init__()
        cfg = bridge_preset(
            "smol",
            connector=connector,
            encoder_widths=(512,),
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
        self.heads = nn.Linear(readout, sum(c for _, c in CLASS_HEADS) + len(GROUPS))

    def forward(
        self, streams: list[Tensor], mask: Tensor, patch_ids: Tensor | None, stereo: Tensor
    ) -> Tensor:
        out = self.connector(streams, mask, patch_ids, stereo)
        tok = self.inp(out.tokens)  # [B, Q, R]
        b = tok.shape[0]
        x = torch.cat([self.cls.expand(b, -1, -1), tok], dim=1)  # [B, 1+Q, R]
        keep = torch.cat([torch.ones(b, 1, dtype=torch.bool), out.mask], dim=1)
        h = self.layer(x, src_key_padding_mask=~keep)[:, 0]  # [B, R]
        return self.heads(self.norm(h))  # [B, sum classes + groups]


def loss_and_preds(logits: Tensor, labels: Tensor, groups: Tensor) -> tuple[Tensor, list[Tensor]]:
    """Summed cross-entropy of every head (undefined labels skipped) and per-head predictions."""
    total = logits.new_zeros(())
    preds: list[Tensor] = []
    start = 0
    for k, (_, c) in enumerate(CLASS_HEADS):
        part = logits[:, start : start + c]
        y = labels[:, k]
        ok = y >= 0
        if bool(ok.any()):
            total = total + nn.functional.cross_entropy(part[ok], y[ok])
        preds.append(part.argmax(dim=1))
        start += c
    g = logits[:, start:]
    total = total + nn.functional.binary_cross_entropy_with_logits(g, groups)
    preds.append((g > 0).float())
    return total, preds


def score(preds: list[Tensor], labels: Tensor, groups: Tensor) -> dict[str, float]:
    """Accuracy per class head (defined labels only) and functional-group micro-F1."""
    out: dict[str, float] = {}
    for k, (name, _) in enumerate(CLASS_HEADS):
        ok = labels[:, k] >= 0
        out[name] = float((preds[k][ok] == labels[ok, k]).float().mean()) if ok.any() else math.nan
    p = preds[-1]
    tp = float((p * groups).sum())
    fp = float((p * (1 - groups)).sum())
    fn = float(((1 - p) * groups).sum())
    out["groups"] = 2 * tp / max(2 * tp + fp + fn, 1.0)
    out["structure"] = statistics.fmean(out[k] for k in STRUCTURE)
    out["stereo"] = statistics.fmean(out[k] for k in STEREO)
    return out


def majority(train: Molecules, test: Molecules) -> dict[str, float]:
    """The floor: each head predicts the train split's most frequent answer."""
    preds = []
    for k, (_, c) in enumerate(CLASS_HEADS):
        y = train.labels[:, k]
        mode = int(torch.bincount(y[y >= 0], minlength=c).argmax())
        preds.append(torch.full((len(test),), mode))
    preds.append((train.groups.mean(0) > 0.5).float().expand(len(test), -1))
    return score(preds, test.labels, test.groups)


def run_variant(
    variant: tuple[str, str, str | None, bool],
    seed: int,
    train: Molecules,
    test: Molecules,
    steps: int,
    batch_size: int,
    lr: float,
) -> dict[str, float]:
    """Train one connector + readout from scratch and score it on the test molecules."""
    name, connector, partition, stereo_emb = variant
    torch.manual_seed(seed)
    model = Probe(connector, stereo_emb)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    model.train()
    for _ in tqdm(range(steps), desc=f"{name} seed {seed}", unit="step", leave=False):
        idx = rng.choice(len(train), batch_size, replace=False).tolist()
        logits = model(*collate(train, idx, partition))
        loss, _ = loss_and_preds(logits, train.labels[idx], train.groups[idx])
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
                model(*collate(test, idx, partition)), test.labels[idx], test.groups[idx]
            )
            chunks.append(preds)
    preds = [torch.cat([c[k] for c in chunks]) for k in range(len(chunks[0]))]
    result = score(preds, test.labels, test.groups)
    result["train_seconds"] = train_s
    result["final_loss"] = float(loss)
    return result


def table(rows: dict[str, list[dict[str, float]]], meta: dict[str, object]) -> str:
    """Markdown: mean ± sample std over seeds of every metric."""
    cols = ["structure", "stereo", *STRUCTURE, *STEREO]
    lines = [
        "# Bridge probe: what the connectors' tokens carry (no LLM)",
        "",
        f"MiniMol (frozen) -> `smol` connector -> 1-layer readout; {meta['steps']} steps x batch "
        f"{meta['batch_size']}, AdamW lr {meta['lr']}, seeds {meta['seeds']}; trained on "
        f"{meta['n_train']} train-split molecules, scored on {meta['n_test']} scaffold-test "
        f"molecules ({meta['n_test_stereo']} with a specified stereocentre). Cells: test accuracy "
        "(groups: micro-F1), mean ± std over seeds. `structure` / `stereo`: means of their "
        f"columns. {meta['machine']}.",
        "",
        "| variant | " + " | ".join(cols) + " | train s |",
        "|---|" + "---|" * (len(cols) + 1),
    ]
    for name, runs in rows.items():
        cells = []
        for c in cols:
            vals = [r[c] for r in runs if not math.isnan(r[c])]
            m = statistics.fmean(vals)
            s = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{m:.3f} ± {s:.3f}" if len(runs) > 1 else f"{m:.3f}")
        secs = statistics.fmean(r.get("train_seconds", 0.0) for r in runs)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {secs:.0f} |")
    return "\n".join(lines) + "\n"


def plot(rows: dict[str, list[dict[str, float]]], path: Path) -> None:
    """Bar chart of the structure and stereo means with seed std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    for k, col in enumerate(("structure", "stereo")):
        ms = [statistics.fmean(r[col] for r in rows[n]) for n in names]
        ss = [statistics.stdev([r[col] for r in rows[n]]) if len(rows[n]) > 1 else 0 for n in names]
        ax.bar(np.arange(len(names)) + (k - 0.5) * 0.38, ms, 0.38, yerr=ss, capsize=3, label=col)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel("test accuracy (mean of heads)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data_out", help="folder from `edt data build`")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--variants", help="comma-separated subset (default all)")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--n-train", type=int, default=6000)
    ap.add_argument("--n-test", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--encode-missing", action="store_true", help="run MiniMol on uncached mols")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = args.variants.split(",") if args.variants else [v[0] for v in VARIANTS]
    data = Path(args.data)
    train, skip_tr = load_split(data, "train", args.n_train, args.encode_missing)
    test, skip_te = load_split(data, "test", args.n_test, args.encode_missing)
    print(f"{len(train)} train / {len(test)} test molecules ({skip_tr}/{skip_te} uncached skipped)")
    rows: dict[str, list[dict[str, float]]] = {"majority class": [majority(train, test)]}
    settings = {
        k: getattr(args, k) for k in ("steps", "batch_size", "lr", "n_train", "n_test", "data")
    } | {"n_train_used": len(train), "n_test_used": len(test)}
    runs_dir = args.out / "bridge_probe_runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for variant in VARIANTS:
        if variant[0] not in wanted:
            continue
        rows[variant[0]] = []
        for seed in seeds:
            # finished runs are kept (same settings only), so two processes can split the
            # variants and a last call with all of them writes the table
            done = runs_dir / f"{variant[0]}_seed{seed}.json"
            saved = json.loads(done.read_text()) if done.is_file() else None
            if saved is not None and saved["settings"] == settings:
                r = saved["result"]
                reused = " (reused)"
            else:
                r = run_variant(variant, seed, train, test, args.steps, args.batch_size, args.lr)
                atomic_write_json(done, {"settings": settings, "result": r})
                reused = ""
            rows[variant[0]].append(r)
            print(
                f"{variant[0]} seed {seed}: structure {r['structure']:.3f}, "
                f"stereo {r['stereo']:.3f} ({r['train_seconds']:.0f} s){reused}",
                flush=True,
            )
    meta: dict[str, object] = {
        "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seeds": seeds,
        "n_train": len(train), "n_test": len(test),
        "n_test_stereo": int((test.labels[:, 6] >= 0).sum()),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{args.threads} thread(s)",
    }  # fmt: skip
    atomic_write_json(args.out / "bridge_probe.json", {"meta": meta, "rows": rows})
    atomic_write_text(args.out / "bridge_probe.md", table(rows, meta))
    plot(rows, args.out / "bridge_probe.png")
    print(table(rows, meta))


if __name__ == "__main__":
    main()

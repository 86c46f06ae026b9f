"""Train and evaluate the Next-Atom Predictor on SMILES (default corpus: MOSES train/test).

Held-out numbers are cross-entropies in bits per predicted token (every atom and the closing
``<eos>``), next to a unigram baseline fitted on the training tokens. Checkpoints are written
atomically every ``checkpoint_every`` steps and at the end (``model.safetensors`` +
``config.json``), so an interrupted run leaves a loadable model.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from edtformer.chem import rdkit_mol
from edtformer.entropy.checkpoint import save_entropy_model
from edtformer.entropy.corpus import encode_smiles, moses_path, read_smiles_file, split_train_val
from edtformer.entropy.model import NextAtomConfig, NextAtomPredictor
from edtformer.entropy.tokens import (
    BOS_ID,
    EOS_ID,
    UNK_ID,
    AtomVocab,
    EncodedMol,
    atom_contexts,
    atom_tokens,
)

logger = logging.getLogger(__name__)

#: ``progress(step, total_steps, loss)`` — the CLI passes a progress-bar update.
ProgressFn = Callable[[int, int, float], None]


@dataclass
class EntropyTrainConfig:
    """Settings of one training run."""

    out: str = "entropy_model"
    """Output checkpoint folder."""
    train_file: str | None = None
    """SMILES file (.smi/.csv/.csv.gz); ``None``: MOSES train."""
    n_train: int | None = 300_000
    """Training molecules drawn from the file after the validation split (``None``: all)."""
    n_val: int = 10_000
    """Held-out validation molecules split off the training file."""
    epochs: int = 1
    """Passes over the training molecules."""
    batch_size: int = 64
    """Molecules per optimiser step."""
    lr: float = 1e-3
    """Peak learning rate (linear warm-up, cosine decay to 10 %)."""
    warmup_steps: int = 200
    """Linear warm-up steps."""
    weight_decay: float = 0.01
    """AdamW weight decay (matrices only)."""
    min_token_count: int = 5
    """Tokens seen fewer times than this in training become ``<unk>``."""
    checkpoint_every: int = 1000
    """Steps between atomic checkpoints."""
    unk_input_rate: float = 0.01
    """Fraction of input atoms replaced by ``<unk>`` so that its embedding is trained (targets kept)."""
    seed: int = 0
    """Seed of the split, initialisation and batch order."""
    model: NextAtomConfig = field(default_factory=NextAtomConfig)
    """Model sizes (``vocab_size`` is set from the data)."""


def _tokenise(smiles: Sequence[str]) -> tuple[list[list[str]], list[np.ndarray]]:
    toks, ctxs = [], []
    for s in smiles:
        mol = rdkit_mol(s)
        if mol is None:
            continue
        toks.append(atom_tokens(mol))
        ctxs.append(atom_contexts(mol))
    return toks, ctxs


def make_batch(
    encoded: Sequence[EncodedMol], max_len: int, rng: np.random.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs ``ids, ctx`` and targets ``[B, T]`` (``-100`` on padding) for teacher forcing.

    Input ``<bos> a_0 .. a_{n-1}``, target ``a_0 .. a_{n-1} <eos>``. Molecules longer than
    ``max_len - 1`` atoms are cropped to a window (random start when ``rng`` is given).
    """
    w = max_len - 1
    spans = []
    for e in encoded:
        n = len(e.ids)
        start = 0 if n <= w or rng is None else int(rng.integers(0, n - w + 1))
        spans.append((start, min(n, start + w), n))
    t = max(b - a for a, b, _ in spans) + 1
    ids = torch.zeros(len(encoded), t, dtype=torch.long)
    ctx = torch.zeros(len(encoded), t, dtype=torch.long)
    tgt = torch.full((len(encoded), t), -100, dtype=torch.long)
    for k, (e, (a, b, n)) in enumerate(zip(encoded, spans, strict=True)):
        m = b - a
        ids[k, 0] = BOS_ID
        ids[k, 1 : m + 1] = torch.from_numpy(e.ids[a:b])
        ctx[k, 1 : m + 1] = torch.from_numpy(e.ctx[a:b])
        tgt[k, :m] = torch.from_numpy(e.ids[a:b])
        if b == n:
            tgt[k, m] = EOS_ID
    return ids, ctx, tgt


@torch.inference_mode()
def evaluate_bits(
    model: NextAtomPredictor, encoded: Sequence[EncodedMol], batch_size: int = 256
) -> float:
    """Held-out cross-entropy in bits per predicted token (atoms and ``<eos>``)."""
    model.eval()
    total, count = 0.0, 0
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
    for i in range(0, len(order), batch_size):
        ids, ctx, tgt = make_batch(
            [encoded[j] for j in order[i : i + batch_size]], model.cfg.max_len
        )
        logits = model(ids, ctx)
        nll = F.cross_entropy(logits.flatten(0, 1), tgt.flatten(), reduction="sum")
        total += float(nll)
        count += int((tgt != -100).sum())
    return total / max(count, 1) / math.log(2.0)


def unigram_log2probs(encoded: Sequence[EncodedMol], vocab_size: int) -> np.ndarray:
    """Add-one-smoothed unigram log2-probabilities of the targets (atoms + ``<eos>``)."""
    counts = np.ones(vocab_size, dtype=np.float64)
    for e in encoded:
        counts += np.bincount(e.ids, minlength=vocab_size)
    counts[EOS_ID] += len(encoded)
    counts[:EOS_ID] = 0.0  # <pad>, <bos> are never targets
    with np.errstate(divide="ignore"):
        return np.log2(counts / counts.sum())


def unigram_bits(log2p: np.ndarray, encoded: Sequence[EncodedMol]) -> float:
    """Cross-entropy in bits per target of a unigram model on ``encoded``."""
    total = sum(-float(log2p[e.ids].sum()) - float(log2p[EOS_ID]) for e in encoded)
    return total / max(sum(len(e.ids) + 1 for e in encoded), 1)


def _hardware() -> str:
    """CPU model, core count and torch threads, for the checkpoint metadata."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads"


def _lr_at(step: int, total: int, cfg: EntropyTrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0))))


def _load_corpus(
    cfg: EntropyTrainConfig,
) -> tuple[str, AtomVocab, list[EncodedMol], list[EncodedMol]]:
    """``(source, vocabulary, training molecules, validation molecules)`` of the run."""
    source = cfg.train_file or str(moses_path("train"))
    smiles = read_smiles_file(source)
    train_smi, val_smi = split_train_val(smiles, cfg.n_val, cfg.n_train, cfg.seed)
    logger.info("tokenising %d training / %d validation SMILES", len(train_smi), len(val_smi))
    toks, ctxs = _tokenise(train_smi)
    vocab = AtomVocab.build(toks, min_count=cfg.min_token_count)
    train = [EncodedMol(vocab.encode_tokens(t), c) for t, c in zip(toks, ctxs, strict=True)]
    del toks, ctxs
    val = encode_smiles(val_smi, vocab)
    return source, vocab, train, val


def _optimizer(model: NextAtomPredictor, cfg: EntropyTrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices only."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )


def _train_step(
    model: NextAtomPredictor,
    opt: torch.optim.Optimizer,
    batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    lr: float,
    cfg: EntropyTrainConfig,
) -> float:
    """One optimiser step on ``batch`` (inputs noised with ``<unk>``); the loss in bits."""
    ids, ctx, tgt = batch
    if cfg.unk_input_rate > 0:
        noise = (torch.rand(ids.shape) < cfg.unk_input_rate) & (ids > UNK_ID)
        ids = ids.masked_fill(noise, UNK_ID)
    for group in opt.param_groups:
        group["lr"] = lr
    loss = F.cross_entropy(model(ids, ctx).flatten(0, 1), tgt.flatten())
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return float(loss.detach()) / math.log(2.0)


def _validate(
    meta: dict[str, Any],
    model: NextAtomPredictor,
    val: list[EncodedMol],
    uni: np.ndarray,
    step: int,
    t0: float,
) -> float:
    """Add the final step, training time and validation bits to ``meta``; the bits per token."""
    val_bits = evaluate_bits(model, val)
    meta.update(
        step=step,
        complete=True,
        train_seconds=round(time.time() - t0, 1),
        validation={
            "bits_per_token": round(val_bits, 4),
            "perplexity": round(2.0**val_bits, 4),
            "unigram_bits_per_token": round(unigram_bits(uni, val), 4),
        },
    )
    return val_bits


def train_entropy_model(
    cfg: EntropyTrainConfig, progress: ProgressFn | None = None, command: str | None = None
) -> dict[str, Any]:
    """Train, validate, checkpoint; return the metadata written next to the model."""
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    source, vocab, train, val = _load_corpus(cfg)
    mcfg = NextAtomConfig(**{**asdict(cfg.model), "vocab_size": len(vocab)})
    model = NextAtomPredictor(mcfg)
    logger.info("model: %d parameters, vocabulary %d tokens", model.num_parameters(), len(vocab))
    opt = _optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    uni = unigram_log2probs(train, len(vocab))
    meta: dict[str, Any] = {
        "train_config": {**asdict(cfg), "model": mcfg.to_dict()},
        "data": {"train_source": source, "n_train": len(train), "n_val": len(val)},
        "command": command,
        "hardware": _hardware(),
        "torch": torch.__version__,
        "n_parameters": model.num_parameters(),
        "unigram_log2p": [round(float(x), 6) for x in uni],
    }
    step, loss_ema = 0, float("nan")
    for _epoch in range(cfg.epochs):
        order = rng.permutation(len(train))
        for i in range(0, len(order), cfg.batch_size):
            model.train()
            batch = make_batch([train[j] for j in order[i : i + cfg.batch_size]], mcfg.max_len, rng)
            value = _train_step(model, opt, batch, _lr_at(step, total, cfg), cfg)
            step += 1
            loss_ema = value if math.isnan(loss_ema) else 0.98 * loss_ema + 0.02 * value
            if progress is not None:
                progress(step, total, loss_ema)
            if step % cfg.checkpoint_every == 0 and step < total:
                save_entropy_model(cfg.out, model, vocab, {**meta, "step": step, "complete": False})
    val_bits = _validate(meta, model, val, uni, step, t0)
    save_entropy_model(cfg.out, model, vocab, meta)
    logger.info(
        "validation: %.4f bits/token (unigram %.4f)",
        val_bits,
        meta["validation"]["unigram_bits_per_token"],
    )
    return meta


def evaluate_on_smiles(
    model: NextAtomPredictor,
    vocab: AtomVocab,
    smiles: Sequence[str],
    train_unigram: np.ndarray | None = None,
) -> dict[str, float]:
    """Bits per token of ``model`` on ``smiles`` and of a unigram baseline.

    ``train_unigram`` are unigram log2-probabilities fitted on training data; when ``None`` the
    unigram is fitted on ``smiles`` itself (an optimistic baseline, favouring the unigram).
    """
    encoded = encode_smiles(smiles, vocab)
    uni = train_unigram if train_unigram is not None else unigram_log2probs(encoded, len(vocab))
    bits = evaluate_bits(model, encoded)
    return {
        "n_molecules": len(encoded),
        "bits_per_token": bits,
        "perplexity": 2.0**bits,
        "unigram_bits_per_token": unigram_bits(uni, encoded),
    }

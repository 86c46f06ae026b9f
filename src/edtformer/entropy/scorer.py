"""Batched per-atom entropy scoring with a model loaded once.

``scorer.score(records)`` returns one ``float32`` array of bits per molecule with exactly
``mol.GetNumAtoms()`` values, in atom index order. Molecules are tokenised from their RDKit atoms,
sorted by length into buckets (little padding), and run under ``torch.inference_mode``.

Molecules longer than the model's window (``max_len - 1`` atoms) are scored with a sliding
window: windows of ``W = max_len - 1`` atoms with stride ``S = W // 2``; each window is fed as
``<bos>`` + its atoms, and every atom after the first window takes its entropy from the window
in which it has at least ``W - S`` atoms of left context. Nothing is truncated.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edtformer.chem import Mol
from edtformer.entropy.checkpoint import load_entropy_model
from edtformer.entropy.model import NextAtomPredictor, entropy_bits
from edtformer.entropy.tokens import BOS_ID, AtomVocab, EncodedMol, encode_mol
from edtformer.errors import CheckpointError

logger = logging.getLogger(__name__)

#: Package-relative folder of the shipped default model.
DEFAULT_MODEL_SUBDIR = "assets/entropy/next_atom_moses"


@dataclass(frozen=True)
class _Row:
    """One model input row: atoms ``start .. start + n`` of molecule ``mol``; keep outputs from ``keep``."""

    mol: int
    start: int
    n: int
    keep: int


def _as_mol(item: Any) -> Mol:
    mol = getattr(item, "mol", item)
    if not isinstance(mol, Mol):
        raise TypeError(f"expected a MolRecord or rdkit Mol, got {type(item).__name__}")
    return mol


class EntropyScorer:
    """Scores molecules with a :class:`NextAtomPredictor` (batched, length-bucketed).

    Args:
        model: the trained model (put in eval mode here).
        vocab: its atom vocabulary.
        max_batch_tokens: padded tokens per forward pass (bounds memory).
        metadata: checkpoint metadata, kept for reports.
    """

    def __init__(
        self,
        model: NextAtomPredictor,
        vocab: AtomVocab,
        max_batch_tokens: int = 2048,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if len(vocab) != model.cfg.vocab_size:
            raise CheckpointError(f"vocabulary size {len(vocab)} != model's {model.cfg.vocab_size}")
        self.model = model.eval()
        self.vocab = vocab
        self.max_batch_tokens = max_batch_tokens
        self.metadata = metadata or {}

    @property
    def window(self) -> int:
        """Most atoms one model row holds (``max_len - 1``; position 0 is ``<bos>``)."""
        return self.model.cfg.max_len - 1

    def encode(self, items: Sequence[Any]) -> list[EncodedMol]:
        """Token/context ids of each molecule (``MolRecord`` or RDKit ``Mol``)."""
        encoded = [encode_mol(_as_mol(m), self.vocab) for m in items]
        n_unk = sum(e.n_unknown for e in encoded)
        if n_unk:
            logger.info("%d atom(s) outside the entropy vocabulary were scored as <unk>", n_unk)
        return encoded

    def score(self, items: Sequence[Any]) -> list[np.ndarray]:
        """Entropy in bits of the next atom after each atom: ``float32 [n_atoms]`` per molecule."""
        return self.score_encoded(self.encode(items))

    def score_one(self, item: Any) -> np.ndarray:
        """Unbatched path: one molecule, one forward pass (for comparisons and debugging)."""
        return self.score([item])[0]

    def _rows(self, encoded: Sequence[EncodedMol]) -> list[_Row]:
        w = self.window
        stride = max(1, w // 2)
        rows: list[_Row] = []
        for k, enc in enumerate(encoded):
            n = len(enc.ids)
            if n <= w:
                rows.append(_Row(k, 0, n, 0))
                continue
            logger.debug("molecule %d has %d atoms > window %d: sliding window", k, n, w)
            rows.append(_Row(k, 0, w, 0))
            start = stride
            while True:
                rows.append(_Row(k, start, min(w, n - start), w - stride))
                if start + w >= n:
                    break
                start += stride
        return rows

    def score_encoded(self, encoded: Sequence[EncodedMol]) -> list[np.ndarray]:
        """Like :meth:`score` for already encoded molecules."""
        out = [np.full(len(e.ids), np.nan, dtype=np.float32) for e in encoded]
        rows = self._rows(encoded)
        rows.sort(key=lambda r: r.n)
        i = 0
        while i < len(rows):
            j = i + 1
            while j < len(rows) and (rows[j].n + 1) * (j + 1 - i) <= self.max_batch_tokens:
                j += 1
            self._run_bucket(rows[i:j], encoded, out)
            i = j
        assert not any(np.isnan(h).any() for h in out), "an atom was left unscored"
        return out

    def _run_bucket(
        self, rows: Sequence[_Row], encoded: Sequence[EncodedMol], out: list[np.ndarray]
    ) -> None:
        lengths = np.fromiter((r.n + 1 for r in rows), dtype=np.int64, count=len(rows))
        t = int(lengths.max())
        fill = np.arange(t)[None, :] < lengths[:, None]  # [B, T]
        ids = np.zeros((len(rows), t), dtype=np.int64)
        ctx = np.zeros((len(rows), t), dtype=np.int64)
        bos = np.array([BOS_ID], dtype=np.int64)
        zero = np.array([0], dtype=np.int64)
        ids[fill] = np.concatenate(
            [x for r in rows for x in (bos, encoded[r.mol].ids[r.start : r.start + r.n])]
        )
        ctx[fill] = np.concatenate(
            [x for r in rows for x in (zero, encoded[r.mol].ctx[r.start : r.start + r.n])]
        )
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(ids), torch.from_numpy(ctx))  # [B, T, V]
            h = entropy_bits(logits).numpy()  # [B, T]
        for b, r in enumerate(rows):
            # output at position p + 1 is the distribution after atom start + p
            out[r.mol][r.start + r.keep : r.start + r.n] = h[b, 1 + r.keep : 1 + r.n]


def default_model_dir() -> Path:
    """Folder of the shipped default model (inside the installed package)."""
    return Path(str(resources.files("edtformer").joinpath(DEFAULT_MODEL_SUBDIR)))


@functools.lru_cache(maxsize=8)
def _load_cached(folder: str, max_batch_tokens: int) -> EntropyScorer:
    ckpt = load_entropy_model(folder)
    logger.info("loaded entropy model from %s (%d parameters)", folder, ckpt.model.num_parameters())
    return EntropyScorer(ckpt.model, ckpt.vocab, max_batch_tokens, ckpt.metadata)


def load_scorer(folder: str | Path, max_batch_tokens: int = 2048) -> EntropyScorer:
    """Load (once per process, cached) the scorer of a checkpoint folder."""
    return _load_cached(str(Path(folder).resolve()), max_batch_tokens)


def load_default_scorer(max_batch_tokens: int = 2048) -> EntropyScorer:
    """The shipped default Next-Atom Predictor (trained on MOSES), loaded once per process.

    Raises:
        CheckpointError: the package was installed without its model files.
    """
    folder = default_model_dir()
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"the default entropy model is missing from {folder}; reinstall edtformer or train "
            "one with `edt entropy train --out DIR` and pass it with `--model DIR`"
        )
    return load_scorer(folder, max_batch_tokens)

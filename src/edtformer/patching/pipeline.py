"""Bulk SMILES -> (entropies, patches), in this process or across worker processes.

On a small CPU the per-molecule Python work (RDKit parse, atom tokens) is about as expensive as
the model, and a 2-thread model forward stalls badly when other processes share the cores. The
pipeline therefore supports *data parallelism*: ``workers`` processes each run the whole path
(parse -> tokens -> batched model with ``threads`` intra-op threads -> vectorised rule) on a
chunk of the input, each loading the model once. ``workers=0`` runs everything in-process.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edtformer.chem import mol_from_smiles
from edtformer.entropy.scorer import load_default_scorer, load_scorer
from edtformer.errors import EdtError, InvalidSmilesError
from edtformer.patching.api import patch_molecules

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PatchedSmiles:
    """Result for one input SMILES.

    Attributes:
        smiles: the input.
        entropy: ``float32 [n_atoms]`` bits (empty when ``error`` is set).
        patch_ids: ``int64 [n_atoms]`` (empty when ``error`` is set).
        brics_ids: ``int64 [n_atoms]`` for the ``combine`` rule, else ``None``.
        error: why the SMILES was rejected, or ``None``.
    """

    smiles: str
    entropy: np.ndarray
    patch_ids: np.ndarray
    brics_ids: np.ndarray | None = None
    error: str | None = None


@dataclass
class PipelineConfig:
    """How to run :class:`PatchPipeline`."""

    model_dir: str | None = None
    """Entropy model folder (``None``: the shipped default)."""
    rule: str = "quantile"
    """Patching rule name (see ``edtformer.patching.RULES``)."""
    rule_options: dict[str, Any] = field(default_factory=dict)
    """Keyword options of the rule (``q``, ``threshold``, ``margin``, ``max_patch_len``)."""
    workers: int = 0
    """Worker processes (0: run in this process)."""
    threads: int | None = None
    """Torch intra-op threads per process (``None``: leave torch's setting; workers default to 1)."""
    chunk_size: int = 1000
    """Molecules per worker task."""


def _run_chunk(cfg: PipelineConfig, smiles: Sequence[str]) -> list[PatchedSmiles]:
    scorer = load_scorer(cfg.model_dir) if cfg.model_dir else load_default_scorer()
    mols, keep, out = [], [], []
    for k, s in enumerate(smiles):
        try:
            mols.append(mol_from_smiles(s))
            keep.append(k)
        except InvalidSmilesError as exc:
            empty = np.zeros(0, np.float32)
            out.append((k, PatchedSmiles(s, empty, empty.astype(np.int64), None, str(exc))))
    entropies, patches = patch_molecules(mols, cfg.rule, scorer, **cfg.rule_options)
    for k, h, p in zip(keep, entropies, patches, strict=True):
        out.append((k, PatchedSmiles(smiles[k], h, p.patch_ids, p.brics_ids)))
    return [r for _, r in sorted(out, key=lambda kr: kr[0])]


_WORKER_CFG: PipelineConfig | None = None


def _init_worker(cfg: PipelineConfig) -> None:
    global _WORKER_CFG

    torch.set_num_threads(cfg.threads or 1)
    _WORKER_CFG = cfg
    _run_chunk(cfg, ["C"])  # load the model once per worker


def _worker_task(smiles: Sequence[str]) -> list[PatchedSmiles]:
    assert _WORKER_CFG is not None
    return _run_chunk(_WORKER_CFG, smiles)


class PatchPipeline:
    """SMILES -> :class:`PatchedSmiles`, keeping input order; usable as a context manager.

    Example::

        with PatchPipeline(PipelineConfig(workers=2)) as pipe:
            results = pipe.run(smiles_list)
    """

    def __init__(self, cfg: PipelineConfig | None = None) -> None:
        self.cfg = cfg or PipelineConfig()
        if self.cfg.model_dir is not None and not Path(self.cfg.model_dir).is_dir():
            raise EdtError(f"entropy model folder {self.cfg.model_dir!r} does not exist")
        self._pool: Any = None
        if self.cfg.workers > 0:
            ctx = mp.get_context("spawn")  # fork after torch initialises threads can deadlock
            self._pool = ctx.Pool(self.cfg.workers, _init_worker, (self.cfg,))
            logger.info("started %d patching worker processes", self.cfg.workers)
        elif self.cfg.threads:
            torch.set_num_threads(self.cfg.threads)

    def run(self, smiles: Sequence[str]) -> list[PatchedSmiles]:
        """Patch every SMILES (invalid ones come back with ``error`` set, in place)."""
        if self._pool is None:
            return _run_chunk(self.cfg, smiles)
        n = self.cfg.chunk_size
        chunks = [smiles[i : i + n] for i in range(0, len(smiles), n)]
        return [r for part in self._pool.map(_worker_task, chunks) for r in part]

    def close(self) -> None:
        """Stop the worker processes (if any)."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> PatchPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Molecule records -> the bridge's tensor inputs: encoder streams, node mask, patch ids.

:class:`MoleculeProcessor` ties the frozen encoders (:mod:`edtformer.encoders`), the entropy
scorer (:mod:`edtformer.entropy`) and the patching rules (:mod:`edtformer.patching`) together
and pads everything into one :class:`MoleculeBatch`. The bridge itself only sees tensors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from edtformer.chem import MolRecord, canonical_order
from edtformer.chem.stereo import N_STEREO_CODES, stereo_codes
from edtformer.encoders import get_encoder
from edtformer.encoders.cache import CachedEncoder
from edtformer.encoders.multi import encode_streams
from edtformer.errors import CheckpointError, EdtError, InvalidShapeError
from edtformer.patching import compute_patches, patch_molecules

logger = logging.getLogger(__name__)

#: ``records -> one int64 array per molecule``, shaped ``[n_atoms]`` or ``[G, n_atoms]``.
Patcher = Callable[[Sequence[MolRecord]], list[np.ndarray]]


@dataclass
class MoleculeBatch:
    """Padded bridge inputs for ``M`` molecules.

    Attributes:
        node_feats: one float tensor ``[M, N, D_s]`` per encoder stream (padding rows zero).
        node_mask: bool ``[M, N]``; row ``i`` of molecule ``m`` is atom ``i`` of its canonical
            atom order (:func:`edtformer.chem.canonical_order`), whatever the input writing.
        patch_ids: int64 ``[M, G, N]`` (G partitions, -1 on padding), or ``None`` for connectors
            that use no patches.
        smiles: the molecules' SMILES as given.
        stereo: int64 ``[M, N, 3]`` per-atom chirality tag, E/Z state and CIP label
            (:func:`edtformer.chem.stereo.stereo_codes`).
    """

    node_feats: list[Tensor]
    node_mask: Tensor
    patch_ids: Tensor | None
    smiles: list[str]
    stereo: Tensor | None = None

    def __len__(self) -> int:
        return int(self.node_mask.shape[0])

    def to(self, device: torch.device | str) -> MoleculeBatch:
        """The same batch on ``device``."""
        return MoleculeBatch(
            [h.to(device) for h in self.node_feats],
            self.node_mask.to(device),
            None if self.patch_ids is None else self.patch_ids.to(device),
            self.smiles,
            None if self.stereo is None else self.stereo.to(device),
        )

    def inputs(self) -> tuple[list[Tensor], Tensor, Tensor | None, Tensor | None]:
        """``(node_feats, node_mask, patch_ids, stereo)``: the positional arguments of a connector."""
        return self.node_feats, self.node_mask, self.patch_ids, self.stereo


def pad_patch_ids(per_mol: Sequence[np.ndarray], n_max: int) -> Tensor:
    """Stack per-molecule ids (``[n]`` or ``[G, n]``) into int64 ``[M, G, n_max]`` with -1 padding."""
    arrays = [np.atleast_2d(np.asarray(a, dtype=np.int64)) for a in per_mol]
    g = max((a.shape[0] for a in arrays), default=1)
    out = torch.full((len(arrays), g, n_max), -1, dtype=torch.long)
    for m, a in enumerate(arrays):
        if a.shape[0] != g:
            raise InvalidShapeError(f"patch ids of molecule {m}", a.shape, f"[{g}, n_atoms]")
        out[m, :, : a.shape[1]] = torch.from_numpy(a)
    return out


def pad_stereo(records: Sequence[MolRecord], n_max: int) -> Tensor:
    """Stacked :func:`edtformer.chem.stereo.stereo_codes`, int64 ``[M, n_max, 3]`` (zeros on
    padding)."""
    out = torch.zeros(len(records), n_max, N_STEREO_CODES, dtype=torch.long)
    for m, r in enumerate(records):
        out[m, : r.n_atoms] = torch.from_numpy(stereo_codes(r))
    return out


def brics_patcher(records: Sequence[MolRecord]) -> list[np.ndarray]:
    """BRICS fragments only (no entropy model needed)."""
    return [p.patch_ids for p in compute_patches(records, rule="brics")]


def make_patcher(rule: str = "combine", scorer: Any = None, **options: Any) -> Patcher:
    """A patcher for a named rule of :mod:`edtformer.patching`.

    ``combine`` gives two partitions per molecule (entropy patches, then BRICS fragments).
    Entropy rules load the default Next-Atom Predictor once unless ``scorer`` is given.
    """
    if rule == "brics":
        return brics_patcher

    def patch(records: Sequence[MolRecord]) -> list[np.ndarray]:
        # records arrive in canonical atom order (MoleculeProcessor), so no second remapping:
        # for symmetric molecules it would renumber patches by an automorphism
        _, results = patch_molecules(records, rule=rule, scorer=scorer, canonical=False, **options)
        return [r.partitions if rule == "combine" else r.patch_ids for r in results]

    return patch


def default_patcher(rule: str = "combine") -> tuple[Patcher, str]:
    """The patcher for ``rule``, falling back to ``brics`` (with a warning) when the default
    entropy model is not installed. Returns ``(patcher, rule actually used)``."""
    if rule == "brics":
        return brics_patcher, rule
    try:
        # optional: a missing entropy model (or its dependencies) falls back to BRICS below
        from edtformer.entropy import load_default_scorer

        scorer = load_default_scorer()
    except (CheckpointError, ImportError, OSError) as exc:
        logger.warning("no entropy model (%s); patching with BRICS fragments only", exc)
        return brics_patcher, "brics"
    return make_patcher(rule, scorer=scorer), rule


class MoleculeProcessor:
    """Records -> :class:`MoleculeBatch` (frozen encoders + patches).

    Args:
        encoders: frozen graph encoders (all aligned on RDKit atoms); one stream each.
        patcher: records -> patch ids per molecule; ``None`` for connectors without patches.
    """

    def __init__(self, encoders: Sequence[Any], patcher: Patcher | None = None) -> None:
        if not encoders:
            raise EdtError("MoleculeProcessor needs at least one encoder")
        self.encoders = list(encoders)
        self.patcher = patcher

    @property
    def widths(self) -> tuple[int, ...]:
        """Node-feature width of each stream."""
        return tuple(int(e.width) for e in self.encoders)

    @property
    def encoder_names(self) -> tuple[str, ...]:
        """Registry names of the encoders."""
        return tuple(str(e.name) for e in self.encoders)

    def load_encoders(self) -> MoleculeProcessor:
        """Load now what the encoders would load on their first molecule (MiniMol's runtime and
        ONNX session): long-running processes (``edt serve``, ``edt chat``) call it at start so
        that the first request does not pay for it."""
        for enc in self.encoders:
            enc.load()
        return self

    def __call__(self, records: Sequence[MolRecord]) -> MoleculeBatch:
        """Encode and patch ``records`` (``M`` molecules) into one padded batch.

        Everything is computed on each molecule's canonical atom order
        (:func:`edtformer.chem.canonical_order`): two writings of one molecule give the same
        batch rows, so the same molecule tokens and the same answer. ``smiles`` keeps the
        input writing.
        """
        if not records:
            raise EdtError("no molecules to process")
        given = [r.smiles for r in records]
        records = [canonical_order(r)[0] for r in records]
        streams = encode_streams(records, self.encoders)
        node_mask = streams[0].mask  # [M, N]
        patch_ids = None
        if self.patcher is not None:
            per_mol = self.patcher(records)
            for r, ids in zip(records, per_mol, strict=True):
                if np.shape(ids)[-1] != r.n_atoms:
                    raise InvalidShapeError(
                        f"patch ids of {r.smiles!r}", np.shape(ids), f"[..., {r.n_atoms}]"
                    )
            patch_ids = pad_patch_ids(per_mol, int(node_mask.shape[1]))  # [M, G, N]
        stereo = pad_stereo(records, int(node_mask.shape[1]))  # [M, N, 3]
        return MoleculeBatch([s.h for s in streams], node_mask, patch_ids, given, stereo)


def build_processor(
    encoders: Sequence[str],
    patch_rule: str = "combine",
    uses_patches: bool = True,
    cache_dir: str | Path | None = None,
) -> tuple[MoleculeProcessor, str]:
    """The one way to build a :class:`MoleculeProcessor` from names.

    Args:
        encoders: registry names of the frozen encoders (one stream each).
        patch_rule: the patching rule (``brics`` is used, with a warning, when the entropy
            model is missing).
        uses_patches: False for connectors without dynamic tokens (no patcher; rule ``none``).
        cache_dir: read node features through the on-disk feature cache in this folder.

    Returns:
        ``(processor, the patch rule actually used)``.
    """
    names = [n.strip() for n in encoders if n.strip()]
    if not names:
        raise EdtError("no encoder given (set model.encoders=NAME[,NAME])")
    streams: list[Any] = [get_encoder(n) for n in names]
    if cache_dir is not None:
        streams = [CachedEncoder(e, cache_dir) for e in streams]
    patcher, rule = (None, "none")
    if uses_patches:
        patcher, rule = default_patcher(patch_rule)
    return MoleculeProcessor(streams, patcher), rule

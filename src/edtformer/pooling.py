"""Patch ids -> dynamic tokens: the masked mean of node features over each patch.

This is the one pooling implementation; the bridge (:mod:`edtformer.bridge.dqt`) and the
patching API (:func:`pool_patches`, re-exported by :mod:`edtformer.patching`) both call it.

Rules:

- Only real atom rows are pooled: padding rows never contribute, whatever they hold (the public
  EDT-Former code leaks padding rows into the last patch).
- A molecule may carry several partitions of its atoms (the ``combine`` rule gives entropy
  patches *and* BRICS fragments); their patches become tokens one partition after the other,
  each partition's patches in id order.
- **The cap.** ``max_tokens`` keeps the first ``max_tokens`` tokens in that order and *drops*
  the rest; the number dropped per molecule is returned (``n_dropped``) and logged, never
  silent. Dropping loses no atom from the model: the Dynamic Query Transformer still
  cross-attends to every atom's node features; only the summary tokens are capped. (Merging the
  overflow into one last token was tried in an earlier version and rejected: that token would
  average unrelated fragments and mean something different from every other token.)

Pure tensor code, so that the bridge depends on neither the encoders nor the patching rules.
Patch ids are ``int64 [B, N]`` (one partition) or ``[B, G, N]`` (G partitions), contiguous from 0
per molecule, ``-1`` on padding rows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from edtformer.errors import InvalidShapeError

logger = logging.getLogger(__name__)


@dataclass
class PatchMembership:
    """Which atoms each dynamic token averages.

    Attributes:
        weights: float ``[B, P, N]``; 1 where atom ``n`` belongs to token ``p``, else 0.
        mask: bool ``[B, P]``; True on real tokens (real tokens come first in each row).
        n_tokens: int64 ``[B]``; real tokens per molecule after the cap.
        n_dropped: int64 ``[B]``; patches beyond the cap (0 when nothing was dropped).
    """

    weights: Tensor
    mask: Tensor
    n_tokens: Tensor
    n_dropped: Tensor


def _as_partitions(patch_ids: Tensor, node_mask: Tensor) -> Tensor:
    """Validate and reshape patch ids to ``[B, G, N]`` with -1 outside ``node_mask``."""
    if patch_ids.dim() == 2:
        patch_ids = patch_ids.unsqueeze(1)
    if (
        patch_ids.dim() != 3
        or patch_ids.shape[0] != node_mask.shape[0]
        or patch_ids.shape[2] != node_mask.shape[1]
    ):
        raise InvalidShapeError(
            "patch_ids",
            tuple(patch_ids.shape),
            f"[B, N] or [B, G, N] with B, N = {tuple(node_mask.shape)}",
        )
    return torch.where(
        node_mask.unsqueeze(1), patch_ids.long(), torch.full_like(patch_ids.long(), -1)
    )


def count_patches(patch_ids: Tensor, node_mask: Tensor) -> Tensor:
    """Number of patches per molecule summed over partitions, ``int64 [B]`` (before any cap)."""
    ids = _as_partitions(patch_ids, node_mask)  # [B, G, N]
    return (ids.max(dim=2).values + 1).clamp(min=0).sum(dim=1)


def patch_membership(
    patch_ids: Tensor, node_mask: Tensor, max_tokens: int | None = None
) -> PatchMembership:
    """Membership matrix of the dynamic tokens: the one checked entry point of pooling (the
    model and :func:`pool_patches` both use it).

    Raises:
        InvalidShapeError: inconsistent shapes, or a real atom without a patch id (< 0).
        ValueError: ``max_tokens < 1``.

    Shapes:
        - patch_ids: int64 ``[B, N]`` or ``[B, G, N]`` (-1 on padding)
        - node_mask: bool ``[B, N]``
        - output: :class:`PatchMembership` with ``P = min(max patches, max_tokens)``
    """
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    node_mask = node_mask.bool()
    ids = _as_partitions(patch_ids, node_mask)  # [B, G, N]
    missing = node_mask.unsqueeze(1) & (ids < 0)
    if bool(missing.any()):
        row, part, atom = torch.nonzero(missing)[0].tolist()
        raise InvalidShapeError(
            "patch_ids",
            tuple(patch_ids.shape),
            f"an id >= 0 on every real atom (row {row}, partition {part}, atom {atom})",
        )
    b, g, n = ids.shape
    n_classes = int(ids.max().item()) + 1 if ids.numel() else 0
    if n_classes <= 0:
        empty = torch.zeros(b, 0, n, dtype=torch.float32, device=ids.device)
        zeros = torch.zeros(b, dtype=torch.long, device=ids.device)
        return PatchMembership(
            empty, torch.zeros(b, 0, dtype=torch.bool, device=ids.device), zeros, zeros
        )
    onehot = torch.nn.functional.one_hot(ids.clamp(min=0), n_classes)  # [B, G, N, C]
    onehot = onehot * (ids >= 0).unsqueeze(-1)
    weights = onehot.permute(0, 1, 3, 2).reshape(b, g * n_classes, n).float()  # [B, G*C, N]
    valid = weights.sum(dim=-1) > 0  # [B, G*C]
    # move real tokens to the front, keeping their order (partition by partition)
    order = torch.argsort((~valid).to(torch.int8), dim=1, stable=True)  # [B, G*C]
    weights = torch.gather(weights, 1, order.unsqueeze(-1).expand(-1, -1, n))
    valid = torch.gather(valid, 1, order)
    n_all = valid.sum(dim=1)  # [B]
    width = int(n_all.max().item())
    if max_tokens is not None:
        width = min(width, max_tokens)
    weights, valid = weights[:, :width], valid[:, :width]
    n_tokens = valid.sum(dim=1)
    return PatchMembership(
        weights=weights, mask=valid, n_tokens=n_tokens, n_dropped=n_all - n_tokens
    )


def pool_membership(h: Tensor, membership: PatchMembership) -> Tensor:
    """Mean of ``h`` over each token's atoms; zero rows on padded tokens.

    Shapes:
        - h: float ``[B, N, D]``
        - output: float ``[B, P, D]``
    """
    w = membership.weights.to(h.dtype)  # [B, P, N]
    total = torch.bmm(w, h)  # [B, P, D]
    count = w.sum(dim=-1, keepdim=True).clamp(min=1.0)  # [B, P, 1]
    return total / count


class PooledPatches(NamedTuple):
    """Output of :func:`pool_patches`.

    Attributes:
        tokens: ``float [B, P, D]`` mean node feature per patch (zeros on padded slots).
        token_mask: ``bool [B, P]`` True on real patch tokens (they come first in each row).
        n_dropped: ``int64 [B]`` patches dropped per molecule by ``max_tokens`` (zeros without
            a cap).
    """

    tokens: Tensor
    token_mask: Tensor
    n_dropped: Tensor


def pool_patches(
    node_feats: Tensor,
    node_mask: Tensor,
    patch_ids: Tensor,
    max_tokens: int | None = None,
) -> PooledPatches:
    """Mean-pool node features per patch, vectorised over the batch (the module's rules apply).

    Args:
        node_feats: ``float [B, N, D]`` node features (padding rows may hold anything).
        node_mask: ``bool [B, N]`` True on real atoms.
        patch_ids: ``int64 [B, N]`` or ``[B, G, N]`` patch ids; every real atom needs an id
            ``>= 0`` in every partition (padding rows are ignored, e.g. ``-1``).
        max_tokens: optional cap on tokens per molecule; extra patches are dropped, counted in
            ``n_dropped`` and logged as a warning.

    Returns:
        :class:`PooledPatches` with ``P`` = the largest token count in the batch after the cap.

    Raises:
        InvalidShapeError: inconsistent shapes, or a real atom without a patch id (< 0).
        ValueError: ``max_tokens < 1``.
    """
    if node_feats.dim() != 3:
        raise InvalidShapeError("node_feats", tuple(node_feats.shape), "[B, N, D]")
    b, n, _ = node_feats.shape
    if tuple(node_mask.shape) != (b, n):
        raise InvalidShapeError("node_mask", tuple(node_mask.shape), f"[{b}, {n}]")
    member = patch_membership(patch_ids, node_mask, max_tokens)
    if bool((member.n_dropped > 0).any()):
        logger.warning(
            "max_tokens=%d: %d molecule(s) had more patches; %d patch(es) dropped (their atoms "
            "are still in the node features)",
            max_tokens,
            int((member.n_dropped > 0).sum()),
            int(member.n_dropped.sum()),
        )
    return PooledPatches(pool_membership(node_feats, member), member.mask, member.n_dropped)

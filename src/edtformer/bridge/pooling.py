"""Patch ids -> dynamic tokens: masked mean of node features over each patch.

Only real atom rows are pooled (the public code leaks padding rows into the last patch). A
molecule may carry several partitions of its atoms (the ``combine`` rule gives entropy patches
*and* BRICS fragments); their patches become tokens one partition after the other. The cap
``max_tokens`` keeps the first tokens in that order and reports how many were dropped.

These functions are pure tensor code so that the bridge does not depend on
:mod:`edtformer.patching`; they accept exactly what that module produces: patch ids
``int64 [B, N]`` (one partition) or ``[B, G, N]`` (G partitions), contiguous from 0 per molecule,
``-1`` on padding rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edtformer.errors import InvalidShapeError


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
    """Membership matrix of the dynamic tokens.

    Shapes:
        - patch_ids: int64 ``[B, N]`` or ``[B, G, N]`` (-1 on padding)
        - node_mask: bool ``[B, N]``
        - output: :class:`PatchMembership` with ``P = min(max patches, max_tokens)``
    """
    ids = _as_partitions(patch_ids, node_mask)  # [B, G, N]
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

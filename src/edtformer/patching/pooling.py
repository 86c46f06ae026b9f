"""Dynamic tokens: the mean of the node features of each patch (real atoms only).

The public EDT-Former code pools padding rows into the last patch; here padding rows never
contribute (they are dropped before a single ``index_add_``), whatever their content.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import torch
from torch import Tensor

from edtformer.errors import InvalidShapeError

logger = logging.getLogger(__name__)


class PooledPatches(NamedTuple):
    """Output of :func:`pool_patches`.

    Attributes:
        tokens: ``float [B, P_max, D]`` mean node feature per patch (zeros on empty slots).
        token_mask: ``bool [B, P_max]`` True on real patch tokens.
        n_merged: ``int64 [B]`` patches merged into the last token per molecule because of
            ``max_tokens`` (all zeros without a cap).
    """

    tokens: Tensor
    token_mask: Tensor
    n_merged: Tensor


def pool_patches(
    node_feats: Tensor,
    node_mask: Tensor,
    patch_ids: Tensor,
    max_tokens: int | None = None,
) -> PooledPatches:
    """Mean-pool node features per patch, vectorised over the batch.

    Args:
        node_feats: ``float [B, N, D]`` node features (padding rows may hold anything).
        node_mask: ``bool [B, N]`` True on real atoms.
        patch_ids: ``int64 [B, N]`` patch id per atom (``>= 0`` on real atoms; ignored, e.g.
            ``-1``, on padding).
        max_tokens: optional cap on tokens per molecule. Patches ``>= max_tokens - 1`` are
            merged into the last token (every atom stays represented); the number merged is
            returned in ``n_merged`` and logged as a warning — never silent.

    Returns:
        :class:`PooledPatches` ``(tokens [B, P_max, D], token_mask [B, P_max], n_merged [B])``
        with ``P_max`` = the largest patch count in the batch (after the cap).

    Raises:
        InvalidShapeError: inconsistent shapes, or a real atom without a patch id (< 0).
    """
    if node_feats.dim() != 3:
        raise InvalidShapeError("node_feats", tuple(node_feats.shape), "[B, N, D]")
    b, n, d = node_feats.shape
    if node_mask.shape != (b, n):
        raise InvalidShapeError("node_mask", tuple(node_mask.shape), f"[{b}, {n}]")
    if patch_ids.shape != (b, n):
        raise InvalidShapeError("patch_ids", tuple(patch_ids.shape), f"[{b}, {n}]")
    node_mask = node_mask.bool()
    ids = patch_ids.long()
    if bool((ids[node_mask] < 0).any()):
        bad = torch.nonzero(node_mask & (ids < 0))[0].tolist()
        raise InvalidShapeError(
            "patch_ids", tuple(patch_ids.shape), f"an id >= 0 on every real atom (row, atom {bad})"
        )
    n_patches = torch.where(node_mask, ids + 1, torch.zeros_like(ids)).amax(dim=1)  # [B]
    n_merged = torch.zeros(b, dtype=torch.long, device=ids.device)
    if max_tokens is not None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        n_merged = (n_patches - max_tokens).clamp(min=0)
        if bool((n_merged > 0).any()):
            logger.warning(
                "max_tokens=%d: %d molecule(s) had more patches; %d patch(es) merged into "
                "their last token",
                max_tokens,
                int((n_merged > 0).sum()),
                int(n_merged.sum()),
            )
        ids = ids.clamp(max=max_tokens - 1)
        n_patches = n_patches.clamp(max=max_tokens)
    p_max = max(int(n_patches.max()) if b else 0, 1)
    row = torch.arange(b, device=ids.device)[:, None].expand(b, n)
    flat = (row * p_max + ids)[node_mask]  # [n_real] slot of each real atom
    feats = node_feats[node_mask]  # [n_real, D]
    sums = node_feats.new_zeros(b * p_max, d).index_add_(0, flat, feats)
    counts = node_feats.new_zeros(b * p_max).index_add_(0, flat, feats.new_ones(len(flat)))
    tokens = (sums / counts.clamp(min=1).unsqueeze(1)).view(b, p_max, d)  # [B, P_max, D]
    token_mask = (counts > 0).view(b, p_max)
    return PooledPatches(tokens, token_mask, n_merged)

"""Entropy patching rules: padded per-atom entropies -> one patch id per atom.

Every rule is a pure, vectorised function over a padded batch::

    rule(entropy: Tensor [B, N] float, mask: Tensor [B, N] bool, **options) -> LongTensor [B, N]

returning patch ids contiguous from 0 in atom order on real atoms and ``-1`` on padding. A
rule only decides *boundaries*: ``boundary[b, i]`` means "a new patch starts after atom i";
ids are the exclusive cumulative sum of the boundaries, so every atom gets exactly one id and
ids are contiguous by construction. Boundaries after the last real atom are ignored.

Entropy ``H_i`` is the uncertainty about the atom that *follows* atom ``i``; a boundary after
a high-entropy atom makes the hard-to-predict next atom start a new patch (as in Meta's Byte
Latent Transformer, where a high-entropy byte starts a patch).
"""

from __future__ import annotations

import torch
from torch import Tensor

from edtformer.errors import InvalidShapeError


def _check(entropy: Tensor, mask: Tensor) -> None:
    if entropy.dim() != 2 or mask.shape != entropy.shape:
        raise InvalidShapeError(
            "entropy/mask", tuple(entropy.shape), "[B, N] for both entropy and mask"
        )


def _previous(entropy: Tensor, fill: float) -> Tensor:
    """``H_{i-1}`` aligned with ``H_i`` (``fill`` at ``i = 0``). ``[B, N] -> [B, N]``."""
    first = torch.full_like(entropy[:, :1], fill)
    return torch.cat([first, entropy[:, :-1]], dim=1)


def ids_from_boundaries(boundary: Tensor, mask: Tensor, max_patch_len: int | None = None) -> Tensor:
    """Patch ids from "new patch after atom i" flags.

    Args:
        boundary: ``bool [B, N]``.
        mask: ``bool [B, N]``, True on real atoms (a prefix of each row).
        max_patch_len: if given, patches longer than this are split into consecutive pieces
            of at most ``max_patch_len`` atoms.

    Returns:
        ``int64 [B, N]``, ids contiguous from 0 on real atoms, ``-1`` on padding.
    """
    _check(boundary.float(), mask)
    nxt_real = torch.cat([mask[:, 1:], torch.zeros_like(mask[:, :1])], dim=1)
    boundary = boundary & mask & nxt_real  # [B, N]
    if max_patch_len is not None:
        if max_patch_len < 1:
            raise ValueError(f"max_patch_len must be >= 1, got {max_patch_len}")
        n = boundary.shape[1]
        pos = torch.arange(n, device=boundary.device).expand_as(boundary)
        # start[i] = first atom of the patch containing atom i
        starts = torch.where(_previous(boundary.float(), 1.0).bool(), pos, torch.zeros_like(pos))
        start = torch.cummax(starts, dim=1).values
        offset = pos - start  # position of atom i inside its patch
        boundary = boundary | (((offset + 1) % max_patch_len == 0) & mask & nxt_real)
    b = boundary.long()
    ids = torch.cumsum(b, dim=1) - b  # exclusive cumulative sum
    return ids.masked_fill(~mask, -1)


def quantile_rule(entropy: Tensor, mask: Tensor, q: float = 0.75) -> Tensor:
    """The EDT-Former rule: rising edges over the per-molecule ``q``-quantile.

    ``tau`` = the ``q``-quantile (linear interpolation, as ``numpy.percentile``) of the
    molecule's real-atom entropies; a new patch starts after atom ``i >= 1`` when
    ``H_i > tau`` and ``H_{i-1} <= tau``. No minimum or maximum patch size; a molecule with
    uniform entropy is one patch.
    """
    _check(entropy, mask)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q}")
    x = entropy.float()
    tau = torch.nanquantile(x.masked_fill(~mask, float("nan")), q, dim=1, keepdim=True)  # [B, 1]
    prev = _previous(x, float("inf"))  # no edge at atom 0
    return ids_from_boundaries((x > tau) & (prev <= tau), mask)


def threshold_rule(
    entropy: Tensor, mask: Tensor, threshold: float = 1.0, max_patch_len: int | None = None
) -> Tensor:
    """BLT global threshold: a new patch starts after every atom with ``H_i > threshold``."""
    _check(entropy, mask)
    return ids_from_boundaries(entropy > threshold, mask, max_patch_len)


def monotonic_rule(
    entropy: Tensor, mask: Tensor, margin: float = 0.2, max_patch_len: int | None = None
) -> Tensor:
    """BLT monotonic: a new patch starts after atom ``i >= 1`` when ``H_i - H_{i-1} > margin``."""
    _check(entropy, mask)
    x = entropy.float()
    rise = x - _previous(x, float("inf"))
    return ids_from_boundaries(rise > margin, mask, max_patch_len)

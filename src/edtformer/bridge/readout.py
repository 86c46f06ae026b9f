"""A learned molecule-level read-out of the frozen encoder streams (the blood-brain-barrier estimate).

:class:`BBBReadout` pools every stream over the atoms (masked mean, then masked max), standardises
the pooled vector with statistics saved beside the weights, and applies one linear layer: the
logit of P(BBB+). It is fitted LLM-free by logistic regression on the BBBP *train* molecules
(:func:`edtformer.training.recipe.fit_bbb_head`, L2 strength chosen on valid) and then frozen;
the fact sheet writes its probability as a labelled estimate. It holds no RDKit code: it sees
tensors only.

Shapes: ``node_feats`` one ``[B, N, D_s]`` tensor per stream, ``node_mask [B, N]`` ->
logits ``[B]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


def pool_mean_max(node_feats: Sequence[Tensor], node_mask: Tensor) -> Tensor:
    """Masked mean, then masked max, of every stream over the atoms: float ``[B, 2 sum D_s]``.

    A molecule without real rows pools to zeros (never NaN or -inf)."""
    m = node_mask.unsqueeze(-1)  # [B, N, 1]
    n = m.sum(1).clamp_min(1).float()  # [B, 1]
    means = [(h.float() * m).sum(1) / n for h in node_feats]  # [B, D_s] each
    peaks = [h.float().masked_fill(~m, float("-inf")).amax(1) for h in node_feats]
    peaks = [torch.where(torch.isfinite(x), x, torch.zeros_like(x)) for x in peaks]
    return torch.cat([*means, *peaks], dim=-1)


class BBBReadout(nn.Module):
    """Logistic read-out of P(BBB+) from the pooled frozen streams.

    Args:
        widths: node-feature width of each encoder stream.
    """

    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        dim = 2 * int(sum(widths))
        self.bbb = nn.Linear(dim, 1)
        self.register_buffer("bbb_mean", torch.zeros(dim))
        self.register_buffer("bbb_std", torch.ones(dim))
        self.bbb_mean: Tensor
        self.bbb_std: Tensor
        self.requires_grad_(False)  # fitted by logistic regression, never by the answer loss

    @staticmethod
    def pool_mean_max(node_feats: Sequence[Tensor], node_mask: Tensor) -> Tensor:
        """See :func:`pool_mean_max`."""
        return pool_mean_max(node_feats, node_mask)

    def bbb_readout(self, pooled2: Tensor) -> Tensor:
        """Logits ``[B]`` from :func:`pool_mean_max` output ``[B, 2 sum D_s]``."""
        x = (pooled2.float() - self.bbb_mean) / self.bbb_std
        return self.bbb(x)[:, 0]

    def forward(self, node_feats: Sequence[Tensor], node_mask: Tensor) -> Tensor:
        """P(BBB+) ``[B]``."""
        return torch.sigmoid(self.bbb_readout(pool_mean_max(node_feats, node_mask)))

"""Stage-1 text tower: a small transformer over text tokens that reads the bridge's query states.

BLIP-2 trains its Q-Former against text with three objectives that need a text model. Ours is a
separate small tower (discarded after stage 1; only the bridge is kept) used in three modes:

- ``encode``: bidirectional self-attention, no cross-attention -> text CLS for contrastive loss;
- ``match``: bidirectional self-attention + cross-attention to the query states -> CLS for
  graph-text matching;
- ``caption``: causal self-attention + cross-attention to the query states -> next-token logits
  for query-conditioned text generation.

Reference: Li et al., BLIP-2 (arXiv:2301.12597), §3.1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edtformer.bridge.layers import FeedForward, MaskedAttention


class TextLayer(nn.Module):
    """Pre-norm layer: (causal) self-attention, optional cross-attention to queries, MLP.

    Shapes:
        - x: ``[B, T, W]``, text_mask: bool ``[B, T]``
        - queries: ``[B, Q, W]``, query_mask: bool ``[B, Q]`` (only when cross-attending)
        - output: ``[B, T, W]``
    """

    def __init__(self, width: int, n_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.cross = MaskedAttention(width, n_heads)
        self.norm3 = nn.LayerNorm(width)
        self.mlp = FeedForward(width, mlp_ratio)

    def forward(
        self,
        x: Tensor,
        text_mask: Tensor,
        causal: bool,
        queries: Tensor | None = None,
        query_mask: Tensor | None = None,
    ) -> Tensor:
        b, t, w = x.shape
        hd = w // self.n_heads
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.n_heads, hd).permute(2, 0, 3, 1, 4)
        mask = text_mask[:, None, None, :]  # [B, 1, 1, T]
        if causal:
            tri = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            mask = mask & tri  # [B, 1, T, T]
        mask = mask | ~mask.any(dim=-1, keepdim=True)  # rows with no key: avoid NaN
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # [B, H, T, hd]
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, w))
        if queries is not None and query_mask is not None:
            x = x + self.cross(self.norm2(x), queries, query_mask)
        return x + self.mlp(self.norm3(x))


class TextTower(nn.Module):
    """Token embedding + positions + ``n_layers`` :class:`TextLayer` + final norm.

    A learned CLS vector is prepended in ``encode``/``match`` modes; ``caption`` mode starts from
    a learned BOS vector so that position ``t`` predicts token ``t``.

    Shapes:
        - ids: int64 ``[B, T]``; mask: bool ``[B, T]``
        - output of :meth:`forward`: ``[B, T + 1, W]`` (position 0 is CLS/BOS)
    """

    def __init__(
        self, vocab_size: int, width: int, n_layers: int, n_heads: int, max_len: int = 64
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.embed = nn.Embedding(vocab_size, width)
        self.pos = nn.Parameter(torch.zeros(max_len + 1, width))
        self.cls = nn.Parameter(torch.zeros(width))
        self.bos = nn.Parameter(torch.zeros(width))
        self.layers = nn.ModuleList(TextLayer(width, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(width)
        for p in (self.pos, self.cls, self.bos):
            nn.init.normal_(p, std=0.02)
        nn.init.normal_(self.embed.weight, std=0.02)

    def forward(
        self,
        ids: Tensor,
        mask: Tensor,
        mode: str,
        queries: Tensor | None = None,
        query_mask: Tensor | None = None,
    ) -> Tensor:
        """Run the tower in ``mode`` (``encode``, ``match`` or ``caption``)."""
        b, t = ids.shape
        start = (self.bos if mode == "caption" else self.cls).expand(b, 1, -1)
        x = torch.cat([start, self.embed(ids)], dim=1) + self.pos[: t + 1]  # [B, T+1, W]
        full_mask = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)  # [B, T+1]
        cross = mode in ("match", "caption")
        for layer in self.layers:
            x = layer(
                x,
                full_mask,
                causal=mode == "caption",
                queries=queries if cross else None,
                query_mask=query_mask if cross else None,
            )
        return self.norm(x)

"""Building blocks of the bridge: masked attention, the query layer and the stream blender.

All attention here is masked on the key side with boolean masks (True = real). Rows that belong
to padded *queries* are computed but zeroed after every layer, so they never carry values into a
real slot and never reach the LLM.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class MaskedAttention(nn.Module):
    """Multi-head attention of queries ``x`` over keys/values ``kv`` with a key padding mask.

    Shapes:
        - x: ``[B, Q, W]``; kv: ``[B, S, W]``; kv_mask: bool ``[B, S]`` (True = attend)
        - output: ``[B, Q, W]``
    """

    def __init__(self, width: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.q = nn.Linear(width, width)
        self.kv = nn.Linear(width, 2 * width)
        self.out = nn.Linear(width, width)
        self.dropout = dropout

    def forward(self, x: Tensor, kv: Tensor, kv_mask: Tensor) -> Tensor:
        b, q_len, w = x.shape
        hd = w // self.n_heads
        q = self.q(x).view(b, q_len, self.n_heads, hd).transpose(1, 2)  # [B, H, Q, hd]
        k, v = self.kv(kv).view(b, kv.shape[1], 2, self.n_heads, hd).permute(2, 0, 3, 1, 4)
        # a row with no real key (only possible for an all-padding sample) attends everywhere;
        # its output is zeroed by the caller, this only avoids NaNs
        kv_mask = kv_mask | ~kv_mask.any(dim=-1, keepdim=True)
        mask = kv_mask[:, None, None, :]  # [B, 1, 1, S]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0
        )  # [B, H, Q, hd]
        return self.out(y.transpose(1, 2).reshape(b, q_len, w))


class FeedForward(nn.Module):
    """Two-layer GELU MLP ``W -> ratio*W -> W``."""

    def __init__(self, width: int, ratio: float, dropout: float = 0.0) -> None:
        super().__init__()
        hidden = int(width * ratio)
        self.net = nn.Sequential(
            nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width), nn.Dropout(dropout)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class QueryLayer(nn.Module):
    """One Dynamic Query Transformer layer (pre-norm).

    ``x = x + SelfAttn(x | query_mask)``; ``x = x + CrossAttn(x, nodes | node_mask)``;
    ``x = x + MLP(x)``; padded query rows are zeroed.

    Shapes:
        - x: ``[B, Q, W]``, query_mask: bool ``[B, Q]``
        - nodes: ``[B, S, W]``, node_mask: bool ``[B, S]``
        - output: ``[B, Q, W]``
    """

    def __init__(self, width: int, n_heads: int, mlp_ratio: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(width)
        self.self_attn = MaskedAttention(width, n_heads, dropout)
        self.norm_cross = nn.LayerNorm(width)
        self.norm_nodes = nn.LayerNorm(width)
        self.cross_attn = MaskedAttention(width, n_heads, dropout)
        self.norm_mlp = nn.LayerNorm(width)
        self.mlp = FeedForward(width, mlp_ratio, dropout)

    def forward(self, x: Tensor, query_mask: Tensor, nodes: Tensor, node_mask: Tensor) -> Tensor:
        keep = query_mask.unsqueeze(-1).to(x.dtype)  # [B, Q, 1]
        h = self.norm_self(x)
        x = x + self.self_attn(h, h, query_mask)
        x = x + self.cross_attn(self.norm_cross(x), self.norm_nodes(nodes), node_mask)
        x = x + self.mlp(self.norm_mlp(x))
        return x * keep


class StreamBlender(nn.Module):
    """Project each encoder stream to the bridge width and let the streams attend to each other.

    With one stream this is a single linear projection. With ``S > 1`` streams (fused encoders,
    all aligned on the same RDKit atoms), each stream is projected, tagged with a learned stream
    embedding, and ``n_layers`` masked self-attention layers run over all ``S * N`` node rows.

    Shapes:
        - streams: ``S`` tensors ``[B, N, D_s]``; node_mask: bool ``[B, N]``
        - output: ``[B, S, N, W]`` (padding rows zero)
    """

    def __init__(
        self,
        widths: tuple[int, ...],
        width: int,
        n_heads: int,
        mlp_ratio: float,
        n_layers: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(d, width) for d in widths)
        self.fused = len(widths) > 1
        if self.fused:
            self.stream_embed = nn.Parameter(torch.zeros(len(widths), width))
            nn.init.normal_(self.stream_embed, std=0.02)
            self.blocks = nn.ModuleList(
                _SelfBlock(width, n_heads, mlp_ratio, dropout) for _ in range(n_layers)
            )

    def forward(self, streams: list[Tensor], node_mask: Tensor) -> Tensor:
        keep = node_mask.unsqueeze(-1)  # [B, N, 1]
        xs = [p(h) for p, h in zip(self.proj, streams, strict=True)]  # S x [B, N, W]
        if not self.fused:
            return (xs[0] * keep).unsqueeze(1)  # [B, 1, N, W]
        b, n, w = xs[0].shape
        x = torch.stack(xs, dim=1) + self.stream_embed[None, :, None, :]  # [B, S, N, W]
        s = x.shape[1]
        flat = x.reshape(b, s * n, w)  # [B, S*N, W]
        flat_mask = node_mask.repeat(1, s)  # [B, S*N]
        for block in self.blocks:
            flat = block(flat, flat_mask)
        return flat.view(b, s, n, w) * keep.unsqueeze(1)


class _SelfBlock(nn.Module):
    """Pre-norm masked self-attention + MLP block (used by :class:`StreamBlender`)."""

    def __init__(self, width: int, n_heads: int, mlp_ratio: float, dropout: float) -> None:
        super().__init__()
        self.norm_attn = nn.LayerNorm(width)
        self.attn = MaskedAttention(width, n_heads, dropout)
        self.norm_mlp = nn.LayerNorm(width)
        self.mlp = FeedForward(width, mlp_ratio, dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.norm_attn(x)
        x = x + self.attn(h, h, mask)
        x = x + self.mlp(self.norm_mlp(x))
        return x * mask.unsqueeze(-1).to(x.dtype)

"""Next-Atom Predictor: a small GPT-2-style causal transformer over the atom sequence.

Input position 0 is ``<bos>``; position ``i + 1`` holds atom ``i`` (token + context embedding +
learned position). The output at position ``i + 1`` is the distribution over the atom that
follows atom ``i`` (or ``<eos>``), whose entropy is ``H_i``. Sequences are right-padded;
causal attention means padding never influences real positions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edtformer.entropy.tokens import BOS_ID, N_CONTEXT, PAD_ID
from edtformer.errors import InvalidShapeError


@dataclass
class NextAtomConfig:
    """Sizes of the Next-Atom Predictor (defaults: the reference ~0.5M-parameter model)."""

    vocab_size: int = 64
    """Number of atom tokens including the four specials."""
    n_context: int = N_CONTEXT
    """Number of per-atom context ids (previous bond x degree x ring)."""
    max_len: int = 128
    """Longest input sequence (``<bos>`` + atoms) the position table covers."""
    n_layer: int = 2
    """Transformer blocks."""
    n_head: int = 2
    """Attention heads per block."""
    d_model: int = 128
    """Residual width."""
    mlp_ratio: int = 4
    """MLP hidden width = ``mlp_ratio * d_model``."""
    dropout: float = 0.0
    """Dropout on embeddings, attention output and MLP output (training only)."""
    activation: str = "gelu"
    """MLP activation: ``"gelu"`` (exact, erf; ~4x faster on CPU) or ``"gelu_tanh"`` (GPT-2's)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NextAtomConfig:
        """Inverse of :meth:`to_dict` (unknown keys are rejected).

        Configs written before ``activation`` existed used GPT-2's tanh GELU.
        """
        return cls(**{"activation": "gelu_tanh", **data})

    @classmethod
    def tiny(cls, vocab_size: int = 64) -> NextAtomConfig:
        """A very small model for tests."""
        return cls(vocab_size=vocab_size, max_len=32, n_layer=1, n_head=2, d_model=32)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention (``scaled_dot_product_attention`` with ``is_causal``).

    Shapes:
        x: ``[B, T, D]`` -> ``[B, T, D]``.
    """

    def __init__(self, cfg: NextAtomConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.n_head:
            raise ValueError(f"d_model={cfg.d_model} is not divisible by n_head={cfg.n_head}")
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def forward(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)  # 3 x [B, T, D]
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )  # [B, H, T, D/H]
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class MLP(nn.Module):
    """GPT-2 feed-forward block: ``Linear -> GELU -> Linear``. Shapes: ``[B, T, D] -> [B, T, D]``."""

    def __init__(self, cfg: NextAtomConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.activation not in ("gelu", "gelu_tanh"):
            raise ValueError(f"activation must be 'gelu' or 'gelu_tanh', got {cfg.activation!r}")
        self.approximate = "tanh" if cfg.activation == "gelu_tanh" else "none"

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.proj(F.gelu(self.fc(x), approximate=self.approximate)))


class Block(nn.Module):
    """Pre-LayerNorm transformer block. Shapes: ``[B, T, D] -> [B, T, D]``."""

    def __init__(self, cfg: NextAtomConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.mlp(self.ln2(x))


class NextAtomPredictor(nn.Module):
    """GPT-2-style next-atom language model with per-atom context embeddings.

    Shapes:
        ids: ``int64 [B, T]`` token ids (``ids[:, 0] == <bos>``; right padding with ``<pad>``).
        ctx: ``int64 [B, T]`` context ids (0 for ``<bos>`` and padding).
        returns: logits ``float [B, T, vocab_size]``; ``<pad>`` and ``<bos>`` are never predicted
        (their logits are ``-inf``).
    """

    def __init__(self, cfg: NextAtomConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.ctx_emb = nn.Embedding(cfg.n_context, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying (GPT-2)
        never = torch.zeros(cfg.vocab_size, dtype=torch.bool)
        never[[PAD_ID, BOS_ID]] = True
        self.register_buffer("never_predicted", never, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer)."""
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = (
                    0.02 / math.sqrt(2 * self.cfg.n_layer) if name.endswith("proj.weight") else 0.02
                )
                nn.init.normal_(p, 0.0, std)
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def num_parameters(self) -> int:
        """Number of distinct parameters (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids: Tensor, ctx: Tensor) -> Tensor:
        if ids.dim() != 2 or ctx.shape != ids.shape:
            raise InvalidShapeError("ids/ctx", tuple(ids.shape), "[B, T] for both ids and ctx")
        t = ids.shape[1]
        if t > self.cfg.max_len:
            raise InvalidShapeError("ids", tuple(ids.shape), f"[B, T <= {self.cfg.max_len}]")
        pos = torch.arange(t, device=ids.device)
        x = self.drop(self.tok_emb(ids) + self.ctx_emb(ctx) + self.pos_emb(pos))  # [B, T, D]
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln_f(x))  # [B, T, V]
        return logits.masked_fill(self.never_predicted, float("-inf"))


def entropy_bits(logits: Tensor) -> Tensor:
    """Shannon entropy in bits of ``softmax(logits)`` over the last axis. ``[..., V] -> [...]``."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    return -(p * logp.nan_to_num(neginf=0.0)).sum(-1) / math.log(2.0)

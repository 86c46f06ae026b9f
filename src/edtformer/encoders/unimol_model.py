"""Uni-Mol's molecular encoder in plain PyTorch (Zhou et al., ICLR 2023, https://openreview.net/forum?id=6K2RM6wVqKu).

An SE(3)-invariant transformer over atoms with 3D coordinates:

1. atom tokens (element symbols in :data:`UNIMOL_MOL_DICT`, framed by ``[CLS]`` ... ``[SEP]``)
   are embedded and layer-normed;
2. every atom pair gets a Gaussian kernel expansion (``K = 128``) of its distance after a
   learnt affine map chosen by the pair of atom types (:class:`GaussianPairKernel`), turned
   into one attention bias per head by a two-layer MLP (:class:`NonLinearHead`);
3. pre-norm transformer layers (:class:`PairBiasEncoderLayer`) attend with that bias, and each
   layer's pre-softmax attention logits become the next layer's bias (the "pair
   representation" is updated layer by layer);
4. a final layer norm gives the atom features.

Parameter names follow the official checkpoint's ``model`` state dict (``embed_tokens.weight``,
``gbf.means.weight``, ``gbf_proj.linear1.weight``, ``encoder.layers.N.self_attn.in_proj.weight``,
...) so that :mod:`edtformer.encoders.unimol_checkpoint` loads it with ``strict=True``.
Distances only enter through the kernel, so the output is invariant to rotating and translating
the coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

#: Uni-Mol's molecule dictionary (``example_data/molecule/dict.txt``) with the ``[MASK]`` token
#: its tasks append: token id = position. Checkpoints of the molecular model have 31 rows.
UNIMOL_MOL_DICT: tuple[str, ...] = (
    "[PAD]", "[CLS]", "[SEP]", "[UNK]",
    "C", "N", "O", "S", "H", "Cl", "F", "Br", "I", "Si", "P", "B", "Na", "K", "Al", "Ca",
    "Sn", "As", "Hg", "Fe", "Zn", "Cr", "Se", "Gd", "Au", "Li",
    "[MASK]",
)  # fmt: skip
PAD, CLS, SEP, UNK = 0, 1, 2, 3
#: The official kernel computes the Gaussian's normaliser with this value of pi.
_PI = 3.14159


def token_ids(symbols: list[str]) -> list[int]:
    """Dictionary ids of element symbols; symbols not in the dictionary map to ``[UNK]``."""
    index = {s: i for i, s in enumerate(UNIMOL_MOL_DICT)}
    return [index.get(s, UNK) for s in symbols]


@dataclass(frozen=True)
class UniMolConfig:
    """Sizes of a Uni-Mol encoder.

    Attributes:
        layers: transformer layers (15 in the molecular pretraining model).
        width: atom feature width ``D`` (512).
        heads: attention heads, also the width of the pair representation (64).
        ffn: feed-forward width (2048).
        kernels: Gaussian kernels per atom pair ``K`` (128).
        vocab: token dictionary size (31: :data:`UNIMOL_MOL_DICT`).
    """

    layers: int = 15
    width: int = 512
    heads: int = 64
    ffn: int = 2048
    kernels: int = 128
    vocab: int = len(UNIMOL_MOL_DICT)

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by heads {self.heads}")

    @classmethod
    def paper(cls) -> UniMolConfig:
        """The released molecular model: 15 layers, width 512, 64 heads, FFN 2048."""
        return cls()

    @classmethod
    def tiny(cls) -> UniMolConfig:
        """A 2-layer, width-16, 4-head model for tests."""
        return cls(layers=2, width=16, heads=4, ffn=32, kernels=8)


class GaussianPairKernel(nn.Module):
    """Gaussian basis of pair distances after a per-pair-type affine map.

    ``x = mul[t] * d + bias[t]`` with ``t = type_i * vocab + type_j``, then
    ``exp(-((x - mean_k) / std_k)^2 / 2) / (sqrt(2 pi) std_k)`` for ``k < K``.

    Shapes:
        - dist: ``[B, T, T]`` (Å), pair_type: ``[B, T, T]`` long
        - output: ``[B, T, T, K]``
    """

    def __init__(self, kernels: int, pair_types: int) -> None:
        super().__init__()
        self.means = nn.Embedding(1, kernels)
        self.stds = nn.Embedding(1, kernels)
        self.mul = nn.Embedding(pair_types, 1)
        self.bias = nn.Embedding(pair_types, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: means, stds ~ U(0, 3); identity affine."""
        nn.init.uniform_(self.means.weight, 0.0, 3.0)
        nn.init.uniform_(self.stds.weight, 0.0, 3.0)
        nn.init.ones_(self.mul.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, dist: torch.Tensor, pair_type: torch.Tensor) -> torch.Tensor:
        x = self.mul(pair_type).squeeze(-1) * dist + self.bias(pair_type).squeeze(-1)  # [B, T, T]
        mean = self.means.weight.view(-1)  # [K]
        std = self.stds.weight.view(-1).abs() + 1e-5  # [K]
        z = (x.unsqueeze(-1) - mean) / std  # [B, T, T, K]
        return torch.exp(-0.5 * z * z) / (math.sqrt(2 * _PI) * std)


class NonLinearHead(nn.Module):
    """``linear2(gelu(linear1(x)))``: maps the kernel features to one bias per head.

    Shapes:
        - input: ``[..., d_in]``; output: ``[..., d_out]``
    """

    def __init__(self, d_in: int, d_out: int, hidden: int | None = None) -> None:
        super().__init__()
        self.linear1 = nn.Linear(d_in, hidden or d_in)
        self.linear2 = nn.Linear(hidden or d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(F.gelu(self.linear1(x)))


class PairBiasSelfAttention(nn.Module):
    """Multi-head self-attention whose logits get an additive per-head pair bias.

    Shapes:
        - x: ``[B, T, D]``; bias: ``[B, H, T, T]`` (``-inf`` at padded keys)
        - output: ``([B, T, D], logits [B, H, T, T])`` — the biased pre-softmax logits are the
          next layer's bias.
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = width // heads
        self.in_proj = nn.Linear(width, 3 * width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, d = x.shape
        q, k, v = (
            y.view(b, t, self.heads, self.head_dim).transpose(1, 2)  # [B, H, T, d_h]
            for y in self.in_proj(x).chunk(3, dim=-1)
        )
        logits = (q * self.head_dim**-0.5) @ k.transpose(-1, -2) + bias  # [B, H, T, T]
        out = torch.softmax(logits, dim=-1) @ v  # [B, H, T, d_h]
        return self.out_proj(out.transpose(1, 2).reshape(b, t, d)), logits


class PairBiasEncoderLayer(nn.Module):
    """Pre-norm transformer layer: ``x + attn(ln(x), bias)``, then ``x + fc2(gelu(fc1(ln(x))))``.

    Shapes:
        - x: ``[B, T, D]``; bias: ``[B, H, T, T]``
        - output: ``([B, T, D], new bias [B, H, T, T])``
    """

    def __init__(self, width: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.self_attn = PairBiasSelfAttention(width, heads)
        self.self_attn_layer_norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, ffn)
        self.fc2 = nn.Linear(ffn, width)
        self.final_layer_norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h, bias = self.self_attn(self.self_attn_layer_norm(x), bias)
        x = x + h
        x = x + self.fc2(F.gelu(self.fc1(self.final_layer_norm(x))))
        return x, bias


class PairBiasEncoder(nn.Module):
    """The layer stack with the embedding and final layer norms (official ``encoder.*`` keys).

    Shapes:
        - x: ``[B, T, D]`` token embeddings; bias: ``[B, H, T, T]``; padding: bool ``[B, T]``
        - output: ``[B, T, D]``
    """

    def __init__(self, config: UniMolConfig) -> None:
        super().__init__()
        self.emb_layer_norm = nn.LayerNorm(config.width)
        self.layers = nn.ModuleList(
            PairBiasEncoderLayer(config.width, config.heads, config.ffn)
            for _ in range(config.layers)
        )
        self.final_layer_norm = nn.LayerNorm(config.width)

    def forward(self, x: torch.Tensor, bias: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        x = self.emb_layer_norm(x) * (~padding).unsqueeze(-1).to(x.dtype)  # [B, T, D]
        bias = bias.masked_fill(padding[:, None, None, :], float("-inf"))  # [B, H, T, T]
        for layer in self.layers:
            x, bias = layer(x, bias)
        return self.final_layer_norm(x)


class UniMolModel(nn.Module):
    """Uni-Mol's molecular encoder: tokens + coordinates -> per-token features.

    Shapes:
        - tokens: long ``[B, T]`` (``[CLS]`` atoms ``[SEP]``, then ``[PAD]``)
        - coords: float ``[B, T, 3]`` (Å; ``[CLS]``/``[SEP]`` at the atoms' centroid, the origin)
        - output: ``[B, T, D]`` (rows of ``[PAD]`` tokens are meaningless)
    """

    def __init__(self, config: UniMolConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab, config.width, padding_idx=PAD)
        self.gbf = GaussianPairKernel(config.kernels, config.vocab * config.vocab)
        self.gbf_proj = NonLinearHead(config.kernels, config.heads)
        self.encoder = PairBiasEncoder(config)

    def pair_bias(self, tokens: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """The first layer's attention bias ``[B, H, T, T]`` from distances and atom types."""
        dist = (coords.unsqueeze(2) - coords.unsqueeze(1)).norm(dim=-1)  # [B, T, T]
        pair_type = tokens.unsqueeze(-1) * self.config.vocab + tokens.unsqueeze(-2)  # [B, T, T]
        bias = self.gbf_proj(self.gbf(dist, pair_type))  # [B, T, T, H]
        return bias.permute(0, 3, 1, 2).contiguous()

    def forward(self, tokens: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        padding = tokens.eq(PAD)  # [B, T]
        return self.encoder(self.embed_tokens(tokens), self.pair_bias(tokens, coords), padding)

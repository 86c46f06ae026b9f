"""The Dynamic Query Transformer (EDT-Former's bridge) and the output type every connector returns.

Queries = ``K`` learned modality anchors + ``P`` dynamic tokens (patch means of the projected
node features, one per entropy patch / BRICS fragment). Each of ``L`` layers runs masked
self-attention among the queries, cross-attention to the node features of every encoder stream,
and an MLP. A final projection maps the query states to the LLM's hidden width.

Padded query slots (molecules with fewer than ``P_max`` patches) are masked as keys everywhere,
zeroed after every layer, and dropped by :meth:`BridgeOutput.flat` so that the LLM sees exactly
``K + P_b`` tokens for molecule ``b``.

Reference: Li et al., BLIP-2 (arXiv:2301.12597) for the Q-Former; EDT-Former (arXiv:2602.02742).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edtformer.bridge.config import BridgeConfig
from edtformer.bridge.layers import QueryLayer, StreamBlender
from edtformer.bridge.stereo import StereoEmbedding
from edtformer.errors import InvalidShapeError
from edtformer.pooling import count_patches, patch_membership, pool_membership

logger = logging.getLogger(__name__)


@dataclass
class BridgeOutput:
    """Molecule tokens for a batch of ``B`` molecules.

    Attributes:
        tokens: float ``[B, Q, d_llm]`` in LLM width; zero on padded slots.
        mask: bool ``[B, Q]``; True on the tokens the LLM sees (anchors first, then dynamic).
        query_states: float ``[B, Q, W]`` before the LLM projection (for stage-1 heads).
        n_anchors: anchors per molecule (same for all molecules).
        n_dynamic: int64 ``[B]``; real dynamic tokens (or atom tokens for ``mlp``) per molecule.
        n_dropped: int64 ``[B]``; patches cut by ``max_dynamic_tokens``.
    """

    tokens: Tensor
    mask: Tensor
    query_states: Tensor
    n_anchors: int
    n_dynamic: Tensor
    n_dropped: Tensor

    @property
    def n_tokens(self) -> Tensor:
        """Tokens per molecule the LLM sees, int64 ``[B]``."""
        return self.mask.sum(dim=1)

    def flat(self) -> Tensor:
        """The real tokens of all molecules, in order, ``[sum_b n_tokens_b, d_llm]``."""
        return self.tokens[self.mask]

    def unpad(self) -> list[Tensor]:
        """One ``[n_tokens_b, d_llm]`` tensor per molecule."""
        return [self.tokens[b][self.mask[b]] for b in range(self.tokens.shape[0])]


def check_streams(streams: Sequence[Tensor], node_mask: Tensor, widths: tuple[int, ...]) -> None:
    """Raise :class:`InvalidShapeError` unless ``streams`` are ``[B, N, D_s]`` matching ``node_mask``."""
    if len(streams) != len(widths):
        raise InvalidShapeError("node feature streams", (len(streams),), f"{len(widths)} streams")
    if node_mask.dim() != 2:
        raise InvalidShapeError("node_mask", tuple(node_mask.shape), "[B, N]")
    for s, (h, d) in enumerate(zip(streams, widths, strict=True)):
        if h.dim() != 3 or tuple(h.shape[:2]) != tuple(node_mask.shape) or h.shape[2] != d:
            raise InvalidShapeError(
                f"node_feats[{s}]",
                tuple(h.shape),
                f"[B, N, {d}] with B, N = {tuple(node_mask.shape)}",
            )


class DynamicQueryTransformer(nn.Module):
    """Anchors + dynamic tokens attending to node features; serves ``edt``, ``anchors_only``, ``dynamic_only``.

    Shapes:
        - node_feats: ``S`` streams ``[B, N, D_s]``; node_mask: bool ``[B, N]``
        - patch_ids: int64 ``[B, N]`` or ``[B, G, N]`` (-1 on padding); unused by ``anchors_only``
        - stereo: int64 ``[B, N, 3]`` (with ``stereo_embedding``)
        - instruction: float ``[B, T, d_llm]`` frozen LLM embeddings of each molecule's question,
          instruction_mask: bool ``[B, T]`` (with ``instruction_aware``)
        - output: :class:`BridgeOutput` with ``Q = K + P_max``
    """

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.blender = StreamBlender(
            config.encoder_widths,
            w,
            config.n_heads,
            config.mlp_ratio,
            config.n_blend_layers,
            config.dropout,
        )
        self.stereo = StereoEmbedding(w) if config.stereo_embedding else None
        self.anchors = nn.Parameter(torch.zeros(config.anchors, w)) if config.uses_anchors else None
        self.dynamic_proj = nn.Linear(w, w) if config.uses_dynamic else None
        # tells anchor slots from dynamic slots (dynamic tokens carry no learned identity otherwise)
        self.slot_type = nn.Parameter(torch.zeros(2, w))
        self.layers = nn.ModuleList(
            QueryLayer(w, config.n_heads, config.mlp_ratio, config.dropout)
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(w)
        self.llm_proj = nn.Linear(w, config.llm_width)
        # instruction-aware queries: the question's LLM token embeddings, projected to W
        self.instr_proj = (
            nn.Sequential(nn.LayerNorm(config.llm_width), nn.Linear(config.llm_width, w))
            if config.instruction_aware
            else None
        )
        self.token_gain = nn.Parameter(torch.ones(1)) if config.token_norm > 0 else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Anchors and slot embeddings ~ N(0, 0.02) (as BLIP-2's ``query_tokens``)."""
        if self.anchors is not None:
            nn.init.normal_(self.anchors, std=0.02)
        nn.init.normal_(self.slot_type, std=0.02)

    def num_tokens(self, node_mask: Tensor, patch_ids: Tensor | None) -> Tensor:
        """Tokens per molecule the LLM will see, int64 ``[B]``, without running the network."""
        n = torch.full(
            (node_mask.shape[0],), self.config.anchors, dtype=torch.long, device=node_mask.device
        )
        if self.config.uses_dynamic:
            assert patch_ids is not None, "dynamic connectors need patch_ids"
            n = n + count_patches(patch_ids, node_mask).clamp(max=self.config.max_dynamic_tokens)
        return n

    def forward(
        self,
        node_feats: Sequence[Tensor],
        node_mask: Tensor,
        patch_ids: Tensor | None = None,
        stereo: Tensor | None = None,
        instruction: Tensor | None = None,
        instruction_mask: Tensor | None = None,
    ) -> BridgeOutput:
        cfg = self.config
        check_streams(node_feats, node_mask, cfg.encoder_widths)
        b = node_mask.shape[0]
        dev = node_mask.device
        streams = self.blender(list(node_feats), node_mask)  # [B, S, N, W]
        if self.stereo is not None:
            if stereo is None:
                raise InvalidShapeError(
                    "stereo", (), "[B, N, 3] stereo codes (stereo_embedding=True)"
                )
            extra = self.stereo(stereo) * node_mask.unsqueeze(-1).to(streams.dtype)  # [B, N, W]
            streams = streams + extra.unsqueeze(1)
        s, n, w = streams.shape[1:]
        nodes = streams.reshape(b, s * n, w)  # [B, S*N, W]
        nodes_mask = node_mask.repeat(1, s)  # [B, S*N]

        parts: list[Tensor] = []
        masks: list[Tensor] = []
        if self.anchors is not None:
            parts.append(
                (self.anchors + self.slot_type[0]).unsqueeze(0).expand(b, -1, -1)
            )  # [B, K, W]
            masks.append(torch.ones(b, cfg.anchors, dtype=torch.bool, device=dev))
        n_dynamic = torch.zeros(b, dtype=torch.long, device=dev)
        n_dropped = torch.zeros(b, dtype=torch.long, device=dev)
        if self.dynamic_proj is not None:
            if patch_ids is None:
                raise InvalidShapeError(
                    "patch_ids", (), f"[B, N] patch ids (connector {cfg.connector!r} needs them)"
                )
            member = patch_membership(patch_ids, node_mask, cfg.max_dynamic_tokens)
            pooled = torch.stack([pool_membership(streams[:, i], member) for i in range(s)]).mean(
                0
            )  # [B, P, W]
            parts.append(self.dynamic_proj(pooled) + self.slot_type[1])
            masks.append(member.mask)
            n_dynamic, n_dropped = member.n_tokens, member.n_dropped
            if bool((n_dropped > 0).any()):
                logger.info(
                    "max_dynamic_tokens=%d dropped %d patches in %d of %d molecules",
                    cfg.max_dynamic_tokens,
                    int(n_dropped.sum()),
                    int((n_dropped > 0).sum()),
                    b,
                )
        x = torch.cat(parts, dim=1)  # [B, Q, W]
        query_mask = torch.cat(masks, dim=1)  # [B, Q]
        if self.instr_proj is not None:
            instr, instr_mask = self._instruction(instruction, instruction_mask, b)
            # every query starts from the question's mean and can look up its words
            m = instr_mask.unsqueeze(-1).to(instr.dtype)  # [B, T, 1]
            x = x + ((instr * m).sum(1) / m.sum(1).clamp_min(1.0)).unsqueeze(1)  # [B, Q, W]
            nodes = torch.cat([nodes, instr], dim=1)  # [B, S*N + T, W]
            nodes_mask = torch.cat([nodes_mask, instr_mask], dim=1)
        x = x * query_mask.unsqueeze(-1).to(x.dtype)
        for layer in self.layers:
            x = layer(x, query_mask, nodes, nodes_mask)
        states = self.norm(x) * query_mask.unsqueeze(-1).to(x.dtype)  # [B, Q, W]
        tokens = self.llm_proj(states)  # [B, Q, d_llm]
        if self.token_gain is not None:
            tokens = F.normalize(tokens, dim=-1) * (cfg.token_norm * self.token_gain)
        tokens = tokens * query_mask.unsqueeze(-1).to(x.dtype)
        return BridgeOutput(tokens, query_mask, states, cfg.anchors, n_dynamic, n_dropped)

    def _instruction(
        self, instruction: Tensor | None, mask: Tensor | None, b: int
    ) -> tuple[Tensor, Tensor]:
        """Projected question embeddings ``[B, T, W]`` and their mask ``[B, T]``."""
        assert self.instr_proj is not None
        d = self.config.llm_width
        if instruction is None or instruction.dim() != 3 or instruction.shape[::2] != (b, d):
            got = () if instruction is None else tuple(instruction.shape)
            raise InvalidShapeError("instruction", got, f"[{b}, T, {d}] (instruction_aware=True)")
        if mask is None:
            mask = torch.ones(instruction.shape[:2], dtype=torch.bool, device=instruction.device)
        if tuple(mask.shape) != tuple(instruction.shape[:2]):
            raise InvalidShapeError("instruction_mask", tuple(mask.shape), "[B, T] of instruction")
        return self.instr_proj(instruction) * mask.unsqueeze(-1), mask.bool()

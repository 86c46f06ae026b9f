"""Connector variants behind one interface, for the paper's ablations and the usual baselines.

Every connector is an ``nn.Module`` with

- ``forward(node_feats, node_mask, patch_ids=None) -> BridgeOutput`` and
- ``num_tokens(node_mask, patch_ids) -> int64 [B]`` (how many molecule tokens the LLM will see,
  computed without running the network, so a collator can expand ``<mol>`` placeholders).

=================  =======================================================================
``edt``            :class:`DynamicQueryTransformer` with anchors + dynamic tokens (EDT-Former)
``anchors_only``   the same with anchors only: the static BLIP-2 Q-Former
``dynamic_only``   the same with dynamic tokens only
``mlp``            :class:`MLPProjector`: one token per atom (LLaVA / InstructMol projector)
``none``           :class:`NoConnector`: no molecule tokens; the prompt carries the SMILES text
=================  =======================================================================

Single-stream vs fused encoders is the length of ``BridgeConfig.encoder_widths``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from edtformer.bridge.config import BridgeConfig
from edtformer.bridge.dqt import BridgeOutput, DynamicQueryTransformer, check_streams
from edtformer.bridge.stereo import StereoEmbedding

#: Connectors take node features as the LLM's input tokens (anything but ``none``).
Connector = nn.Module


class MLPProjector(nn.Module):
    """LLaVA-style projector: ``Linear -> GELU -> Linear`` on each atom's concatenated stream features.

    Shapes:
        - node_feats: ``S`` streams ``[B, N, D_s]``; node_mask: bool ``[B, N]``
        - output: :class:`BridgeOutput` with ``Q = N`` (one token per real atom, no anchors)
    """

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        self.config = config
        self.net = nn.Sequential(
            nn.Linear(sum(config.encoder_widths), config.width),
            nn.GELU(),
            nn.Linear(config.width, config.llm_width),
        )
        self.stereo = StereoEmbedding(config.width) if config.stereo_embedding else None

    def num_tokens(self, node_mask: Tensor, patch_ids: Tensor | None = None) -> Tensor:
        """One token per real atom, int64 ``[B]``."""
        return node_mask.sum(dim=1).long()

    def forward(
        self,
        node_feats: Sequence[Tensor],
        node_mask: Tensor,
        patch_ids: Tensor | None = None,
        stereo: Tensor | None = None,
        instruction: Tensor | None = None,
        instruction_mask: Tensor | None = None,
    ) -> BridgeOutput:
        check_streams(node_feats, node_mask, self.config.encoder_widths)
        keep = node_mask.unsqueeze(-1).float()  # [B, N, 1]
        x = torch.cat(list(node_feats), dim=-1)  # [B, N, sum D_s]
        h = self.net[0](x)  # [B, N, W]
        if self.stereo is not None and stereo is not None:
            h = h + self.stereo(stereo)
        states = h * keep  # [B, N, W]
        tokens = self.net[2](self.net[1](states)) * keep  # [B, N, d_llm]
        n = node_mask.sum(dim=1).long()
        return BridgeOutput(tokens, node_mask.clone(), states, 0, n, torch.zeros_like(n))


class NoConnector(nn.Module):
    """No molecule tokens (the SMILES-only baseline). Has no parameters.

    Shapes:
        - output: :class:`BridgeOutput` with ``Q = 0``
    """

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        self.config = config

    def num_tokens(self, node_mask: Tensor, patch_ids: Tensor | None = None) -> Tensor:
        """Always zero, int64 ``[B]``."""
        return torch.zeros(node_mask.shape[0], dtype=torch.long, device=node_mask.device)

    def forward(
        self,
        node_feats: Sequence[Tensor],
        node_mask: Tensor,
        patch_ids: Tensor | None = None,
        stereo: Tensor | None = None,
        instruction: Tensor | None = None,
        instruction_mask: Tensor | None = None,
    ) -> BridgeOutput:
        b = node_mask.shape[0]
        z = torch.zeros(b, dtype=torch.long, device=node_mask.device)
        return BridgeOutput(
            tokens=torch.zeros(b, 0, self.config.llm_width, device=node_mask.device),
            mask=torch.zeros(b, 0, dtype=torch.bool, device=node_mask.device),
            query_states=torch.zeros(b, 0, self.config.width, device=node_mask.device),
            n_anchors=0,
            n_dynamic=z,
            n_dropped=z,
        )


def build_connector(config: BridgeConfig) -> nn.Module:
    """The connector module for ``config.connector``."""
    if config.connector in ("edt", "anchors_only", "dynamic_only"):
        return DynamicQueryTransformer(config)
    if config.connector == "mlp":
        return MLPProjector(config)
    return NoConnector(config)

"""The bridge: molecule node features (+ patches) -> molecule tokens in the LLM's width.

Start with :func:`bridge_preset` (``tiny`` / ``smol`` / ``paper``) and :func:`build_connector`;
the core forward takes plain tensors (node feature streams, node mask, patch ids) so it does not
depend on the encoder or patching modules.
"""

from edtformer.bridge.config import (
    CONNECTOR_KINDS,
    PRESETS,
    BridgeConfig,
    bridge_preset,
    paper,
    smol,
    tiny,
)
from edtformer.bridge.connectors import MLPProjector, NoConnector, build_connector
from edtformer.bridge.dqt import BridgeOutput, DynamicQueryTransformer
from edtformer.pooling import (
    PatchMembership,
    count_patches,
    patch_membership,
    pool_membership,
)

__all__ = [
    "CONNECTOR_KINDS",
    "PRESETS",
    "BridgeConfig",
    "BridgeOutput",
    "DynamicQueryTransformer",
    "MLPProjector",
    "NoConnector",
    "PatchMembership",
    "bridge_preset",
    "build_connector",
    "count_patches",
    "paper",
    "patch_membership",
    "pool_membership",
    "smol",
    "tiny",
]

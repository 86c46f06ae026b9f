"""Frozen graph encoders: molecule records -> per-atom node features in RDKit atom order.

``get_encoder(name)`` builds one (``minimol`` — the default —, ``gin``, ``chemprop``,
``random``); ``list_encoders()`` describes them without loading anything; the node-feature
cache lives in :mod:`edtformer.encoders.cache`.
"""

from edtformer.encoders.base import EncoderInfo, GraphEncoder, NodeFeatures, encode_many
from edtformer.encoders.multi import MultiEncoder, encode_streams
from edtformer.encoders.registry import (
    DEFAULT_ENCODER,
    encoder_info,
    get_encoder,
    list_encoders,
    register_encoder,
)

__all__ = [
    "DEFAULT_ENCODER",
    "EncoderInfo",
    "GraphEncoder",
    "MultiEncoder",
    "NodeFeatures",
    "encode_many",
    "encode_streams",
    "encoder_info",
    "get_encoder",
    "list_encoders",
    "register_encoder",
]

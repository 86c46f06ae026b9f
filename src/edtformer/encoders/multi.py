"""Several frozen encoders at once: aligned node streams for modality fusion.

Every encoder yields exactly ``record.n_atoms`` rows per molecule in RDKit atom order, so the
streams of one batch share ``N_max`` and ``mask`` by construction; :func:`encode_streams`
checks that and pads all streams to the same ``N_max``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from edtformer.chem import MolRecord
from edtformer.encoders.base import GraphEncoder, NodeFeatures
from edtformer.encoders.registry import get_encoder
from edtformer.errors import EdtError, InvalidShapeError


def encode_streams(
    records: Sequence[MolRecord], encoders: Sequence[GraphEncoder | str]
) -> list[NodeFeatures]:
    """One :class:`NodeFeatures` per encoder, all with the same ``N_max`` and the same mask.

    Args:
        records: the batch (``B`` molecules).
        encoders: encoder objects or registry names (names are built with default arguments).

    Returns:
        ``[NodeFeatures(h=[B, N_max, D_k], mask=[B, N_max]) for each encoder k]``.
    """
    if not encoders:
        raise EdtError("encode_streams needs at least one encoder")
    built = [get_encoder(e) if isinstance(e, str) else e for e in encoders]
    streams = [enc.encode(records) for enc in built]
    n_max = max(s.h.shape[1] for s in streams)
    streams = [s.pad_to(n_max) for s in streams]
    for enc, s in zip(built[1:], streams[1:], strict=True):
        if not torch.equal(s.mask, streams[0].mask):
            raise InvalidShapeError(
                f"{enc.name} mask", tuple(s.mask.shape), f"the same mask as {built[0].name}"
            )
    return streams


class MultiEncoder(nn.Module):
    """A frozen bundle of encoders producing aligned streams (``widths[k]`` = stream k's ``D``).

    Shapes:
        - input: ``B`` records
        - output: ``K`` :class:`NodeFeatures`, each ``h [B, N_max, D_k]`` with a shared mask
    """

    def __init__(self, encoders: Sequence[GraphEncoder | str]) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(get_encoder(e) if isinstance(e, str) else e for e in encoders)

    @property
    def widths(self) -> list[int]:
        """Feature width of each stream."""
        return [e.width for e in self._encoders]

    @property
    def names(self) -> list[str]:
        """Registry name of each stream."""
        return [e.name for e in self._encoders]

    @property
    def _encoders(self) -> list[GraphEncoder]:
        return [e for e in self.encoders if isinstance(e, GraphEncoder)]

    def encode(self, records: Sequence[MolRecord]) -> list[NodeFeatures]:
        """Aligned streams for a batch (see :func:`encode_streams`)."""
        return encode_streams(records, self._encoders)

    def forward(self, records: Sequence[MolRecord]) -> list[NodeFeatures]:
        """Alias of :meth:`encode`."""
        return self.encode(records)

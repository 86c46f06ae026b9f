"""The frozen graph-encoder interface: molecule records in, per-atom node features out.

Every encoder maps a batch of :class:`~edtformer.chem.MolRecord` to a :class:`NodeFeatures`
stream ``h [B, N_max, D]`` plus ``mask [B, N_max]``. Row ``i`` of molecule ``b`` is RDKit atom
``i`` of ``records[b].mol`` (the atom order of ``chem/``), whatever order the encoder's own
featuriser uses internally, and every molecule gets exactly ``record.n_atoms`` real rows.

Encoders are frozen (``eval()`` + ``requires_grad_(False)``): their features never change during
training, so they can be cached (:mod:`edtformer.encoders.cache`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from edtformer.chem import MolRecord
from edtformer.errors import EdtError, InvalidShapeError, UnsupportedMoleculeError

logger = logging.getLogger(__name__)


@dataclass
class NodeFeatures:
    """One stream of per-atom features for a batch of molecules.

    Attributes:
        h: float32 ``[B, N_max, D]``; padding rows are zero.
        mask: bool ``[B, N_max]``; True on real atoms. Row ``i`` of molecule ``b`` is RDKit atom ``i``.
    """

    h: torch.Tensor
    mask: torch.Tensor

    def __post_init__(self) -> None:
        if self.h.dim() != 3:
            raise InvalidShapeError("NodeFeatures.h", tuple(self.h.shape), "[B, N_max, D]")
        if tuple(self.mask.shape) != tuple(self.h.shape[:2]):
            raise InvalidShapeError(
                "NodeFeatures.mask",
                tuple(self.mask.shape),
                f"[B, N_max] = {tuple(self.h.shape[:2])}",
            )

    @property
    def width(self) -> int:
        """Feature width ``D``."""
        return int(self.h.shape[-1])

    @property
    def n_atoms(self) -> list[int]:
        """Number of real rows per molecule."""
        return [int(n) for n in self.mask.sum(dim=1).tolist()]

    def unpad(self) -> list[torch.Tensor]:
        """The real rows of each molecule: a list of ``[n_atoms_b, D]`` tensors."""
        return [self.h[b, :n] for b, n in enumerate(self.n_atoms)]

    def pad_to(self, n_max: int) -> NodeFeatures:
        """The same stream padded (with zero rows, mask False) to ``n_max >= N_max`` rows."""
        extra = n_max - self.h.shape[1]
        if extra < 0:
            raise InvalidShapeError("NodeFeatures.h", tuple(self.h.shape), f"at most {n_max} rows")
        if extra == 0:
            return self
        h = torch.nn.functional.pad(self.h, (0, 0, 0, extra))
        mask = torch.nn.functional.pad(self.mask, (0, extra), value=False)
        return NodeFeatures(h=h, mask=mask)

    @staticmethod
    def from_rows(
        rows: Sequence[torch.Tensor], width: int, n_max: int | None = None
    ) -> NodeFeatures:
        """Pad a list of per-molecule ``[n_b, D]`` tensors into one stream.

        Args:
            rows: one float tensor ``[n_b, D]`` per molecule.
            width: ``D`` (used when ``rows`` is empty).
            n_max: pad to this many rows (default: the longest molecule).
        """
        n_max = max([int(r.shape[0]) for r in rows] + [0]) if n_max is None else n_max
        h = torch.zeros(len(rows), n_max, width, dtype=torch.float32)
        mask = torch.zeros(len(rows), n_max, dtype=torch.bool)
        for b, r in enumerate(rows):
            if r.dim() != 2 or r.shape[1] != width:
                raise InvalidShapeError(f"rows[{b}]", tuple(r.shape), f"[n_atoms, {width}]")
            h[b, : r.shape[0]] = r.to(torch.float32)
            mask[b, : r.shape[0]] = True
        return NodeFeatures(h=h, mask=mask)


@dataclass(frozen=True)
class EncoderInfo:
    """What an encoder is, for ``edt encoders`` and for evaluation's leakage checks.

    Attributes:
        name: registry name (``get_encoder(name)``).
        width: node-feature width ``D``.
        pretrained: True if the weights come from pretraining (not a random init).
        source: where the weights come from (package, paper, or "user checkpoint").
        licence: licence of the weights.
        trained_on: label sets seen in training, e.g. ``("PCQM4Mv2", "PCBA")``. Evaluation refuses
            or flags a task whose labels appear here (e.g. ``"TDC:BBB_Martins"``).
        version: bumped whenever the features change; part of every cache key.
        description: one line for humans.
    """

    name: str
    width: int
    pretrained: bool
    source: str
    licence: str
    trained_on: tuple[str, ...]
    version: str
    description: str

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dictionary."""
        return {
            "name": self.name,
            "width": self.width,
            "pretrained": self.pretrained,
            "source": self.source,
            "licence": self.licence,
            "trained_on": list(self.trained_on),
            "version": self.version,
            "description": self.description,
        }


class GraphEncoder(nn.Module):
    """Base class of frozen graph encoders.

    Subclasses set :attr:`info` and implement :meth:`_encode_rows` (one ``[n_atoms, D]`` tensor
    per molecule, in RDKit atom order) or override :meth:`encode` for batched computation.

    Shapes:
        - input: ``B`` molecule records with ``n_b`` atoms each
        - output: :class:`NodeFeatures` with ``h [B, N_max, D]``, ``mask [B, N_max]``
    """

    info: EncoderInfo

    def __init__(self) -> None:
        super().__init__()

    def freeze(self) -> GraphEncoder:
        """Put the encoder in eval mode with no gradients (call at the end of ``__init__``)."""
        self.eval()
        self.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> GraphEncoder:
        """Frozen encoders stay in eval mode whatever the caller asks."""
        return super().train(False)

    @property
    def width(self) -> int:
        """Node-feature width ``D``."""
        return self.info.width

    @property
    def name(self) -> str:
        """Registry name."""
        return self.info.name

    def load(self) -> GraphEncoder:
        """Load now what the encoder would otherwise load on its first molecule (a runtime, a
        session); the default has nothing to load."""
        return self

    def check(self, record: MolRecord) -> None:
        """Raise :class:`UnsupportedMoleculeError` if this encoder cannot featurise ``record``.

        The default accepts everything; encoders with limits override it.
        """

    def _encode_rows(self, records: Sequence[MolRecord]) -> list[torch.Tensor]:
        """Per-molecule features ``[n_atoms_b, D]`` in RDKit atom order."""
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, records: Sequence[MolRecord]) -> NodeFeatures:
        """Node features for a batch; raises on the first molecule the encoder cannot handle.

        Use :func:`encode_many` to get per-molecule errors instead.
        """
        for r in records:
            self.check(r)
        rows = self._encode_rows(records)
        for r, x in zip(records, rows, strict=True):
            if x.shape != (r.n_atoms, self.width):
                raise InvalidShapeError(
                    f"{self.name} features for {r.smiles!r}",
                    tuple(x.shape),
                    f"[{r.n_atoms}, {self.width}] (one row per RDKit atom)",
                )
        return NodeFeatures.from_rows(rows, self.width)

    def encode_one(self, record: MolRecord) -> torch.Tensor:
        """Features of one molecule, ``[n_atoms, D]``."""
        return self.encode([record]).h[0]

    def forward(self, records: Sequence[MolRecord]) -> NodeFeatures:
        """Alias of :meth:`encode`."""
        return self.encode(records)


def encode_many(
    encoder: GraphEncoder, records: Sequence[MolRecord], batch_size: int = 64
) -> list[torch.Tensor | EdtError]:
    """Encode many molecules, returning per molecule either ``[n_atoms, D]`` features or the error.

    Bad molecules (unsupported element, too many atoms, ...) never stop the rest: they are
    checked one by one, the good ones are encoded in batches.
    """
    out: list[torch.Tensor | EdtError] = [UnsupportedMoleculeError("", "not encoded")] * len(
        records
    )
    good: list[int] = []
    for i, r in enumerate(records):
        try:
            encoder.check(r)
            good.append(i)
        except EdtError as exc:
            out[i] = exc
    for start in range(0, len(good), batch_size):
        idx = good[start : start + batch_size]
        batch = [records[i] for i in idx]
        try:
            rows = encoder.encode(batch).unpad()
        except EdtError:
            # fall back to one by one so that one bad molecule names itself
            rows_or_err: list[torch.Tensor | EdtError] = []
            for r in batch:
                try:
                    rows_or_err.append(encoder.encode([r]).h[0])
                except EdtError as exc:
                    rows_or_err.append(exc)
            for i, x in zip(idx, rows_or_err, strict=True):
                out[i] = x
            continue
        for i, x in zip(idx, rows, strict=True):
            out[i] = x
    return out

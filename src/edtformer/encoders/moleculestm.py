"""GIN encoders: ``gin`` (a user's MoleculeSTM checkpoint) and ``random`` (seeded, for tests)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file

from edtformer.chem import MolRecord
from edtformer.encoders.base import EncoderInfo, GraphEncoder
from edtformer.encoders.gin import GIN, N_OGB_ATOM_COLS, N_OGB_BOND_COLS, batch_graphs
from edtformer.encoders.registry import encoder_info
from edtformer.errors import CheckpointError

logger = logging.getLogger(__name__)

#: Prefix of the GNN inside MoleculeSTM's ``GNN_graphpred`` state dict.
MOLECULESTM_PREFIX = "molecule_node_model."


class _GinBase(GraphEncoder):
    """A frozen :class:`GIN` run on the OGB columns of chem features, in RDKit atom order.

    Shapes:
        - input: ``B`` records, ``n_b`` atoms each
        - output: ``h [B, N_max, emb_dim]``, ``mask [B, N_max]``
    """

    def __init__(self, gin: GIN, info: EncoderInfo) -> None:
        super().__init__()
        self.gin = gin
        self.info = info
        self.freeze()

    def _encode_rows(self, records: Sequence[MolRecord]) -> list[torch.Tensor]:
        if not records:
            return []
        x, ei, ea, sizes = batch_graphs(
            [torch.from_numpy(r.x[:, :N_OGB_ATOM_COLS]) for r in records],
            [torch.from_numpy(r.edge_index) for r in records],
            [torch.from_numpy(r.edge_attr[:, :N_OGB_BOND_COLS]) for r in records],
        )
        h = self.gin(x, ei, ea)  # [sum n_b, D]
        return list(torch.split(h, sizes))


class RandomEncoder(_GinBase):
    """Small randomly initialised GIN, deterministic for a given ``seed`` (tests, ablations).

    BatchNorm running statistics stay at their initial values (mean 0, var 1), so features of
    a molecule never depend on the rest of its batch.
    """

    def __init__(self, width: int = 64, num_layer: int = 2, seed: int = 0) -> None:
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            gin = GIN(num_layer=num_layer, emb_dim=width)
        finally:
            torch.random.set_rng_state(gen_state)
        info = dataclasses.replace(
            encoder_info("random"),
            width=width,
            version=f"{encoder_info('random').version}/w{width}/l{num_layer}/s{seed}",
        )
        super().__init__(gin, info)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _strip_moleculestm(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keep the GNN's keys, without the ``molecule_node_model.`` prefix; drop heads."""
    if any(k.startswith(MOLECULESTM_PREFIX) for k in state):
        return {
            k[len(MOLECULESTM_PREFIX) :]: v
            for k, v in state.items()
            if k.startswith(MOLECULESTM_PREFIX)
        }
    return {k: v for k, v in state.items() if not k.startswith("graph_pred_linear.")}


class GinEncoder(_GinBase):
    """MoleculeSTM's GIN (5 layers, width 300 in the release) loaded from ``molecule_model.pth``.

    Layer count, width and vocabulary sizes are read off the checkpoint. The file is loaded
    with ``torch.load(weights_only=True)`` (no arbitrary code); a ``.safetensors`` file with the
    same keys works too.

    Args:
        checkpoint: path to MoleculeSTM's ``molecule_model.pth`` (a ``GNN_graphpred`` state dict,
            keys ``molecule_node_model.*``) or a bare ``GNN`` state dict.

    Raises:
        CheckpointError: missing file, unreadable file, or keys that are not a GIN's.
    """

    def __init__(self, checkpoint: str | os.PathLike[str] | None = None) -> None:
        if checkpoint is None:
            raise CheckpointError(
                "the 'gin' encoder needs a MoleculeSTM checkpoint: "
                "get_encoder('gin', checkpoint='path/to/molecule_model.pth')"
            )
        path = Path(checkpoint)
        if not path.is_file():
            raise CheckpointError(f"GIN checkpoint not found: {path}")
        try:
            if path.suffix == ".safetensors":
                raw = load_file(str(path))
            else:
                raw = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for bad files
            raise CheckpointError(f"could not read GIN checkpoint {path}: {exc}") from exc
        if not isinstance(raw, Mapping):
            raise CheckpointError(f"{path}: expected a state dict, got {type(raw).__name__}")
        state = _strip_moleculestm(raw)
        if "atom_encoder.atom_embedding_list.0.weight" not in state:
            raise CheckpointError(
                f"{path}: not a MoleculeSTM GIN state dict (no "
                "'molecule_node_model.atom_encoder.atom_embedding_list.0.weight'); "
                f"first keys: {list(raw)[:5]}"
            )
        num_layer, emb_dim, atom_dims, bond_dims = GIN.dims_from_state_dict(state)
        gin = GIN(num_layer=num_layer, emb_dim=emb_dim, atom_dims=atom_dims, bond_dims=bond_dims)
        try:
            gin.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"{path}: state dict does not match the GIN layout: {exc}"
            ) from exc
        info = dataclasses.replace(
            encoder_info("gin"),
            width=emb_dim,
            version=f"{encoder_info('gin').version}/{_file_digest(path)}",
        )
        logger.info("loaded GIN (%d layers, width %d) from %s", num_layer, emb_dim, path)
        super().__init__(gin, info)

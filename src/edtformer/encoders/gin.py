"""GIN with OGB-style atom/bond embeddings — the MoleculeSTM / pretrain-gnns graph encoder.

Architecture (Xu et al., 2019, https://arxiv.org/abs/1810.00826, with edge features as in Hu et
al., 2020, https://arxiv.org/abs/1905.12265), in the module layout of MoleculeSTM's
``molecule_gnn_model.GNN`` so that its ``molecule_model.pth`` state dict loads unchanged::

    atom_encoder.atom_embedding_list.{k}.weight          # one table per OGB atom column (9)
    gnns.{l}.mlp.{0,1,3}.*                               # Linear(D,2D), BatchNorm1d(2D), ReLU, Linear(2D,D)
    gnns.{l}.eps                                         # GIN epsilon, shape [1]
    gnns.{l}.bond_encoder.bond_embedding_list.{k}.weight # one table per OGB bond column (3)
    batch_norms.{l}.*                                    # BatchNorm1d(D) after each layer

MoleculeSTM saves ``GNN_graphpred.state_dict()``, so its keys carry a ``molecule_node_model.``
prefix (and a ``graph_pred_linear`` head we ignore); :meth:`GIN.load_moleculestm` handles both.

The inputs are the first 9 atom columns and first 3 bond columns of :mod:`edtformer.chem`
features, which are exactly OGB's ``atom_to_feature_vector`` / ``bond_to_feature_vector``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from edtformer.chem.features import ATOM_FEATURE_DIMS, BOND_FEATURE_DIMS

#: OGB layout: number of atom / bond columns consumed.
N_OGB_ATOM_COLS = 9
N_OGB_BOND_COLS = 3


class FeatureEmbedding(nn.Module):
    """Sum of one embedding table per categorical column (OGB ``AtomEncoder`` / ``BondEncoder``).

    Indices beyond a table's size (a checkpoint trained with a smaller vocabulary) map to the
    table's last row, its "misc" slot.

    Shapes:
        - input: ``int64 [M, C]`` with ``C >= len(dims)`` (extra columns ignored)
        - output: ``float [M, D]``
    """

    def __init__(self, dims: Sequence[int], emb_dim: int, list_name: str) -> None:
        super().__init__()
        self.list_name = list_name
        self.emb_dim = emb_dim
        tables = nn.ModuleList(nn.Embedding(d, emb_dim) for d in dims)
        setattr(self, list_name, tables)
        self.reset_parameters()

    @property
    def tables(self) -> nn.ModuleList:
        """The embedding tables, one per column."""
        tables: nn.ModuleList = getattr(self, self.list_name)
        return tables

    def reset_parameters(self) -> None:
        """Xavier-uniform init, as in OGB."""
        for emb in self.tables:
            assert isinstance(emb, nn.Embedding)
            nn.init.xavier_uniform_(emb.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], self.emb_dim, dtype=torch.float32)
        for k, emb in enumerate(self.tables):
            assert isinstance(emb, nn.Embedding)
            out = out + emb(x[:, k].clamp(max=emb.num_embeddings - 1))
        return out


class GINConv(nn.Module):
    """GIN layer with edge features: ``h_i' = MLP((1 + eps) h_i + sum_j ReLU(h_j + e_ji))``.

    Shapes:
        - x: ``[M, D]`` node features (all molecules of a batch stacked)
        - edge_index: ``int64 [2, E]`` (source row 0, target row 1)
        - edge_attr: ``int64 [E, C_bond]``
        - output: ``[M, D]``
    """

    def __init__(self, emb_dim: int, bond_dims: Sequence[int]) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(emb_dim, 2 * emb_dim),
            nn.BatchNorm1d(2 * emb_dim),
            nn.ReLU(),
            nn.Linear(2 * emb_dim, emb_dim),
        )
        self.eps = nn.Parameter(torch.zeros(1))
        self.bond_encoder = FeatureEmbedding(bond_dims, emb_dim, "bond_embedding_list")

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor
    ) -> torch.Tensor:
        e = self.bond_encoder(edge_attr)  # [E, D]
        msg = F.relu(x[edge_index[0]] + e)  # [E, D]
        agg = torch.zeros_like(x).index_add_(0, edge_index[1], msg)  # [M, D]
        return self.mlp((1 + self.eps) * x + agg)


class GIN(nn.Module):
    """Node-level GIN (JK = "last"): ``num_layer`` GIN layers, BatchNorm, ReLU between layers.

    Shapes:
        - x: ``int64 [M, >=9]`` chem atom features
        - edge_index: ``int64 [2, E]``; edge_attr: ``int64 [E, >=3]``
        - output: ``[M, emb_dim]``
    """

    def __init__(
        self,
        num_layer: int = 5,
        emb_dim: int = 300,
        atom_dims: Sequence[int] = ATOM_FEATURE_DIMS[:N_OGB_ATOM_COLS],
        bond_dims: Sequence[int] = BOND_FEATURE_DIMS[:N_OGB_BOND_COLS],
    ) -> None:
        super().__init__()
        self.num_layer = num_layer
        self.emb_dim = emb_dim
        self.atom_encoder = FeatureEmbedding(atom_dims, emb_dim, "atom_embedding_list")
        self.gnns = nn.ModuleList(GINConv(emb_dim, bond_dims) for _ in range(num_layer))
        self.batch_norms = nn.ModuleList(nn.BatchNorm1d(emb_dim) for _ in range(num_layer))

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, edge_attr: torch.Tensor
    ) -> torch.Tensor:
        h = self.atom_encoder(x)
        for layer in range(self.num_layer):
            h = self.batch_norms[layer](self.gnns[layer](h, edge_index, edge_attr))
            if layer < self.num_layer - 1:
                h = F.relu(h)
        return h

    @staticmethod
    def dims_from_state_dict(
        state: Mapping[str, torch.Tensor],
    ) -> tuple[int, int, list[int], list[int]]:
        """``(num_layer, emb_dim, atom_dims, bond_dims)`` read off a (prefix-free) state dict."""
        atom_dims = []
        k = 0
        while f"atom_encoder.atom_embedding_list.{k}.weight" in state:
            atom_dims.append(int(state[f"atom_encoder.atom_embedding_list.{k}.weight"].shape[0]))
            k += 1
        num_layer = 0
        while f"gnns.{num_layer}.eps" in state:
            num_layer += 1
        bond_dims = []
        k = 0
        while f"gnns.0.bond_encoder.bond_embedding_list.{k}.weight" in state:
            w = state[f"gnns.0.bond_encoder.bond_embedding_list.{k}.weight"]
            bond_dims.append(int(w.shape[0]))
            k += 1
        emb_dim = int(state["atom_encoder.atom_embedding_list.0.weight"].shape[1])
        return num_layer, emb_dim, atom_dims, bond_dims


def batch_graphs(
    xs: Sequence[torch.Tensor],
    edge_indices: Sequence[torch.Tensor],
    edge_attrs: Sequence[torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """Stack molecules into one disconnected graph: ``(x, edge_index, edge_attr, sizes)``."""
    offsets = 0
    ei = []
    for x, e in zip(xs, edge_indices, strict=True):
        ei.append(e + offsets)
        offsets += int(x.shape[0])
    return (
        torch.cat(list(xs)),
        torch.cat(ei, dim=1),
        torch.cat(list(edge_attrs)),
        [int(x.shape[0]) for x in xs],
    )

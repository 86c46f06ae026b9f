"""Our own stereo features, added to frozen node features by a small trainable embedding.

The default encoder (MiniMol) has no chirality tag in its atom features, so enantiomers get
identical node rows. With ``BridgeConfig.stereo_embedding`` the bridge adds, per atom,
``E_chir[chirality tag] + E_ez[E/Z state of a double bond the atom is on]`` (both initialised
to zero, so an untrained option changes nothing) to every node stream. Ablation: the
``stereo_embedding=False`` row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from edtformer.chem import MolRecord
from edtformer.chem.features import ATOM_CHIRALITY_COL, BOND_STEREO, BOND_STEREO_COL, CHIRALITY

#: Chirality categories (the chem vocabulary + "misc").
N_CHIRALITY = len(CHIRALITY) + 1
#: E/Z states per atom: 0 none, 1 Z/cis, 2 E/trans, 3 other/any.
N_EZ = 4
_EZ_OF_STEREO = {
    BOND_STEREO.index("STEREONONE"): 0,
    BOND_STEREO.index("STEREOZ"): 1,
    BOND_STEREO.index("STEREOCIS"): 1,
    BOND_STEREO.index("STEREOE"): 2,
    BOND_STEREO.index("STEREOTRANS"): 2,
    BOND_STEREO.index("STEREOANY"): 3,
}


def stereo_codes(record: MolRecord) -> np.ndarray:
    """Per-atom ``[chirality tag, E/Z state]``, int64 ``[n_atoms, 2]`` in RDKit atom order."""
    out = np.zeros((record.n_atoms, 2), dtype=np.int64)
    out[:, 0] = record.x[:, ATOM_CHIRALITY_COL]
    for k in range(record.edge_index.shape[1]):
        state = _EZ_OF_STEREO.get(int(record.edge_attr[k, BOND_STEREO_COL]), 0)
        if state:
            out[record.edge_index[0, k], 1] = state
    return out


def pad_stereo(records: Sequence[MolRecord], n_max: int) -> Tensor:
    """Stacked :func:`stereo_codes`, int64 ``[M, n_max, 2]`` (zeros on padding)."""
    out = torch.zeros(len(records), n_max, 2, dtype=torch.long)
    for m, r in enumerate(records):
        out[m, : r.n_atoms] = torch.from_numpy(stereo_codes(r))
    return out


class StereoEmbedding(nn.Module):
    """``E_chir[codes[..., 0]] + E_ez[codes[..., 1]]``, zero-initialised.

    Shapes:
        - codes: int64 ``[B, N, 2]``
        - output: ``[B, N, W]``
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.chirality = nn.Embedding(N_CHIRALITY, width)
        self.ez = nn.Embedding(N_EZ, width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero: an untrained stereo embedding adds nothing."""
        nn.init.zeros_(self.chirality.weight)
        nn.init.zeros_(self.ez.weight)

    def forward(self, codes: Tensor) -> Tensor:
        return self.chirality(codes[..., 0]) + self.ez(codes[..., 1])

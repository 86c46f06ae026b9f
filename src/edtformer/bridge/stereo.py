"""Our own stereo features, added to frozen node features by a small trainable embedding.

The default encoder (MiniMol) has no chirality tag in its atom features, so enantiomers get
identical node rows. With ``BridgeConfig.stereo_embedding`` the bridge adds, per atom,
``E_chir[chirality tag] + E_ez[E/Z state of a double bond the atom is on] + E_cip[CIP label]``
(all initialised to zero, so an untrained option changes nothing) to every node stream.

The chirality tag (clockwise / anticlockwise) is relative to the order the SMILES happens to
list the centre's neighbours, so on its own it says nothing about R or S: the same centre is
CW in one writing and CCW in another. The CIP label (R/S, from RDKit's CIP labeller, which
ranks the neighbours by priority) is a property of the molecule, not of its writing, and is
what makes R/S answers learnable. Ablation: the ``stereo_embedding=False`` row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import rdCIPLabeler
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

#: CIP labels per atom: 0 none, 1 R, 2 S, 3 a specified centre the labeller could not name.
N_CIP = 4
#: Columns of :func:`stereo_codes`.
N_STEREO_CODES = 3
_CIP_CODE = {"R": 1, "S": 2}


def cip_codes(mol: Chem.Mol) -> np.ndarray:
    """Per-atom CIP code (:data:`N_CIP` classes), int64 ``[n_atoms]``; ``mol`` is not modified."""
    out = np.zeros(mol.GetNumAtoms(), dtype=np.int64)
    chiral = [
        a.GetIdx()
        for a in mol.GetAtoms()
        if a.GetChiralTag()
        in (Chem.ChiralType.CHI_TETRAHEDRAL_CW, Chem.ChiralType.CHI_TETRAHEDRAL_CCW)
    ]
    if not chiral:
        return out
    m = Chem.Mol(mol)
    try:
        rdCIPLabeler.AssignCIPLabels(m)
    except RuntimeError:  # the labeller gives up on some huge or odd molecules
        out[chiral] = 3
        return out
    for i in chiral:
        atom = m.GetAtomWithIdx(i)
        label = atom.GetProp("_CIPCode").upper() if atom.HasProp("_CIPCode") else ""
        out[i] = _CIP_CODE.get(label, 3)
    return out


def stereo_codes(record: MolRecord) -> np.ndarray:
    """Per-atom ``[chirality tag, E/Z state, CIP label]``, int64 ``[n_atoms, 3]`` in RDKit atom order."""
    out = np.zeros((record.n_atoms, N_STEREO_CODES), dtype=np.int64)
    out[:, 0] = record.x[:, ATOM_CHIRALITY_COL]
    out[:, 2] = cip_codes(record.mol)
    for k in range(record.edge_index.shape[1]):
        state = _EZ_OF_STEREO.get(int(record.edge_attr[k, BOND_STEREO_COL]), 0)
        if state:
            out[record.edge_index[0, k], 1] = state
    return out


def pad_stereo(records: Sequence[MolRecord], n_max: int) -> Tensor:
    """Stacked :func:`stereo_codes`, int64 ``[M, n_max, 3]`` (zeros on padding)."""
    out = torch.zeros(len(records), n_max, N_STEREO_CODES, dtype=torch.long)
    for m, r in enumerate(records):
        out[m, : r.n_atoms] = torch.from_numpy(stereo_codes(r))
    return out


class StereoEmbedding(nn.Module):
    """``E_chir[codes[..., 0]] + E_ez[codes[..., 1]] + E_cip[codes[..., 2]]``, zero-initialised.

    Shapes:
        - codes: int64 ``[B, N, 3]`` (a 2-column code without CIP labels is accepted)
        - output: ``[B, N, W]``
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.chirality = nn.Embedding(N_CHIRALITY, width)
        self.ez = nn.Embedding(N_EZ, width)
        self.cip = nn.Embedding(N_CIP, width)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Zero: an untrained stereo embedding adds nothing."""
        nn.init.zeros_(self.chirality.weight)
        nn.init.zeros_(self.ez.weight)
        nn.init.zeros_(self.cip.weight)

    def forward(self, codes: Tensor) -> Tensor:
        out = self.chirality(codes[..., 0]) + self.ez(codes[..., 1])
        return out + self.cip(codes[..., 2]) if codes.shape[-1] > 2 else out

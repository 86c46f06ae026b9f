"""Our own stereo features, added to frozen node features by a small trainable embedding.

The default encoder (MiniMol) has no chirality tag in its atom features, so enantiomers get
identical node rows. With ``BridgeConfig.stereo_embedding`` the bridge adds, per atom,
``E_chir[chirality tag] + E_ez[E/Z state of a double bond the atom is on] + E_cip[CIP label]``
(all initialised to zero, so an untrained option changes nothing) to every node stream.

The codes come from :func:`edtformer.chem.stereo.stereo_codes` (padded by the processor,
:func:`edtformer.model.processing.pad_stereo`); the bridge sees only the integer tensor. The
chirality tag is relative to the order the SMILES lists a centre's neighbours; the CIP label
(R/S) is a property of the molecule, not of its writing, and is what makes R/S answers
learnable. Ablation: the ``stereo_embedding=False`` row.
"""

from __future__ import annotations

from torch import Tensor, nn

# The code vocabularies of edtformer.chem.stereo (the bridge does not import the chemistry
# front end; tests/unit/test_bridge_stereo.py checks that the sizes agree).
#: Chirality categories: RDKit's four chirality tags + "misc".
N_CHIRALITY = 5
#: E/Z states per atom: 0 none, 1 Z/cis, 2 E/trans, 3 other/any.
N_EZ = 4
#: CIP labels per atom: 0 none, 1 R, 2 S, 3 a specified centre the labeller could not name.
N_CIP = 4


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

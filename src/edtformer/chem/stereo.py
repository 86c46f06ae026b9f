"""Per-atom stereo codes: chirality tag, E/Z state of a double bond, CIP label (R/S).

The bridge's optional stereo embedding (:class:`edtformer.bridge.stereo.StereoEmbedding`) reads
these integer codes; the bridge itself never sees a molecule. The code vocabularies below are
the embedding's table sizes (a unit test keeps the two in step).

The chirality tag (clockwise / anticlockwise) is relative to the order the SMILES happens to
list the centre's neighbours, so on its own it says nothing about R or S: the same centre is
CW in one writing and CCW in another. The CIP label (R/S, from RDKit's CIP labeller, which
ranks the neighbours by priority) is a property of the molecule, not of its writing.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdCIPLabeler

from edtformer.chem.features import ATOM_CHIRALITY_COL, BOND_STEREO, BOND_STEREO_COL, CHIRALITY
from edtformer.chem.molecule import MolRecord

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
    """Per-atom ``[chirality tag, E/Z state, CIP label]``, int64 ``[n_atoms, 3]``, in RDKit atom
    order."""
    out = np.zeros((record.n_atoms, N_STEREO_CODES), dtype=np.int64)
    out[:, 0] = record.x[:, ATOM_CHIRALITY_COL]
    out[:, 2] = cip_codes(record.mol)
    for k in range(record.edge_index.shape[1]):
        state = _EZ_OF_STEREO.get(int(record.edge_attr[k, BOND_STEREO_COL]), 0)
        if state:
            out[record.edge_index[0, k], 1] = state
    return out

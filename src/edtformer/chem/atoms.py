"""Per-atom readings of an RDKit molecule that the stages above ``chem/`` use without importing
RDKit: each atom's SMILES rendering (the entropy model's tokens,
:mod:`edtformer.entropy.tokens`), the same rendering with stereo, isotope and charge dropped,
and the bond-order adjacency matrix.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from rdkit import Chem

_MAP_NUM = re.compile(r":\d+\]$")


def atom_smarts(mol: Chem.Mol) -> list[str]:
    """RDKit's SMILES rendering of every atom (``Atom.GetSmarts()`` on a SMILES-parsed molecule:
    ``C``, ``c``, ``[nH]``, ``[C@@H]``, ``[N+]``, ``[2H]``, ``*``), in atom index order, with
    atom-map numbers dropped (``[CH3:7]`` -> ``C``)."""
    tokens = [a.GetSmarts() for a in mol.GetAtoms()]
    if any(":" in t for t in tokens):  # atom-map numbers: render again without them
        mol = Chem.Mol(mol)
        for atom in mol.GetAtoms():
            atom.SetAtomMapNum(0)
        tokens = [a.GetSmarts() for a in mol.GetAtoms()]
        tokens = [_MAP_NUM.sub("]", t) for t in tokens]
    return tokens


def plain_atom_smarts(mol: Chem.Mol, atoms: Sequence[int], drop_charge: bool) -> list[str]:
    """RDKit's rendering of ``atoms`` with chirality, isotope and atom-map number removed
    (``[C@@H]`` -> ``C``, ``[2H]`` -> ``[H]``), and with ``drop_charge`` also the formal charge
    and explicit hydrogens (``[N+]`` -> ``N``); ``mol`` itself is not changed."""
    mol = Chem.Mol(mol)
    out = []
    for i in atoms:
        atom = mol.GetAtomWithIdx(i)
        atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
        atom.SetIsotope(0)
        atom.SetAtomMapNum(0)
        if drop_charge:
            atom.SetFormalCharge(0)
            atom.SetNumExplicitHs(0)
            atom.SetNoImplicit(False)
        out.append(atom.GetSmarts())
    return out


def bond_order_matrix(mol: Chem.Mol) -> np.ndarray:
    """Bond orders between atoms, float ``[n_atoms, n_atoms]`` (1.5 for aromatic, 0 for none)."""
    return np.asarray(Chem.GetAdjacencyMatrix(mol, useBO=True))


__all__ = ["atom_smarts", "bond_order_matrix", "plain_atom_smarts"]

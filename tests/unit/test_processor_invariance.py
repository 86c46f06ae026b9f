"""Same molecule, same bridge inputs: the processor works on the canonical atom order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem, rdBase

from edtformer.chem import canonical_order, parse_smiles
from edtformer.encoders import get_encoder
from edtformer.model.processing import MoleculeProcessor, default_patcher

MOLECULES = [
    "CN1CC[C@]23c4c5ccc(O)c4O[C@H]2[C@@H](O)C=C[C@H]3[C@H]1C5",  # morphine
    "C/C=C/C(=O)N[C@@H](C)c1ccncc1",
    "CC(=O)Oc1ccccc1C(=O)O.[Na+].[Cl-]",
    "[2H]C([2H])([2H])Oc1ccc(F)cc1",
]


def _writings(smiles: str, n: int, seed: int) -> list[str]:
    mol = Chem.MolFromSmiles(smiles)
    rdBase.SeedRandomNumberGenerator(seed)
    out = [smiles]
    for _ in range(n):
        out.append(Chem.MolToSmiles(mol, doRandom=True, canonical=False))
    return out


@pytest.fixture(scope="module")
def processor() -> MoleculeProcessor:
    patcher, _ = default_patcher("combine")
    return MoleculeProcessor([get_encoder("random"), get_encoder("rdkit")], patcher)


@pytest.mark.parametrize("smiles", MOLECULES)
def test_every_writing_gives_the_same_batch(processor: MoleculeProcessor, smiles: str) -> None:
    writings = _writings(smiles, 8, seed=0)
    assert len(set(writings)) > 3  # really different strings
    ref = processor([parse_smiles(writings[0])])
    for w in writings[1:]:
        got = processor([parse_smiles(w)])
        assert got.smiles == [w]  # the batch keeps the user's writing
        for a, b in zip(got.node_feats, ref.node_feats, strict=True):
            assert torch.allclose(a, b, atol=1e-5), w
        assert got.patch_ids is not None and ref.patch_ids is not None
        assert torch.equal(got.patch_ids, ref.patch_ids), w
        assert got.stereo is not None and ref.stereo is not None
        assert torch.equal(got.stereo, ref.stereo), w


def test_canonical_order_maps_back_to_input_atoms() -> None:
    record = parse_smiles("OC(=O)c1ccccc1OC(C)=O")
    canon, order = canonical_order(record)
    assert sorted(order.tolist()) == list(range(record.n_atoms))
    assert canon.smiles == Chem.MolToSmiles(record.mol)
    given = [a.GetSymbol() for a in record.mol.GetAtoms()]
    assert [given[i] for i in order] == canon.symbols
    back = np.empty(record.n_atoms, dtype=np.int64)
    back[order] = np.arange(record.n_atoms)  # canonical index of each input atom
    assert [canon.symbols[back[i]] for i in range(record.n_atoms)] == given

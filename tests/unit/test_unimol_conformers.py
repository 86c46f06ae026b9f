"""Conformers for the ``unimol`` stream: seeded ETKDGv3, MMFF, input atom order, 2D fallback, cap."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from rdkit import Chem

from edtformer.encoders.conformers import ConformerConfig, ConformerGenerator
from edtformer.errors import UnsupportedMoleculeError


def test_shape_hydrogens_and_bond_lengths() -> None:
    conf = ConformerGenerator(ConformerConfig(n_conformers=3))(Chem.MolFromSmiles("CCO"))
    assert conf.method == "etkdg" and conf.coords.shape == (3, 9, 3)  # C C O + 6 H
    assert [a.GetSymbol() for a in conf.mol_h.GetAtoms()][:3] == ["C", "C", "O"]
    cc = np.linalg.norm(conf.coords[:, 0] - conf.coords[:, 1], axis=-1)
    assert np.all(np.abs(cc - 1.52) < 0.05)  # a C-C single bond
    assert np.ptp(conf.coords[..., 2]) > 0.1  # really 3D


def test_fixed_seed_is_deterministic_and_seeds_differ() -> None:
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")
    a = ConformerGenerator(ConformerConfig(n_conformers=2, seed=1))(mol).coords
    b = ConformerGenerator(ConformerConfig(n_conformers=2, seed=1))(mol).coords
    c = ConformerGenerator(ConformerConfig(n_conformers=2, seed=2))(mol).coords
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_geometry_follows_the_input_atom_order() -> None:
    gen = ConformerGenerator(ConformerConfig(n_conformers=2))
    a = gen(Chem.MolFromSmiles("OCC(C)N")).coords[:, :5]
    b = gen(Chem.MolFromSmiles("NC(C)CO")).coords[:, :5]
    np.testing.assert_allclose(a, b[:, [4, 3, 1, 2, 0]], atol=1e-4)


def test_mmff_is_counted_and_can_be_switched_off() -> None:
    mol = Chem.MolFromSmiles("c1ccccc1O")
    on = ConformerGenerator(ConformerConfig(n_conformers=2))
    on(mol)
    assert on.stats.mmff_converged + on.stats.mmff_not_converged == 2
    off = ConformerGenerator(ConformerConfig(n_conformers=2, mmff=False))
    off(mol)
    assert off.stats.mmff_converged == off.stats.mmff_not_converged == 0
    assert not np.array_equal(on(mol).coords, off(mol).coords)


def test_failed_embedding_falls_back_to_2d(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from rdkit.Chem import rdDistGeom

    monkeypatch.setattr(rdDistGeom, "EmbedMultipleConfs", lambda *a, **k: [])
    gen = ConformerGenerator(ConformerConfig(n_conformers=4))
    with caplog.at_level(logging.WARNING, "edtformer.encoders.conformers"):
        conf = gen(Chem.MolFromSmiles("CCN"))
    assert conf.method == "2d" and conf.coords.shape == (1, 10, 3)
    assert np.all(conf.coords[..., 2] == 0) and gen.stats.fallback_2d == 1
    assert "2D coordinates" in caplog.text


def test_atom_cap_and_empty_molecule() -> None:
    gen = ConformerGenerator(ConformerConfig(max_atoms=8))
    with pytest.raises(UnsupportedMoleculeError, match="9 atoms with hydrogens"):
        gen(Chem.MolFromSmiles("CCO"))
    with pytest.raises(UnsupportedMoleculeError, match="no atoms"):
        gen(Chem.MolFromSmiles(""))


def test_settings_name_every_option() -> None:
    base = ConformerConfig()
    assert base.n_conformers == 10 and base.seed == 42  # Uni-Mol's conf-size and tools' seed
    variants = [
        ConformerConfig(n_conformers=1),
        ConformerConfig(seed=0),
        ConformerConfig(mmff=False),
        ConformerConfig(mmff_max_iters=500),
        ConformerConfig(max_atoms=100),
    ]
    names = {c.settings() for c in [base, *variants]}
    assert len(names) == 6
    with pytest.raises(ValueError, match="n_conformers"):
        ConformerConfig(n_conformers=0)

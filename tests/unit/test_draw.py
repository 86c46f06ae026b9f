"""Patch drawings: SVG/PNG bytes, grid of several molecules, numbered files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rdkit import Chem

from edtformer.errors import EdtError
from edtformer.viz import draw_patches, draw_patches_files, render_patches


def mols_and_ids() -> tuple[list[Chem.Mol], list[np.ndarray], list[np.ndarray]]:
    mols = [Chem.MolFromSmiles(s) for s in ("CC(=O)O", "[K+].[Cl-]", "c1ccncc1")]
    ids = [np.array([0, 0, 1, 1]), np.array([0, 1]), np.array([0, 0, 0, 1, 1, 1])]
    ents = [np.linspace(0, 2, m.GetNumAtoms()) for m in mols]
    return mols, ids, ents


def test_render_svg_with_entropy_notes() -> None:
    mols, ids, ents = mols_and_ids()
    svg = render_patches(mols, ids, ents, ["a", "b", "c"]).decode()
    assert svg.lstrip().startswith("<?xml") and "</svg>" in svg
    assert "2.0" in svg or "2.0" in svg.replace("<", " ")  # an entropy note is drawn


def test_png_and_numbered_files(tmp_path: Path) -> None:
    mols, ids, ents = mols_and_ids()
    png = draw_patches(tmp_path / "grid.png", mols, ids, ents)
    assert png.read_bytes()[:4] == b"\x89PNG"
    files = draw_patches_files(
        tmp_path / "each", ["Acetic acid", "KCl", "pyridine"], mols, ids, ents
    )
    assert [f.name for f in files] == ["01_acetic_acid.svg", "02_kcl.svg", "03_pyridine.svg"]


def test_draw_errors() -> None:
    mols, ids, _ = mols_and_ids()
    with pytest.raises(EdtError, match="png"):
        render_patches(mols, ids, fmt=".jpg")
    with pytest.raises(EdtError, match="patch ids"):
        render_patches(mols[:1], [np.array([0])])
    with pytest.raises(EdtError):
        render_patches([], [])

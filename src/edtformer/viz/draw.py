"""Pictures of patched molecules: atoms coloured by patch, annotated with their entropy (bits).

Uses RDKit's ``rdMolDraw2D`` only (SVG always; PNG through the Cairo backend RDKit wheels
include). Several molecules go into one grid image (``per_row`` panels per row), each panel
with a legend; :func:`draw_patches_files` writes one numbered file per molecule instead.

This module imports RDKit itself because its job *is* an RDKit algorithm (2D depiction and
drawing); it parses nothing (molecules come in as RDKit molecules, from :mod:`edtformer.chem`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

from edtformer.errors import EdtError
from edtformer.utils.io import atomic_write_bytes

#: Pastel patch colours (RGB in [0, 1]); patches cycle through them.
PALETTE: tuple[tuple[float, float, float], ...] = (
    (0.55, 0.78, 0.98),
    (0.99, 0.73, 0.47),
    (0.63, 0.89, 0.58),
    (0.98, 0.60, 0.62),
    (0.78, 0.68, 0.93),
    (0.93, 0.86, 0.45),
    (0.57, 0.88, 0.86),
    (0.96, 0.70, 0.88),
    (0.76, 0.76, 0.76),
    (0.80, 0.93, 0.62),
)
FORMATS = (".svg", ".png")


def patch_color(k: int) -> tuple[float, float, float]:
    """Colour of patch ``k``."""
    return PALETTE[k % len(PALETTE)]


def _prepared(
    mol: Chem.Mol, entropy: np.ndarray | None, patch_ids: np.ndarray
) -> tuple[Chem.Mol, list[int], dict[int, tuple[float, float, float]], list[int], dict]:
    if len(patch_ids) != mol.GetNumAtoms():
        raise EdtError(
            f"got {len(patch_ids)} patch ids for a molecule with {mol.GetNumAtoms()} atoms"
        )
    mol = Chem.Mol(mol)
    if entropy is not None:
        for atom, h in zip(mol.GetAtoms(), entropy, strict=True):
            atom.SetProp("atomNote", f"{float(h):.1f}")
    atoms = list(range(mol.GetNumAtoms()))
    atom_colors = {i: patch_color(int(p)) for i, p in enumerate(patch_ids)}
    bonds, bond_colors = [], {}
    for bond in mol.GetBonds():
        u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        if patch_ids[u] == patch_ids[v]:
            bonds.append(bond.GetIdx())
            bond_colors[bond.GetIdx()] = patch_color(int(patch_ids[u]))
    return rdMolDraw2D.PrepareMolForDrawing(mol), atoms, atom_colors, bonds, bond_colors


def render_patches(
    mols: Sequence[Chem.Mol],
    patch_ids: Sequence[np.ndarray],
    entropies: Sequence[np.ndarray] | None = None,
    legends: Sequence[str] | None = None,
    fmt: str = ".svg",
    panel: tuple[int, int] = (420, 340),
    per_row: int = 3,
) -> bytes:
    """Render molecules as one image (a grid when several) and return its bytes.

    Args:
        mols: RDKit molecules.
        patch_ids: ``int [n_atoms]`` per molecule — atoms and intra-patch bonds take the
            patch's colour.
        entropies: ``float [n_atoms]`` bits per molecule, written next to each atom.
        legends: one caption per molecule.
        fmt: ``".svg"`` or ``".png"``.
        panel: width, height of one molecule's panel in pixels.
        per_row: panels per grid row.
    """
    if fmt not in FORMATS:
        raise EdtError(f"cannot draw to {fmt!r}; use a file name ending in .svg or .png")
    if not mols:
        raise EdtError("nothing to draw: no valid molecules")
    ents: Sequence[np.ndarray | None] = entropies if entropies is not None else [None] * len(mols)
    prepared = [_prepared(m, e, p) for m, e, p in zip(mols, ents, patch_ids, strict=True)]
    cols = min(per_row, len(mols))
    rows = (len(mols) + cols - 1) // cols
    w, h = panel
    drawer: rdMolDraw2D.MolDraw2D
    if fmt == ".svg":
        drawer = rdMolDraw2D.MolDraw2DSVG(w * cols, h * rows, w, h)
    else:
        drawer = rdMolDraw2D.MolDraw2DCairo(w * cols, h * rows, w, h)
    opts = drawer.drawOptions()
    opts.annotationFontScale = 0.6  # type: ignore[assignment]
    opts.legendFontSize = 16  # type: ignore[assignment]
    drawer.DrawMolecules(
        [p[0] for p in prepared],
        highlightAtoms=[p[1] for p in prepared],
        highlightAtomColors=[p[2] for p in prepared],
        highlightBonds=[p[3] for p in prepared],
        highlightBondColors=[p[4] for p in prepared],
        legends=list(legends) if legends is not None else [""] * len(mols),
    )
    drawer.FinishDrawing()
    text = drawer.GetDrawingText()
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def draw_patches(
    path: str | Path,
    mols: Sequence[Chem.Mol],
    patch_ids: Sequence[np.ndarray],
    entropies: Sequence[np.ndarray] | None = None,
    legends: Sequence[str] | None = None,
    **kwargs: object,
) -> Path:
    """Write one image (format from the extension: ``.svg`` or ``.png``) atomically."""
    path = Path(path)
    data = render_patches(
        mols,
        patch_ids,
        entropies,
        legends,
        fmt=path.suffix.lower(),
        **kwargs,  # type: ignore[arg-type]
    )
    return atomic_write_bytes(path, data)


def draw_patches_files(
    folder: str | Path,
    names: Sequence[str],
    mols: Sequence[Chem.Mol],
    patch_ids: Sequence[np.ndarray],
    entropies: Sequence[np.ndarray] | None = None,
    fmt: str = ".svg",
) -> list[Path]:
    """One file per molecule: ``folder/NN_<name><fmt>`` (``NN`` = 1-based position)."""
    ents: Sequence[np.ndarray | None] = entropies if entropies is not None else [None] * len(mols)
    out = []
    for k, (name, mol, ids, ent) in enumerate(zip(names, mols, patch_ids, ents, strict=True), 1):
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name.lower())[:40]
        path = Path(folder) / f"{k:02d}_{safe}{fmt}"
        out.append(draw_patches(path, [mol], [ids], None if ent is None else [ent], [name]))
    return out

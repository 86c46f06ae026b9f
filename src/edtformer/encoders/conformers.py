"""3D conformers for the ``unimol`` stream: RDKit ETKDGv3 with a fixed seed, MMFF where it converges.

The rules, each named so that a cache key can carry them (:meth:`ConformerConfig.settings`):

- **Canonical order first.** The molecule is rebuilt from its canonical SMILES before embedding
  and the coordinates are mapped back to the input atom order, so ``OCC(C)N`` and ``NC(C)CO``
  get the same geometry per atom (the feature cache stores rows in canonical order and relies
  on that).
- **ETKDGv3** (``rdDistGeom.ETKDGv3``) on the molecule with explicit hydrogens, ``randomSeed`` =
  :attr:`ConformerConfig.seed` (42, as in Uni-Mol's ``unimol_tools``), one thread, so a fixed
  seed gives bit-identical coordinates.
- **Number of conformers** :attr:`ConformerConfig.n_conformers`: 10 by default, Uni-Mol's
  ``--conf-size`` default (its inference averages over conformers); ``unimol_tools`` uses 1.
- **MMFF94** (``MMFFOptimizeMoleculeConfs``, ``max_iters`` steps) per conformer; a conformer
  whose optimisation does not converge, or a molecule without MMFF parameters, keeps its ETKDG
  coordinates.
- **Fallbacks**, in order, each logged and counted in :class:`ConformerStats`:
  ``"etkdg_random_coords"`` (ETKDGv3 again from random coordinates, as Uni-Mol's "heavy" mode
  retries) and then ``"2d"`` (``Compute2DCoords``: z = 0 for every atom, as Uni-Mol does when
  embedding fails).
- **Atom cap** :attr:`ConformerConfig.max_atoms` on the atoms embedded (hydrogens included):
  larger molecules raise :class:`~edtformer.errors.UnsupportedMoleculeError` before any work.

This module imports RDKit itself because its job *is* an RDKit algorithm (hydrogens added,
ETKDG embedding, MMFF, 2D depiction); parsing, writing and the canonical atom order are
:mod:`edtformer.chem`'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import rdDepictor, rdDistGeom
from rdkit.Chem import rdForceFieldHelpers as ff

from edtformer.chem import canonical_atom_order, mol_to_smiles, rdkit_mol
from edtformer.errors import UnsupportedMoleculeError

logger = logging.getLogger(__name__)

#: Bumped whenever the coordinates produced for a molecule change; part of :meth:`settings`.
CONFORMER_VERSION = "1"
#: How a molecule's coordinates were obtained, best first.
METHODS = ("etkdg", "etkdg_random_coords", "2d")


@dataclass(frozen=True)
class ConformerConfig:
    """How conformers are generated.

    Attributes:
        n_conformers: conformers per molecule (Uni-Mol's ``--conf-size`` default is 10).
        seed: ETKDG random seed (``unimol_tools`` uses 42).
        mmff: optimise each conformer with MMFF94 (kept only where it converges).
        mmff_max_iters: MMFF iteration limit per conformer (RDKit's default, 200).
        max_atoms: refuse molecules with more atoms than this once hydrogens are added.
    """

    n_conformers: int = 10
    seed: int = 42
    mmff: bool = True
    mmff_max_iters: int = 200
    max_atoms: int = 512

    def __post_init__(self) -> None:
        if self.n_conformers < 1:
            raise ValueError(f"n_conformers must be at least 1, got {self.n_conformers}")
        if self.max_atoms < 1:
            raise ValueError(f"max_atoms must be at least 1, got {self.max_atoms}")

    def settings(self) -> str:
        """A short string naming every setting, for cache keys (e.g. ``etkdgv3-n10-s42-mmff200``)."""
        mmff = f"mmff{self.mmff_max_iters}" if self.mmff else "nommff"
        return (
            f"etkdgv3-n{self.n_conformers}-s{self.seed}-{mmff}-cap{self.max_atoms}"
            f"-c{CONFORMER_VERSION}"
        )


@dataclass
class ConformerStats:
    """Counters since the generator was created (one per molecule unless said otherwise)."""

    molecules: int = 0
    etkdg: int = 0
    etkdg_random_coords: int = 0
    fallback_2d: int = 0
    conformers: int = 0
    mmff_converged: int = 0  # per conformer
    mmff_not_converged: int = 0  # per conformer
    mmff_no_params: int = 0


class Conformers(NamedTuple):
    """The conformers of one molecule, with explicit hydrogens, in input atom order.

    Attributes:
        mol_h: the input molecule with hydrogens added (``Chem.AddHs``): atoms ``0..n-1`` are the
            input atoms, the added hydrogens follow.
        coords: float32 ``[C, n_h, 3]`` in Å; row ``i`` is atom ``i`` of ``mol_h``.
        method: one of :data:`METHODS`.
    """

    mol_h: Any
    coords: np.ndarray
    method: str


@dataclass
class ConformerGenerator:
    """Generates :class:`Conformers` with one :class:`ConformerConfig` and counts what happened.

    Example::

        gen = ConformerGenerator(ConformerConfig(n_conformers=1))
        conf = gen(record.mol)       # conf.coords [1, n_atoms_with_h, 3]
    """

    config: ConformerConfig = field(default_factory=ConformerConfig)
    stats: ConformerStats = field(default_factory=ConformerStats)

    def check(self, mol: Any, smiles: str = "") -> None:
        """Raise :class:`UnsupportedMoleculeError` if ``mol`` has no atom or too many atoms."""
        n_h = mol.GetNumAtoms() + sum(a.GetTotalNumHs() for a in mol.GetAtoms())
        if mol.GetNumAtoms() == 0:
            raise UnsupportedMoleculeError(smiles, "no atoms to place in 3D")
        if n_h > self.config.max_atoms:
            raise UnsupportedMoleculeError(
                smiles,
                f"{n_h} atoms with hydrogens, more than the conformer cap of "
                f"{self.config.max_atoms} (ConformerConfig.max_atoms)",
            )

    def __call__(self, mol: Any, smiles: str = "") -> Conformers:
        """Conformers of ``mol`` (an RDKit molecule; its atom order is kept)."""
        self.check(mol, smiles)
        canon, order = _canonical_copy(mol)
        canon_h = Chem.AddHs(canon)
        coords, method = self._embed(canon_h, smiles)
        self.stats.molecules += 1
        self.stats.conformers += coords.shape[0]
        mol_h = Chem.AddHs(mol)
        return Conformers(mol_h, _map_back(coords, order, canon_h, mol_h), method)

    # -- steps --------------------------------------------------------------------------------
    def _embed(self, mol_h: Any, smiles: str) -> tuple[np.ndarray, str]:
        """``([C, n_h, 3], method)`` for a molecule with explicit hydrogens (modified in place)."""
        cfg = self.config
        quiet = rdBase.BlockLogs()  # noqa: F841 - RDKit's UFF/MMFF typer chatter, until return
        for method in METHODS[:2]:
            params: Any = rdDistGeom.ETKDGv3()  # the stubs mistype its fields
            params.randomSeed = cfg.seed
            params.numThreads = 1
            params.useRandomCoords = method == "etkdg_random_coords"
            try:
                ids = list(rdDistGeom.EmbedMultipleConfs(mol_h, cfg.n_conformers, params))
            except (RuntimeError, ValueError) as exc:  # RDKit raises on odd valences, dummies
                logger.debug("ETKDG raised for %r: %s", smiles, exc)
                ids = []
            if ids:
                if method == "etkdg":
                    self.stats.etkdg += 1
                else:
                    self.stats.etkdg_random_coords += 1
                    logger.info("conformers of %r: ETKDG needed random coordinates", smiles)
                if cfg.mmff:
                    self._mmff(mol_h, smiles)
                xyz = [mol_h.GetConformer(i).GetPositions() for i in ids]
                return np.asarray(xyz, dtype=np.float32), method
        rdDepictor.Compute2DCoords(mol_h)
        self.stats.fallback_2d += 1
        logger.warning(
            "conformers of %r: ETKDG failed; using 2D coordinates (z = 0), fallback %d so far",
            smiles,
            self.stats.fallback_2d,
        )
        xyz2d = np.asarray(mol_h.GetConformer().GetPositions(), dtype=np.float32)
        return xyz2d[None], "2d"

    def _mmff(self, mol_h: Any, smiles: str) -> None:
        """MMFF94 on every conformer; conformers that do not converge get their ETKDG coordinates back."""
        if not ff.MMFFHasAllMoleculeParams(mol_h):
            self.stats.mmff_no_params += 1
            logger.debug("no MMFF parameters for %r; ETKDG coordinates kept", smiles)
            return
        before = [np.array(c.GetPositions()) for c in mol_h.GetConformers()]
        results = ff.MMFFOptimizeMoleculeConfs(
            mol_h, numThreads=1, maxIters=self.config.mmff_max_iters
        )
        for conf, xyz, (not_converged, _energy) in zip(
            mol_h.GetConformers(), before, results, strict=True
        ):
            if not_converged == 0:
                self.stats.mmff_converged += 1
                continue
            self.stats.mmff_not_converged += 1
            for i, p in enumerate(xyz):
                conf.SetAtomPosition(i, p.tolist())


def _canonical_copy(mol: Any) -> tuple[Any, list[int]]:
    """The molecule in canonical SMILES order and ``order[k]`` = input index of canonical atom ``k``.

    Rebuilt from the canonical SMILES (so two spellings of one molecule give identical inputs to
    ETKDG); when that round trip changes the atom count, the input is renumbered instead.
    """
    smiles, order = canonical_atom_order(mol)
    canon = rdkit_mol(smiles)
    if canon is None or canon.GetNumAtoms() != mol.GetNumAtoms():
        canon = Chem.RenumberAtoms(mol, order)
    return canon, order


def _map_back(coords: np.ndarray, order: list[int], canon_h: Any, mol_h: Any) -> np.ndarray:
    """Coordinates of ``canon_h`` atoms ``[C, n_h, 3]`` reordered to ``mol_h``'s atom order.

    Heavy (input) atoms map through ``order``; the added hydrogens of each input atom take the
    positions of the hydrogens added to its canonical twin, in order.
    """
    n = len(order)
    out = np.zeros((coords.shape[0], mol_h.GetNumAtoms(), 3), dtype=np.float32)
    for k, i in enumerate(order):
        out[:, i] = coords[:, k]
        src = [a.GetIdx() for a in canon_h.GetAtomWithIdx(k).GetNeighbors() if a.GetIdx() >= n]
        dst = [a.GetIdx() for a in mol_h.GetAtomWithIdx(i).GetNeighbors() if a.GetIdx() >= n]
        if len(src) != len(dst):  # pragma: no cover - AddHs adds the same count to twins
            raise UnsupportedMoleculeError(
                mol_to_smiles(mol_h),
                f"hydrogen count differs at atom {i}: {len(src)} vs {len(dst)}",
            )
        for s, d in zip(sorted(src), sorted(dst), strict=True):
            out[:, d] = coords[:, s]
    return out

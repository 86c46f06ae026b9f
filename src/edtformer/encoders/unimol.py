"""``unimol``: the paper's 3D stream — Uni-Mol's molecular encoder on RDKit conformers.

Pipeline per molecule (the official featurisation of ``unimol_tools`` / Uni-Mol's tasks):

1. conformers (:mod:`edtformer.encoders.conformers`: ETKDGv3, fixed seed, MMFF where it
   converges, 10 per molecule by default, 2D fallback) with explicit hydrogens;
2. tokens: the atoms Uni-Mol sees — every atom except hydrogens for the released
   ``mol_pre_no_h`` model, every atom including the added hydrogens for ``mol_pre_all_h`` —
   as :data:`~edtformer.encoders.unimol_model.UNIMOL_MOL_DICT` ids (unknown elements are
   ``[UNK]``, as in Uni-Mol), framed by ``[CLS]`` and ``[SEP]``;
3. coordinates centred on those atoms' mean, ``[CLS]``/``[SEP]`` at the origin;
4. :class:`~edtformer.encoders.unimol_model.UniMolModel` on every conformer; **a molecule's
   features are the mean over its conformers** (Uni-Mol averages its predictions over
   ``--conf-size`` conformers the same way);
5. rows mapped back to RDKit input order: ``[CLS]``, ``[SEP]`` and added hydrogens dropped; an
   input hydrogen Uni-Mol does not see (``[2H]`` for the no-H model) takes the row of the heavy
   atom it is bonded to.

Molecules with more tokens than ``max_tokens`` (256, Uni-Mol's ``max_atoms``; Uni-Mol crops at
random, which would drop atoms) raise :class:`~edtformer.errors.UnsupportedMoleculeError`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from edtformer.chem import MolRecord
from edtformer.encoders.base import GraphEncoder
from edtformer.encoders.conformers import ConformerConfig, ConformerGenerator, Conformers
from edtformer.encoders.registry import encoder_info
from edtformer.encoders.unimol_checkpoint import load_unimol, resolve_checkpoint
from edtformer.encoders.unimol_model import CLS, PAD, SEP, UniMolModel, token_ids
from edtformer.errors import UnsupportedMoleculeError

logger = logging.getLogger(__name__)

#: Uni-Mol's ``max_atoms``: tokens per molecule, ``[CLS]``/``[SEP]`` not counted.
MAX_TOKENS = 256


class UniMolInputs(NamedTuple):
    """One molecule as Uni-Mol sees it.

    Attributes:
        tokens: long ``[T]``: ``[CLS]``, one id per atom Uni-Mol sees, ``[SEP]``.
        coords: float32 ``[C, T, 3]``: per conformer, centred atoms; ``[CLS]``/``[SEP]`` at 0.
        rows: ``rows[i]`` = token position holding RDKit input atom ``i``.
    """

    tokens: torch.Tensor
    coords: torch.Tensor
    rows: list[int]


def _seen_atoms(mol_h: object, hydrogens: bool) -> list[int]:
    """Indices in ``mol_h`` of the atoms Uni-Mol gets as tokens."""
    atoms = mol_h.GetAtoms()  # type: ignore[attr-defined]
    return [a.GetIdx() for a in atoms if hydrogens or a.GetSymbol() != "H"]


def input_rows(record: MolRecord, seen: list[int]) -> list[int]:
    """Token position for each input atom (``1 + position in seen``; dropped H -> its neighbour's).

    Raises:
        UnsupportedMoleculeError: an input atom Uni-Mol does not see has no neighbour it sees.
    """
    pos = {atom: 1 + k for k, atom in enumerate(seen)}
    rows = []
    for atom in record.mol.GetAtoms():
        i = atom.GetIdx()
        if i not in pos:
            seen_nbrs = [n.GetIdx() for n in atom.GetNeighbors() if n.GetIdx() in pos]
            if not seen_nbrs:
                raise UnsupportedMoleculeError(
                    record.smiles,
                    f"hydrogen atom {i} has no heavy neighbour for Uni-Mol's no-H model",
                )
            i = min(seen_nbrs)
        rows.append(pos[i])
    return rows


def unimol_inputs(record: MolRecord, conformers: Conformers, hydrogens: bool) -> UniMolInputs:
    """Tokens, centred coordinates and the row map of one molecule (official featurisation)."""
    mol_h = conformers.mol_h
    seen = _seen_atoms(mol_h, hydrogens)
    symbols = [mol_h.GetAtomWithIdx(i).GetSymbol() for i in seen]
    tokens = torch.tensor([CLS, *token_ids(symbols), SEP], dtype=torch.long)  # [T]
    xyz = conformers.coords[:, seen].astype(np.float64)  # [C, n_seen, 3]
    xyz = xyz - xyz.mean(axis=1, keepdims=True)
    coords = np.zeros((xyz.shape[0], len(seen) + 2, 3), dtype=np.float32)  # [C, T, 3]
    coords[:, 1:-1] = xyz
    return UniMolInputs(tokens, torch.from_numpy(coords), input_rows(record, seen))


def run_padded(
    model: UniMolModel, seqs: Sequence[tuple[torch.Tensor, torch.Tensor]], max_pairs: int
) -> list[torch.Tensor]:
    """``model`` on many ``(tokens [T_i], coords [T_i, 3])`` sequences, padded in chunks.

    Sequences are sorted by length and chunked so that ``B * T_max^2 <= max_pairs`` (the pair
    tensors ``[B, T, T, K]`` and ``[B, H, T, T]`` dominate memory).

    Returns:
        one ``[T_i, D]`` tensor per sequence, in input order.
    """
    order = sorted(range(len(seqs)), key=lambda i: int(seqs[i][0].shape[0]))
    out: list[torch.Tensor] = [torch.empty(0)] * len(seqs)
    start = 0
    while start < len(order):
        t_max = int(seqs[order[start]][0].shape[0])
        end = start + 1
        while end < len(order):
            t_next = int(seqs[order[end]][0].shape[0])
            if (end - start + 1) * t_next * t_next > max_pairs:
                break
            t_max, end = t_next, end + 1
        idx = order[start:end]
        tokens = torch.full((len(idx), t_max), PAD, dtype=torch.long)  # [B, T]
        coords = torch.zeros(len(idx), t_max, 3)  # [B, T, 3]
        for b, i in enumerate(idx):
            t = int(seqs[i][0].shape[0])
            tokens[b, :t], coords[b, :t] = seqs[i]
        h = model(tokens, coords)  # [B, T, D]
        for b, i in enumerate(idx):
            out[i] = h[b, : int(seqs[i][0].shape[0])]
        start = end
    return out


class UniMolEncoder(GraphEncoder):
    """Frozen Uni-Mol per-atom features (width 512 for the release) in RDKit atom order.

    Args:
        checkpoint: the official ``mol_pre_no_h_220816.pt`` (or ``mol_pre_all_h_220816.pt``, or
            a ``.safetensors`` with the same keys); default ``$EDT_UNIMOL_CHECKPOINT``.
        n_conformers: conformers per molecule; features are averaged over them.
        seed: ETKDG seed.
        mmff: MMFF94-optimise conformers (kept where it converges).
        hydrogens: feed hydrogens to the model (the ``all_h`` release); default: True when the
            file name contains ``all_h``, else False.
        max_tokens: refuse molecules with more tokens than this.
        max_pairs: padded chunk size, ``B * T^2`` (memory bound of one forward).

    Raises:
        CheckpointError: no checkpoint (the message names the file to download and where to put
            it), an unreadable file, or keys that are not Uni-Mol's.
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        *,
        n_conformers: int = 10,
        seed: int = 42,
        mmff: bool = True,
        hydrogens: bool | None = None,
        max_tokens: int = MAX_TOKENS,
        max_pairs: int = 1 << 16,
    ) -> None:
        super().__init__()
        path = resolve_checkpoint(checkpoint)
        self.model, digest = load_unimol(path)
        self.hydrogens = "all_h" in path.name if hydrogens is None else hydrogens
        self.max_tokens = max_tokens
        self.max_pairs = max_pairs
        self.conformers = ConformerGenerator(
            ConformerConfig(n_conformers=n_conformers, seed=seed, mmff=mmff)
        )
        base = encoder_info("unimol")
        h_mode = "all_h" if self.hydrogens else "no_h"
        self.info = dataclasses.replace(
            base,
            width=self.model.config.width,
            version=(
                f"{base.version}/{digest[:16]}/{h_mode}/{self.conformers.config.settings()}"
                f"/tok{max_tokens}"
            ),
        )
        self.freeze()

    def check(self, record: MolRecord) -> None:
        """Refuse empty molecules, too many atoms, and hydrogens Uni-Mol cannot place."""
        self.conformers.check(record.mol, record.smiles)
        mol = record.mol
        n_tokens = sum(1 for a in mol.GetAtoms() if self.hydrogens or a.GetSymbol() != "H")
        if self.hydrogens:
            n_tokens += sum(a.GetTotalNumHs() for a in mol.GetAtoms())
        if n_tokens > self.max_tokens:
            raise UnsupportedMoleculeError(
                record.smiles,
                f"{n_tokens} Uni-Mol tokens, more than max_tokens={self.max_tokens}",
            )
        if n_tokens == 0:
            raise UnsupportedMoleculeError(record.smiles, "no heavy atom for Uni-Mol's no-H model")
        if not self.hydrogens:
            seen = [a.GetIdx() for a in mol.GetAtoms() if a.GetSymbol() != "H"]
            input_rows(record, seen)  # raises for a hydrogen without a heavy neighbour

    def inputs(self, record: MolRecord) -> UniMolInputs:
        """Conformers and the official featurisation of one molecule."""
        return unimol_inputs(record, self.conformers(record.mol, record.smiles), self.hydrogens)

    def _encode_rows(self, records: Sequence[MolRecord]) -> list[torch.Tensor]:
        batch = [self.inputs(r) for r in records]
        seqs = [(x.tokens, c) for x in batch for c in x.coords]  # one sequence per conformer
        feats = run_padded(self.model, seqs, self.max_pairs)  # [T_i, D] each
        rows, k = [], 0
        for x in batch:
            n_conf = int(x.coords.shape[0])
            mean = torch.stack(feats[k : k + n_conf]).mean(dim=0)  # [T, D]
            k += n_conf
            rows.append(mean[x.rows])  # [n_atoms, D]
        return rows

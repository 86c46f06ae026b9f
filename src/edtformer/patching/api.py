"""Rule registry and the high-level ``compute_patches`` over molecules and their entropies.

Rules by name (``RULES`` / :func:`get_rule`):

- ``quantile`` — EDT-Former's rising edges over the per-molecule 75th percentile (``q``);
- ``threshold`` — BLT global threshold (``threshold``, ``max_patch_len``);
- ``monotonic`` — BLT monotonic rise (``margin``, ``max_patch_len``);
- ``brics`` — RDKit BRICS bonds removed, fragments numbered by their first atom (no entropy);
- ``combine`` — ``quantile`` (or ``entropy_rule``) patches **and** BRICS fragments, both returned.

This module imports RDKit itself because :func:`brics_ids` *is* an RDKit algorithm (BRICS bond
finding and fragmentation); molecules are parsed and featurised through :mod:`edtformer.chem`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import BRICS

from edtformer.chem import MolRecord, canonical_order, parse_smiles, record_from_mol
from edtformer.entropy.scorer import load_default_scorer
from edtformer.errors import InvalidShapeError
from edtformer.patching.rules import monotonic_rule, quantile_rule, threshold_rule

#: Batched entropy rules: ``(entropy [B, N], mask [B, N], **options) -> ids [B, N]``.
EntropyRule = Callable[..., torch.Tensor]

ENTROPY_RULES: dict[str, EntropyRule] = {
    "quantile": quantile_rule,
    "threshold": threshold_rule,
    "monotonic": monotonic_rule,
}
#: Every selectable rule name (entropy rules + ``brics`` + ``combine``).
RULES: tuple[str, ...] = (*ENTROPY_RULES, "brics", "combine")


def get_rule(name: str) -> EntropyRule:
    """The batched entropy rule called ``name`` (``quantile``, ``threshold``, ``monotonic``)."""
    try:
        return ENTROPY_RULES[name]
    except KeyError:
        raise ValueError(
            f"unknown entropy patching rule {name!r}; expected one of {sorted(ENTROPY_RULES)}"
        ) from None


@dataclass(frozen=True)
class PatchResult:
    """Partitions of one molecule's atoms.

    Attributes:
        rule: the rule name that produced it.
        patch_ids: ``int64 [n_atoms]`` — the rule's partition (for ``combine``: the entropy
            partition; for ``brics``: the BRICS fragments).
        brics_ids: ``int64 [n_atoms]`` BRICS fragment ids for ``combine`` (else ``None``).
    """

    rule: str
    patch_ids: np.ndarray
    brics_ids: np.ndarray | None = None

    @property
    def n_patches(self) -> int:
        """Number of patches in :attr:`patch_ids`."""
        return int(self.patch_ids.max()) + 1 if len(self.patch_ids) else 0

    @property
    def partitions(self) -> np.ndarray:
        """Every partition as one ``int64 [G, n_atoms]`` array (``combine``: entropy patches
        then BRICS fragments, ``G = 2``; other rules ``G = 1``) -- what the bridge pools."""
        rows = [self.patch_ids] if self.brics_ids is None else [self.patch_ids, self.brics_ids]
        return np.stack([np.asarray(r, dtype=np.int64) for r in rows])

    @property
    def n_brics(self) -> int:
        """Number of BRICS fragments (0 when not computed)."""
        return 0 if self.brics_ids is None else int(self.brics_ids.max()) + 1


def pad_entropies(entropies: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ragged per-molecule entropies: ``float32 [B, N_max]`` (0 on padding), ``bool [B, N_max]``."""
    lengths = np.fromiter((len(e) for e in entropies), dtype=np.int64, count=len(entropies))
    n_max = int(lengths.max()) if len(lengths) else 0
    mask = np.arange(n_max)[None, :] < lengths[:, None]
    padded = np.zeros((len(entropies), n_max), dtype=np.float32)
    if len(entropies):
        padded[mask] = np.concatenate([np.asarray(e, dtype=np.float32) for e in entropies])
    return torch.from_numpy(padded), torch.from_numpy(mask)


def entropy_patches(
    entropies: Sequence[np.ndarray], rule: str = "quantile", **options: Any
) -> list[np.ndarray]:
    """Apply a batched entropy rule to ragged entropies; one ``int64 [n_atoms]`` array each."""
    fn = get_rule(rule)
    if not len(entropies):
        return []
    x, mask = pad_entropies(entropies)
    ids = fn(x, mask, **options).numpy()  # [B, N_max]
    return [ids[b, : len(e)].copy() for b, e in enumerate(entropies)]


def relabel_by_first_atom(labels: np.ndarray) -> np.ndarray:
    """Renumber arbitrary group labels ``[n]`` so that ids are 0, 1, ... in order of first atom."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def brics_ids(mol: Chem.Mol) -> np.ndarray:
    """BRICS fragment id per atom, ``int64 [n_atoms]``, numbered by each fragment's first atom.

    BRICS bonds are cut (no dummy atoms added); disconnected input fragments stay separate.
    """
    n = mol.GetNumAtoms()
    bonds = [mol.GetBondBetweenAtoms(i, j).GetIdx() for (i, j), _ in BRICS.FindBRICSBonds(mol)]
    frag = Chem.FragmentOnBonds(mol, bonds, addDummies=False) if bonds else mol
    labels = np.empty(n, dtype=np.int64)
    for k, atoms in enumerate(Chem.GetMolFrags(frag, asMols=False, sanitizeFrags=False)):
        labels[list(atoms)] = k
    return relabel_by_first_atom(labels)


def _mol(item: Any) -> Chem.Mol:
    return getattr(item, "mol", item)


def compute_patches(
    mols: Sequence[Any],
    entropies: Sequence[np.ndarray] | None = None,
    rule: str = "quantile",
    entropy_rule: str = "quantile",
    **options: Any,
) -> list[PatchResult]:
    """Patch each molecule (``MolRecord`` or RDKit ``Mol``) with rule ``rule``.

    Args:
        mols: the molecules (atom order = entropy order).
        entropies: per-molecule ``float [n_atoms]`` bits (not needed for ``brics``).
        rule: one of :data:`RULES`.
        entropy_rule: the entropy rule ``combine`` uses (default ``quantile``).
        **options: passed to the entropy rule (``q``, ``threshold``, ``margin``, ``max_patch_len``).

    Raises:
        ValueError: unknown rule, or entropies missing for an entropy rule.
        InvalidShapeError: an entropy array whose length is not the molecule's atom count.
    """
    if rule not in RULES:
        raise ValueError(f"unknown patching rule {rule!r}; expected one of {list(RULES)}")
    if rule == "brics":
        return [PatchResult(rule, brics_ids(_mol(m))) for m in mols]
    if entropies is None:
        raise ValueError(f"rule {rule!r} needs per-atom entropies")
    if len(entropies) != len(mols):
        raise ValueError(f"got {len(entropies)} entropy arrays for {len(mols)} molecules")
    for m, e in zip(mols, entropies, strict=True):
        n = _mol(m).GetNumAtoms()
        if np.shape(e) != (n,):
            raise InvalidShapeError("entropy", np.shape(e), f"[{n}] (one value per atom)")
    ids = entropy_patches(entropies, entropy_rule if rule == "combine" else rule, **options)
    if rule == "combine":
        return [PatchResult(rule, p, brics_ids(_mol(m))) for m, p in zip(mols, ids, strict=True)]
    return [PatchResult(rule, p) for p in ids]


def as_record(item: Any) -> Any:
    """A :class:`~edtformer.chem.MolRecord` of a SMILES string (strict front end), an RDKit
    ``Mol`` or a record (returned as is)."""
    if isinstance(item, MolRecord):
        return item
    if isinstance(item, str):
        return parse_smiles(item)
    if isinstance(item, Chem.Mol):
        return record_from_mol(item)
    raise TypeError(f"expected a SMILES string, MolRecord or rdkit Mol, got {type(item).__name__}")


def patch_molecules(
    mols: Sequence[Any],
    rule: str = "combine",
    scorer: Any = None,
    canonical: bool = True,
    **options: Any,
) -> tuple[list[np.ndarray], list[PatchResult]]:
    """Score with ``scorer`` (default: the shipped model) and patch: ``(entropies, patches)``.

    ``mols``: SMILES strings, :class:`~edtformer.chem.MolRecord` s or RDKit ``Mol`` s. With
    ``canonical`` (the default) entropies and patches are computed on each molecule's canonical
    atom order (:func:`edtformer.chem.canonical_order`) and returned in the *input* atom order,
    patch ids numbered by first input atom: every writing of one molecule gets the same
    per-atom entropies and the same patches as atom sets. Entropies are computed for every rule
    (also ``brics``) so that callers can display them.
    """
    if scorer is None:
        scorer = load_default_scorer()
    records = [as_record(m) for m in mols]
    if not canonical:
        entropies = scorer.score(records)
        return entropies, compute_patches(records, entropies, rule, **options)
    pairs = [canonical_order(r) for r in records]
    canon = [c for c, _ in pairs]
    ent_c = scorer.score(canon)
    res_c = compute_patches(canon, ent_c, rule, **options)
    entropies, results = [], []
    for (_, order), h, res in zip(pairs, ent_c, res_c, strict=True):
        entropies.append(_to_input_order(np.asarray(h), order))
        patch = relabel_by_first_atom(_to_input_order(res.patch_ids, order))
        brics = (
            None
            if res.brics_ids is None
            else relabel_by_first_atom(_to_input_order(res.brics_ids, order))
        )
        results.append(PatchResult(res.rule, patch, brics))
    return entropies, results


def _to_input_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``values`` per canonical atom ``[n]`` -> per input atom (``order[i]`` = input index of
    canonical atom ``i``)."""
    out = np.empty_like(values)
    out[order] = values
    return out

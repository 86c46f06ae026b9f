"""Molecule generation metrics on RDKit canonical SMILES.

Every comparison is made between canonical isomeric SMILES (never raw strings or SELFIES, a
defect of the public code): exact match, validity, fingerprint Tanimoto similarity (MACCS,
RDKit topological, Morgan radius 2 / 2048 bits: :mod:`edtformer.chem.similarity`), Levenshtein
distance and character BLEU.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

from edtformer.chem import rdkit_mol
from edtformer.chem.molecule import canonical_smiles, mol_from_smiles, mol_to_smiles
from edtformer.chem.similarity import FINGERPRINTS, MORGAN_BITS, MORGAN_RADIUS, tanimoto
from edtformer.errors import InvalidSmilesError
from edtformer.evaluation.text import corpus_bleu
from edtformer.evaluation.validation import check_paired, undefined

logger = logging.getLogger(__name__)


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions each cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def molecule_generation_metrics(
    predictions: Sequence[str | None], references: Sequence[str], isomeric: bool = True
) -> dict[str, float]:
    """Score generated molecules against reference molecules.

    Args:
        predictions: generated SMILES (``None`` or unparseable counts as invalid).
        references: reference SMILES; each must be valid.
        isomeric: keep stereochemistry in the canonical SMILES (exact match is then stereo-aware).

    Returns:
        ``n``; ``validity`` (fraction of predictions RDKit parses); ``exact_match`` (canonical
        SMILES equal; invalid predictions count as misses); ``maccs_fts`` / ``rdk_fts`` /
        ``morgan_fts`` (mean Tanimoto over the valid predictions, the MolT5 convention, NaN when
        none is valid); ``levenshtein`` (mean edit distance between canonical strings; an
        invalid prediction uses its raw text, ``None`` the empty string); ``bleu`` (corpus
        BLEU-4 over the characters of those strings).

    Raises:
        MetricInputError: empty or unequal inputs.
        InvalidSmilesError: a reference does not parse (the message gives its index).
    """
    n = check_paired(
        "molecule_generation_metrics", references, predictions, ("references", "predictions")
    )
    ref_mols = []
    for i, ref in enumerate(references):
        try:
            ref_mols.append(mol_from_smiles(ref))
        except InvalidSmilesError as exc:
            raise InvalidSmilesError(ref, f"reference {i} is invalid: {exc.reason}") from exc
    ref_can = [mol_to_smiles(m, isomeric) for m in ref_mols]
    pred_can = [canonical_smiles(p, isomeric) for p in predictions]
    n_valid = sum(c is not None for c in pred_can)
    if n_valid < n:
        logger.info("molecule generation: %d of %d predictions invalid", n - n_valid, n)
    pred_str = [
        c if c is not None else (p or "") for c, p in zip(pred_can, predictions, strict=True)
    ]

    out: dict[str, float] = {
        "n": float(n),
        "validity": n_valid / n,
        "exact_match": sum(c == r for c, r in zip(pred_can, ref_can, strict=True)) / n,
    }
    parsed = [(rdkit_mol(c), m) for c, m in zip(pred_can, ref_mols, strict=True) if c]
    valid = [(p, m) for p, m in parsed if p is not None]
    nan = undefined("fingerprint similarity", "no valid prediction") if not valid else math.nan
    for name in FINGERPRINTS:
        sims = [tanimoto(p, r, name) for p, r in valid]
        out[f"{name}_fts"] = sum(sims) / len(sims) if sims else nan
    out["levenshtein"] = sum(levenshtein(p, r) for p, r in zip(pred_str, ref_can, strict=True)) / n
    out["bleu"] = corpus_bleu([list(p) for p in pred_str], [[list(r)] for r in ref_can], max_n=4)
    return out


__all__ = [
    "FINGERPRINTS",
    "MORGAN_BITS",
    "MORGAN_RADIUS",
    "levenshtein",
    "molecule_generation_metrics",
    "tanimoto",
]

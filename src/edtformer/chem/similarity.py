"""Fingerprint similarity of two molecules: RDKit bit-vector fingerprints and their Tanimoto.

The fingerprints of MolT5's molecule-generation metrics (``maccs_fts``, ``rdk_fts``,
``morgan_fts``, :mod:`edtformer.evaluation.molecules`): MACCS keys, RDKit's topological
fingerprint and Morgan radius 2 / 2048 bits.
"""

from __future__ import annotations

from collections.abc import Callable

from rdkit import Chem, DataStructs
from rdkit.Chem import MACCSkeys, rdFingerprintGenerator

#: Morgan fingerprint settings used for ``morgan_fts``.
MORGAN_RADIUS = 2
MORGAN_BITS = 2048

_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=MORGAN_RADIUS, fpSize=MORGAN_BITS)

#: name -> fingerprint function used for Tanimoto similarity.
FINGERPRINTS: dict[str, Callable[[Chem.Mol], DataStructs.ExplicitBitVect]] = {
    "maccs": MACCSkeys.GenMACCSKeys,  # type: ignore[attr-defined]
    "rdk": Chem.RDKFingerprint,
    "morgan": _MORGAN.GetFingerprint,
}


def tanimoto(a: Chem.Mol, b: Chem.Mol, fingerprint: str = "morgan") -> float:
    """Tanimoto similarity of two molecules' ``fingerprint`` bit vectors (a key of FINGERPRINTS)."""
    fp = FINGERPRINTS[fingerprint]
    return float(DataStructs.TanimotoSimilarity(fp(a), fp(b)))


__all__ = ["FINGERPRINTS", "MORGAN_BITS", "MORGAN_RADIUS", "tanimoto"]

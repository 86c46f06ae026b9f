"""edtformer — Entropy-guided Dynamic Token Transformer (EDT-Former).

Aligns a frozen molecular graph encoder with a frozen causal LLM through a small trained
bridge: entropy-guided dynamic tokens fused with learned modality anchors.

The top-level import is light: only the chemistry front end and the error types are pulled in.
Heavier parts live in their sub-packages (``edtformer.entropy``, ``edtformer.bridge``, ...).
"""

from __future__ import annotations

import logging

from edtformer.chem import MolRecord, parse_smiles
from edtformer.errors import (
    EdtError,
    InvalidShapeError,
    InvalidSmilesError,
    MissingDependencyError,
    UnsupportedMoleculeError,
)

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "EdtError",
    "InvalidShapeError",
    "InvalidSmilesError",
    "MissingDependencyError",
    "MolRecord",
    "UnsupportedMoleculeError",
    "__version__",
    "parse_smiles",
]

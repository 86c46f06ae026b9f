"""edtformer — Entropy-guided Dynamic Token Transformer (EDT-Former).

Aligns a frozen molecular graph encoder with a frozen causal LLM through a small trained
bridge: entropy-guided dynamic tokens fused with learned modality anchors.

Quick start::

    from edtformer import EDTFormer, patch_molecules, parse_smiles

    model = EDTFormer.from_pretrained("default")          # the shipped bridge
    model.ask("CC(=O)Oc1ccccc1C(=O)O", "Does it contain an ester?").answer
    entropies, patches = patch_molecules(["CCO", "c1ccccc1O"])

The top-level import is light: the chemistry front end and the error types are imported at
once; ``EDTFormer``, ``EDTFormerConfig`` and ``patch_molecules`` load their sub-packages
(torch, transformers) on first use.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from edtformer.chem import MolRecord, parse_smiles
from edtformer.errors import (
    EdtError,
    InvalidShapeError,
    InvalidSmilesError,
    MissingDependencyError,
    UnsupportedMoleculeError,
)

__version__ = "0.1.0"

_LAZY = {
    "EDTFormer": "edtformer.model",
    "EDTFormerConfig": "edtformer.model",
    "patch_molecules": "edtformer.patching",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edtformer' has no attribute {name!r}")


logging.getLogger(__name__).addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from edtformer.model import EDTFormer, EDTFormerConfig
    from edtformer.patching import patch_molecules

__all__ = [
    "EDTFormer",
    "EDTFormerConfig",
    "EdtError",
    "InvalidShapeError",
    "InvalidSmilesError",
    "MissingDependencyError",
    "MolRecord",
    "UnsupportedMoleculeError",
    "__version__",
    "parse_smiles",
    "patch_molecules",
]

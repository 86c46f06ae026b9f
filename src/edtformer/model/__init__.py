"""The whole model: the package that joins the parts (``bridge``, ``llm``, encoders, patching).

Laid out like transformers' model folders:

- :mod:`.modeling`: :class:`EDTFormerConfig` (the parent config that derives the bridge's
  widths from the encoders and the LLM) and :class:`EDTFormer` (SMILES + chat -> molecule tokens
  in the frozen LLM);
- :mod:`.processing`: :class:`~.processing.MoleculeProcessor` (SMILES records -> encoder
  streams, patch ids and stereo codes on the canonical atom order, padded into a batch);
- :mod:`.outputs`: ``ChatBatch``, ``EDTFormerOutput``, ``Answer``;
- :mod:`.checkpoint`: the model folder format (``config.json`` + ``model.safetensors`` with a
  checked format version), :func:`~.checkpoint.default_bridge_dir`.

The parts never import this package back (an import-linter contract in ``pyproject.toml``).
``from edtformer.model import EDTFormer, EDTFormerConfig`` is the public entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edtformer.model.modeling import MAX_NEW_TOKENS, EDTFormer, EDTFormerConfig
    from edtformer.model.outputs import Answer, ChatBatch, EDTFormerOutput


def __getattr__(name: str) -> Any:
    # Lazy: ``edtformer.model.checkpoint`` (default_bridge_dir, read_config) is imported by the
    # CLI without pulling in transformers through the modeling module.
    if name in __all__:
        from edtformer.model import modeling

        return getattr(modeling, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_NEW_TOKENS",
    "Answer",
    "ChatBatch",
    "EDTFormer",
    "EDTFormerConfig",
    "EDTFormerOutput",
]

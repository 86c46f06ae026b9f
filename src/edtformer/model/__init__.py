"""The whole model: the package that joins the parts (``bridge``, ``llm``, encoders, patching).

Laid out like transformers' model folders:

- :mod:`.configuration`: :class:`EDTFormerConfig`, the parent config that derives the bridge's
  widths from the encoders and the LLM;
- :mod:`.processing`: :class:`~.processing.MoleculeProcessor` (SMILES records -> encoder
  streams, patch ids and stereo codes on the canonical atom order, padded into a batch);
- :mod:`.chat_processing`: :class:`~.chat_processing.EDTFormerProcessor` (transformers'
  ``LlavaProcessor``): owns the molecule processor and the prompt builder, and turns chats +
  molecules into a ``ChatBatch`` (tokenised prompts, ``<mol>`` expanded, fact sheets written) —
  what :meth:`EDTFormer.prepare` runs (``model.chat_processor``);
- :mod:`.modeling`: :class:`EDTFormer` (batch -> loss, option scores, generated answers);
- :mod:`.llm_forward`: the one pass of the frozen LLM and what its logits become (loss,
  answer log-probabilities, shared-prompt cloze scoring);
- :mod:`.answering`: questions -> :class:`Answer` (``ask``, ``ask_many``, ``score_many``);
- :mod:`.outputs`: ``ChatBatch``, ``EDTFormerOutput``, ``GenerationOutput``, ``Answer`` and
  :func:`~.outputs.molecule_token_counts`;
- :mod:`.checkpoint`: the model folder format (``config.json`` + ``model.safetensors`` with a
  checked format version), :func:`~.checkpoint.default_bridge_dir`.

The parts never import this package back (an import-linter contract in ``pyproject.toml``).
``from edtformer.model import EDTFormer, EDTFormerConfig`` is the public entry point; the
names below are the model's public API (``edt serve`` and evaluation use nothing else).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edtformer.model.chat_processing import EDTFormerProcessor
    from edtformer.model.configuration import EDTFormerConfig
    from edtformer.model.modeling import MAX_NEW_TOKENS, EDTFormer
    from edtformer.model.outputs import (
        Answer,
        ChatBatch,
        EDTFormerOutput,
        GenerationOutput,
        molecule_token_counts,
    )

#: Where each public name lives.
_HOME = {
    "MAX_NEW_TOKENS": "modeling",
    "EDTFormer": "modeling",
    "EDTFormerConfig": "configuration",
    "EDTFormerProcessor": "chat_processing",
    "Answer": "outputs",
    "ChatBatch": "outputs",
    "EDTFormerOutput": "outputs",
    "GenerationOutput": "outputs",
    "molecule_token_counts": "outputs",
}


def __getattr__(name: str) -> Any:
    # Lazy: importing ``edtformer.model`` (e.g. for ``edtformer.model.checkpoint``) does not
    # load the model's own modules (the bridge, the LLM side) until one of these names is used.
    if name in _HOME:
        return getattr(import_module(f"edtformer.model.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MAX_NEW_TOKENS",
    "Answer",
    "ChatBatch",
    "EDTFormer",
    "EDTFormerConfig",
    "EDTFormerOutput",
    "EDTFormerProcessor",
    "GenerationOutput",
    "molecule_token_counts",
]

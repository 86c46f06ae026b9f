"""Typed batch and output records of :class:`~edtformer.model.EDTFormer`.

``ChatBatch`` is what a training loop feeds to ``model(batch)``; ``EDTFormerOutput`` is what
it gets back; ``GenerationOutput`` is what ``model.generate_details`` gives; ``Answer`` is one
``model.ask`` result. :func:`molecule_token_counts` is the one way to count a prompt's molecule
tokens (``Answer``'s counts, ``edt serve``'s usage).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edtformer.bridge.dqt import BridgeOutput
from edtformer.llm.prompt import Message
from edtformer.model.processing import MoleculeBatch


@dataclass
class ChatBatch:
    """Tokenised prompts with molecule placeholders expanded, plus the molecules' bridge inputs.

    Attributes:
        input_ids: int64 ``[B, L]``, right-padded; ``<mol>`` at every molecule-token position.
        attention_mask: int64 ``[B, L]``.
        labels: int64 ``[B, L]``; assistant tokens, ``-100`` elsewhere.
        n_prefix: length of the constant prompt prefix shared by all rows (0: none).
        molecules: bridge inputs of all ``M`` molecules in prompt order (``None``: no tokens).
        mol_counts: int64 ``[M]``; molecule tokens per molecule.
        instruction_ids: int64 ``[M, T]``: each molecule's question (its prompt's last user turn
            without ``<mol>`` markers), right-padded; ``None`` unless the connector reads it.
        instruction_mask: bool ``[M, T]``; True on real question tokens.
        soft_yes: float ``[B]``: a soft target for the first answer token of each prompt,
            P(yes) over the token pair ``soft_ids``; NaN where the answer is hard (``None``: all).
        soft_ids: int64 ``[B, 2]``: each prompt's (yes, no) first-answer-token ids where
            ``soft_yes`` is set (any value elsewhere).
        sheets: with a fact sheet, the sheet text written after each molecule's tokens, one per
            molecule in prompt order (``None``: no sheet).
    """

    input_ids: Tensor
    attention_mask: Tensor
    labels: Tensor
    n_prefix: int
    molecules: MoleculeBatch | None
    mol_counts: Tensor
    instruction_ids: Tensor | None = None
    instruction_mask: Tensor | None = None
    soft_yes: Tensor | None = None
    soft_ids: Tensor | None = None
    sheets: list[str] | None = None

    def to(self, device: torch.device | str) -> ChatBatch:
        """The same batch on ``device``."""
        return ChatBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.labels.to(device),
            self.n_prefix,
            None if self.molecules is None else self.molecules.to(device),
            self.mol_counts.to(device),
            None if self.instruction_ids is None else self.instruction_ids.to(device),
            None if self.instruction_mask is None else self.instruction_mask.to(device),
            None if self.soft_yes is None else self.soft_yes.to(device),
            None if self.soft_ids is None else self.soft_ids.to(device),
            self.sheets,
        )


@dataclass
class EDTFormerOutput:
    """Result of :meth:`EDTFormer.forward`.

    Attributes:
        loss: mean next-token cross-entropy over labelled tokens (``None`` without labels).
        logits: ``[B, K, V]`` at the positions that predict labelled tokens (all positions
            after the prefix with ``return_logits=True``).
        n_label_tokens: number of tokens in the loss.
        bridge: the molecule tokens.
    """

    loss: Tensor | None
    logits: Tensor | None
    n_label_tokens: int
    bridge: BridgeOutput | None


@dataclass
class GenerationOutput:
    """Result of :meth:`EDTFormer.generate_details` for a batch of ``B`` prompts."""

    texts: list[str]
    """One answer per prompt (special tokens removed, stripped)."""
    bridge: BridgeOutput | None
    """The molecule tokens of the batch (``None`` without molecule tokens): count them with
    :func:`molecule_token_counts`."""
    truncated: list[bool]
    """Per answer: True when it stopped at ``max_new_tokens`` rather than at its end."""


def molecule_token_counts(
    batch: ChatBatch, bridge: BridgeOutput | None, lo: int, hi: int
) -> tuple[int, int, int]:
    """``(molecule, anchor, dynamic)`` token counts of molecules ``lo:hi`` (prompt order) of
    ``batch``: every token the bridge put in the prompts, the anchors (``n_anchors`` per
    molecule) and the dynamic (patch) tokens; ``(n, 0, 0)`` without a bridge output."""
    n_tok = int(batch.mol_counts[lo:hi].sum())
    if bridge is None:
        return n_tok, 0, 0
    return n_tok, bridge.n_anchors * (hi - lo), int(bridge.n_dynamic[lo:hi].sum())


@dataclass
class Answer:
    """One answer of :meth:`EDTFormer.ask`."""

    smiles: list[str]
    question: str
    answer: str
    n_molecule_tokens: int
    n_anchor_tokens: int
    n_dynamic_tokens: int
    n_dropped_patches: int
    messages: list[Message]
    truncated: bool = False
    """True when the answer stopped at ``max_new_tokens`` rather than at its end."""
    facts: list[str] | None = None
    """Per molecule, the facts the LLM read: the RDKit fact sheet; ``None`` when the model
    writes no sheet."""
    options: dict[str, float] | None = None
    """With lettered options in the question (``"... A) 1 B) 2"``): each letter's probability
    by cloze scoring of its option's text (the answer names the most probable one)."""

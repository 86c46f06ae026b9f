"""Molecule special tokens, their embeddings, and the one function that merges molecule tokens.

``<mol>`` is a placeholder: a prompt holds one ``<mol>`` per molecule in the text, the prompt
builder expands it to ``n_k`` copies (``n_k`` = the molecule's token count) optionally wrapped in
``<mol_start>`` / ``<mol_end>``, and :func:`merge_molecule_tokens` writes the bridge outputs into
those positions of ``inputs_embeds`` (as transformers' LLaVA does with ``masked_scatter``).

The LLM itself is never resized: added tokens are looked up in :class:`NewTokenEmbedding`, a
small table holding only the new rows. Training "only the new embedding rows" therefore trains
exactly those rows: the frozen vocabulary matrix has no gradient at all, and weight decay or
optimiser momentum cannot touch it (the public code's gradient-mask hook had no effect).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from edtformer.errors import EdtError
from edtformer.utils.markers import MOL_TOKEN

MOL_START = "<mol_start>"
MOL_END = "<mol_end>"
#: Every token edtformer adds to a tokenizer, in id order.
SPECIAL_TOKENS: tuple[str, ...] = (MOL_TOKEN, MOL_START, MOL_END)


class MoleculeTokenCountError(EdtError, ValueError):
    """The prompt's ``<mol>`` positions and the molecule features disagree in number."""

    def __init__(self, n_placeholders: int, n_features: int, detail: str = "") -> None:
        self.n_placeholders = n_placeholders
        self.n_features = n_features
        super().__init__(
            f"the prompts hold {n_placeholders} <mol> token positions but the bridge produced "
            f"{n_features} molecule tokens{detail}; build prompts with the model's PromptBuilder "
            "(it expands each <mol> to the molecule's token count) and pass molecules in prompt order"
        )


@dataclass(frozen=True)
class MolTokenIds:
    """Ids of the added tokens in the tokenizer (``new_ids`` in the order of :data:`SPECIAL_TOKENS`)."""

    mol: int
    start: int
    end: int

    @property
    def new_ids(self) -> tuple[int, ...]:
        """All added ids."""
        return (self.mol, self.start, self.end)


def add_molecule_tokens(tokenizer: Any) -> MolTokenIds:
    """Add the molecule special tokens to ``tokenizer`` (idempotent) and return their ids."""
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    ids = [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS]
    for tok, i in zip(SPECIAL_TOKENS, ids, strict=True):
        if (
            i is None
            or i == tokenizer.unk_token_id
            or tokenizer.encode(tok, add_special_tokens=False) != [i]
        ):
            raise EdtError(f"could not add the special token {tok!r} to the tokenizer")
    return MolTokenIds(*ids)


class NewTokenEmbedding(nn.Module):
    """Embeddings for the added tokens on top of a frozen vocabulary embedding.

    Args:
        base: the LLM's (frozen) input embedding.
        new_ids: tokenizer ids of the added tokens.
        trainable: whether the new rows are trained (``requires_grad``).

    Shapes:
        - input_ids: int64 ``[B, L]``
        - output: ``[B, L, d_llm]``
    """

    def __init__(
        self, base: nn.Embedding, new_ids: tuple[int, ...], trainable: bool = False
    ) -> None:
        super().__init__()
        self.base = [base]  # a list, so the frozen LLM is not registered (and saved) twice
        weight = base.weight.detach()
        # start from the mean embedding plus a little noise, so the new rows differ
        g = torch.Generator().manual_seed(0)
        init = weight.mean(0, keepdim=True) + 0.02 * weight.std() * torch.randn(
            len(new_ids), weight.shape[1], generator=g
        )
        self.rows = nn.Parameter(init.to(weight.dtype), requires_grad=trainable)
        lut = torch.full((max(new_ids) + 1,), -1, dtype=torch.long)
        lut[list(new_ids)] = torch.arange(len(new_ids))
        self.register_buffer("lut", lut, persistent=False)

    lut: Tensor

    def forward(self, input_ids: Tensor) -> Tensor:
        n = self.lut.shape[0]
        ids = input_ids.clamp(max=n - 1)
        slot = torch.where(input_ids < n, self.lut[ids], torch.full_like(ids, -1))  # [B, L]
        is_new = slot >= 0
        base_ids = torch.where(is_new, torch.zeros_like(input_ids), input_ids)
        emb = self.base[0](base_ids)  # [B, L, d]
        new = self.rows[slot.clamp(min=0)]  # [B, L, d]
        return torch.where(is_new.unsqueeze(-1), new.to(emb.dtype), emb)


def merge_molecule_tokens(
    inputs_embeds: Tensor, input_ids: Tensor, mol_token_id: int, mol_features: Tensor
) -> Tensor:
    """Write molecule tokens into the ``<mol>`` positions of ``inputs_embeds``.

    Args:
        inputs_embeds: ``[B, L, d]`` text embeddings.
        input_ids: int64 ``[B, L]`` with ``mol_token_id`` at every molecule-token position.
        mol_token_id: id of ``<mol>``.
        mol_features: ``[T, d]``, the molecule tokens of all molecules in prompt order
            (e.g. ``BridgeOutput.flat()``), ``T`` = number of ``<mol>`` positions.

    Returns:
        ``[B, L, d]``: ``inputs_embeds`` with the placeholder rows replaced (differentiable in
        ``mol_features``).

    Raises:
        MoleculeTokenCountError: ``T`` differs from the number of placeholder positions.
    """
    positions = input_ids == mol_token_id  # [B, L]
    n_placeholders = int(positions.sum())
    if (
        mol_features.dim() != 2
        or n_placeholders != mol_features.shape[0]
        or (n_placeholders and mol_features.shape[1] != inputs_embeds.shape[-1])
    ):
        per_row = positions.sum(dim=1).tolist()
        raise MoleculeTokenCountError(
            n_placeholders,
            int(mol_features.shape[0]) if mol_features.dim() == 2 else -1,
            f" (placeholders per prompt: {per_row}; features shape {tuple(mol_features.shape)}, "
            f"embedding width {inputs_embeds.shape[-1]})",
        )
    if n_placeholders == 0:
        return inputs_embeds
    mask = positions.unsqueeze(-1).expand_as(inputs_embeds)  # [B, L, d]
    return inputs_embeds.masked_scatter(mask, mol_features.to(inputs_embeds.dtype))

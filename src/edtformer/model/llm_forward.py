"""The frozen LLM's pass over merged embeddings, and what its logits become.

:func:`llm_logits` is the one LLM forward of :class:`~edtformer.model.EDTFormer`: the training
loss (:meth:`~edtformer.model.EDTFormer.forward`, :func:`answer_loss`), answer log-probabilities
(:meth:`~edtformer.model.EDTFormer.answer_logprobs`, :func:`summed_logprobs`), first-token option
scores (:meth:`~edtformer.model.EDTFormer.score`) and the cloze scoring of options that share one
prompt (:func:`shared_prompt_answer_logprobs`) all run through it. It takes the constant prompt
prefix from its key/value cache where allowed and runs the LM head only where logits are read.
(Generation, :func:`generate_answers`, runs the LLM's own ``generate`` on the merged embeddings
instead.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from edtformer.bridge import BridgeOutput
from edtformer.errors import EdtError
from edtformer.llm.generation import generate_from_embeds
from edtformer.llm.prefix import PrefixCacheSlot, cache_rows, returned_cache
from edtformer.llm.prompt import IGNORE_INDEX
from edtformer.model.outputs import ChatBatch, GenerationOutput

if TYPE_CHECKING:
    from edtformer.model.modeling import EDTFormer


class LLMLogits(NamedTuple):
    """One pass of the frozen LLM (:func:`llm_logits`)."""

    logits: Tensor
    """The LM-head logits the LLM computed: ``[B, K, V]``, or ``[B, L', V]`` at every position
    after the cached prefix (``every_position``)."""
    picked: Tensor
    """Without ``at``: ``[B, K, V]`` at the positions that predict labelled tokens; with ``at``:
    ``[B, V]``, each row's logits at its own position."""
    target: Tensor | None
    """Without ``at``: int64 ``[B, K]``, the labels ``picked`` predicts (``IGNORE_INDEX`` where
    none); ``None`` with ``at``."""
    output: Any
    """The LLM's own output (with ``use_cache``: its key/value cache)."""


def llm_logits(
    llm: Any,
    prefix: PrefixCacheSlot,
    batch: ChatBatch,
    emb: Tensor,
    at: Tensor | None = None,
    use_prefix_cache: bool | None = None,
    every_position: bool = False,
    use_cache: bool = False,
) -> LLMLogits:
    """Run ``llm`` over the merged embeddings of ``batch``'s prompts.

    The constant prompt prefix comes from ``prefix``'s key/value cache (``use_prefix_cache``:
    ``None`` whenever allowed, see :meth:`PrefixCacheSlot.kwargs`) and the LM head runs only at
    the positions read: those that predict a labelled token, or one position per row (``at``).

    Args:
        llm: the frozen causal LM.
        prefix: the model's prefix cache.
        batch: the prompts (``input_ids``, ``attention_mask``, ``labels``, ``n_prefix``).
        emb: ``[B, L, d]`` their merged embeddings (:meth:`EDTFormer.embed`).
        at: int64 ``[B]``, the position (in ``batch``'s coordinates) whose logits each row needs.
        every_position: without ``at``, compute the logits at every position after the prefix.
        use_cache: ask the LLM for its key/value cache (``LLMLogits.output``).
    """
    skip, kwargs = prefix.kwargs(llm, batch.input_ids, batch.n_prefix, use_prefix_cache)
    keep_arg: Any
    if at is None:
        target = batch.labels[:, skip:][:, 1:]  # [B, L'-1]: position t predicts token t + 1
        keep = torch.nonzero((target != IGNORE_INDEX).any(dim=0)).flatten()  # [K]
        if every_position:
            keep_arg = 0
        else:
            keep_arg = keep if keep.numel() else torch.zeros(1, dtype=torch.long, device=emb.device)
    else:
        rel = at - skip  # [B]
        keep = keep_arg = torch.unique(rel)  # [K], sorted
    if use_cache:
        kwargs = {**kwargs, "use_cache": True}
    out = llm(
        inputs_embeds=emb[:, skip:],
        attention_mask=batch.attention_mask,
        logits_to_keep=keep_arg,
        **kwargs,
    )
    logits = out.logits  # [B, K, V] or [B, L', V]
    if at is None:
        picked = logits[:, keep] if every_position else logits  # [B, K, V]
        return LLMLogits(logits, picked, target[:, keep], out)
    col = torch.searchsorted(keep, rel)  # [B]
    return LLMLogits(logits, logits[torch.arange(len(rel)), col], None, out)  # [B, V]


def answer_loss(
    logits: Tensor,
    target: Tensor,
    soft_yes: Tensor | None = None,
    soft_ids: Tensor | None = None,
    per_answer: bool = False,
) -> Tensor:
    """Next-token cross-entropy on the labelled tokens.

    Args:
        logits: ``[B, K, V]`` at the positions that predict ``target``.
        target: int64 ``[B, K]`` next-token labels (``IGNORE_INDEX`` where none; at least one set).
        soft_yes: float ``[B]``: P(yes) of each prompt's first answer token (NaN: a hard answer),
            see :func:`soft_first_token`.
        soft_ids: int64 ``[B, 2]``: the (yes, no) token ids of those prompts.
        per_answer: the mean over prompts of each prompt's mean token loss (a one-word answer
            then weighs as much as a long description) instead of the mean over all tokens.

    Returns:
        The scalar loss.
    """
    tok = F.cross_entropy(
        logits.flatten(0, 1).float(),
        target.flatten(),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    ).view(target.shape)  # [B, K], 0 where ignored
    if soft_yes is not None:
        tok = soft_first_token(tok, logits, target, soft_yes, soft_ids)
    if per_answer:
        n_tok = (target != IGNORE_INDEX).sum(dim=1)  # [B]
        has = n_tok > 0
        return (tok.sum(dim=1)[has] / n_tok[has]).mean()
    return tok.sum() / int((target != IGNORE_INDEX).sum())


def soft_first_token(
    tok: Tensor, logits: Tensor, target: Tensor, soft_yes: Tensor, soft_ids: Tensor | None
) -> Tensor:
    """Replace each soft prompt's first answer-token loss by a soft cross-entropy.

    Args:
        tok: float ``[B, K]`` per-token losses (0 where ignored).
        logits: ``[B, K, V]`` logits at the same positions.
        target: int64 ``[B, K]`` next-token labels (``IGNORE_INDEX`` where none).
        soft_yes: float ``[B]``: P(yes), NaN for prompts with a hard answer.
        soft_ids: int64 ``[B, 2]``: (yes, no) token ids of each soft prompt's first answer token.

    Returns:
        ``tok`` with ``-(p log q(yes) + (1 - p) log q(no))`` at each soft prompt's first label.
    """
    rows = torch.nonzero(~torch.isnan(soft_yes)).flatten()  # [S]
    if not rows.numel():
        return tok
    if soft_ids is None:
        raise EdtError("soft answer targets need soft_ids (the yes / no token of each prompt)")
    labelled = target[rows] != IGNORE_INDEX  # [S, K]
    if not bool(labelled.any(dim=1).all()):
        raise EdtError("a prompt with a soft answer target has no answer tokens")
    col = labelled.to(torch.int8).argmax(dim=1)  # [S]: first labelled position
    logp = F.log_softmax(logits[rows, col].float(), dim=-1)  # [S, V]
    ids = soft_ids[rows].to(logp.device)  # [S, 2]
    pair = logp.gather(1, ids)  # [S, 2]
    p = soft_yes[rows].to(pair.dtype)
    soft = -(p * pair[:, 0] + (1 - p) * pair[:, 1])  # [S]
    out = tok.clone()
    out[rows, col] = soft.to(out.dtype)
    return out


def summed_logprobs(logits: Tensor, target: Tensor) -> Tensor:
    """Summed log-probability of the ``target`` tokens, float ``[B]``, from the logits that
    predict them ``[B, K, V]``; ``IGNORE_INDEX`` targets ``[B, K]`` count 0."""
    logp = torch.log_softmax(logits.float(), dim=-1)  # [B, K, V]
    picked = logp.gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)  # [B, K]
    return (picked * (target != IGNORE_INDEX)).sum(dim=1)


def _prompt_groups(
    batch: ChatBatch, groups: Sequence[int]
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(first, ends, leader, row_group)`` of rows that share their prompt by group: each row's
    first answer position (= its prompt length) and end ``[B]``, each group's first row ``[G]``
    and each row's group index ``[B]``; raises :class:`EdtError` when a row has no answer or
    does not share its group's prompt."""
    if len(groups) != batch.input_ids.shape[0]:
        raise EdtError(f"got {len(groups)} groups for {batch.input_ids.shape[0]} rows")
    labelled = batch.labels != IGNORE_INDEX  # [B, L]
    if not bool(labelled.any(dim=1).all()):
        raise EdtError("shared_prompt_logprobs: a row has no assistant tokens")
    first = labelled.int().argmax(dim=1)  # [B]: first answer position = prompt length
    ends = labelled.shape[1] - labelled.flip(1).int().argmax(dim=1)  # [B]: past the last
    first_row: dict[int, int] = {}  # group -> its first row, in order of appearance
    for i, g in enumerate(groups):
        first_row.setdefault(g, i)
    order = {g: k for k, g in enumerate(first_row)}
    leader = torch.tensor(list(first_row.values()))  # [G]
    row_group = torch.tensor([order[g] for g in groups])  # [B]
    plen = first[leader]  # [G]
    for i, g in enumerate(row_group.tolist()):
        r, n = int(leader[g]), int(plen[g])
        if int(first[i]) != n or not torch.equal(batch.input_ids[i, :n], batch.input_ids[r, :n]):
            raise EdtError(f"row {i} does not share the prompt of row {r} (its group)")
    return first, ends, leader, row_group


def shared_prompt_answer_logprobs(
    model: EDTFormer, batch: ChatBatch, groups: Sequence[int]
) -> tuple[Tensor, BridgeOutput | None]:
    """:meth:`EDTFormer.shared_prompt_logprobs <edtformer.model.EDTFormer.shared_prompt_logprobs>`
    ``[B]`` and the bridge output of the batch: each group's prompt is run once (with the
    constant prefix's cache), its key/value cache copied to the group's rows, which then run
    their answer tokens only."""
    first, ends, leader, row_group = _prompt_groups(batch, groups)
    plen = first[leader]  # [G]
    emb, bridge = model.embed(batch)  # [B, L, d]
    p_max = int(plen.max())
    pos = torch.arange(p_max)
    mask_p = (pos[None, :] < plen[:, None]).to(batch.attention_mask.dtype)  # [G, P]
    prompts = replace(batch, input_ids=batch.input_ids[leader, :p_max], attention_mask=mask_p)
    # the logits at each prompt's last position predict its first answer token
    run = llm_logits(
        model.llm, model.prefix_cache, prompts, emb[leader, :p_max], at=plen - 1, use_cache=True
    )
    first_logits = run.picked  # [G, V]
    # answers: tokens first[i] .. ends[i] of each row, right-padded to T
    span = ends - first  # [B]
    t_max = int(span.max())
    idx = first[:, None] + torch.arange(t_max)[None, :]  # [B, T]
    valid = torch.arange(t_max)[None, :] < span[:, None]  # [B, T]
    idx = idx.clamp_max(batch.input_ids.shape[1] - 1)
    ans_emb = emb.gather(1, idx[..., None].expand(-1, -1, emb.shape[-1]))  # [B, T, d]
    target = batch.labels.gather(1, idx).masked_fill(~valid, IGNORE_INDEX)  # [B, T]
    mask = torch.cat([mask_p[row_group], valid.to(mask_p.dtype)], dim=1)  # [B, P + T]
    positions = first[:, None] + torch.arange(t_max)[None, :]  # [B, T]
    cont = model.llm(
        inputs_embeds=ans_emb,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        **cache_rows(model.llm, returned_cache(run.output), row_group),
    )
    # the logits predicting answer tokens 0 .. T-1: the prompt's last, then the answer's own
    logits = torch.cat([first_logits[row_group].unsqueeze(1), cont.logits[:, :-1]], dim=1)
    return summed_logprobs(logits, target), bridge  # [B]


def generate_answers(
    model: EDTFormer, batch: ChatBatch, max_new_tokens: int, most: int, **kwargs: Any
) -> GenerationOutput:
    """:meth:`EDTFormer.generate_details <edtformer.model.EDTFormer.generate_details>` (see
    there); ``most``: the longest answer allowed (:data:`~edtformer.model.MAX_NEW_TOKENS`)."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise EdtError(f"max_new_tokens must be an integer, got {max_new_tokens!r}")
    if not 1 <= max_new_tokens <= most:
        raise EdtError(f"max_new_tokens must be 1 to {most:,}, got {max_new_tokens}")
    limit = model.max_positions
    if limit is not None and batch.input_ids.shape[1] + max_new_tokens > limit:
        raise EdtError(
            f"prompt ({batch.input_ids.shape[1]:,} tokens) + max_new_tokens ({max_new_tokens:,})"
            f" exceed the LLM's {limit:,} positions"
        )
    emb, bridge = model.embed(batch)
    states = model.prefix_cache.states(model.llm, batch.input_ids, batch.n_prefix)
    new = generate_from_embeds(
        model.llm,
        model.tokenizer,
        emb,
        batch.attention_mask,
        max_new_tokens,
        suppress_ids=model.mol_ids.new_ids,
        prefix_states=states,
        **kwargs,
    )
    cut = [len(ids) >= max_new_tokens for ids in new]
    return GenerationOutput([model.prompts.decode(ids) for ids in new], bridge, cut)

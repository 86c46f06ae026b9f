"""Generation and single-forward answer scoring on top of ``inputs_embeds``.

Both functions take the merged embeddings (text + molecule tokens) of right-padded prompts that
end with the assistant header, as :meth:`EDTFormer.embed <edtformer.model.EDTFormer.embed>` gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from edtformer.errors import EdtError
from edtformer.llm.constrained import AnswerSpec, NameListConstraint
from edtformer.llm.layout import for_batches
from edtformer.llm.prefix import cache_kwarg


@dataclass
class ChoiceScores:
    """Scores of answer options from one forward pass.

    Attributes:
        choices: the options, e.g. ``["yes", "no"]`` or ``["A", "B", "C", "D"]``.
        token_ids: the first token id of each option.
        logprobs: float ``[B, C]``; log-probability of each option's first token over the vocabulary.
        probs: float ``[B, C]``; the same renormalised over the options (rows sum to 1).
    """

    choices: list[str]
    token_ids: list[int]
    logprobs: Tensor
    probs: Tensor
    molecule_tokens: Any = None
    """What made the prompts' molecule tokens (the model's bridge output; ``None`` if none)."""

    @property
    def best(self) -> list[str]:
        """The highest-scoring option per prompt."""
        return [self.choices[i] for i in self.logprobs.argmax(dim=1).tolist()]


def choice_token_ids(tokenizer: Any, choices: Sequence[str]) -> list[int]:
    """First token id of each option; raises :class:`EdtError` if two options share it."""
    ids: list[int] = []
    for c in choices:
        toks = tokenizer.encode(c, add_special_tokens=False)
        if not toks:
            raise EdtError(f"answer option {c!r} tokenises to nothing")
        ids.append(int(toks[0]))
    if len(set(ids)) != len(ids):
        first = [tokenizer.decode([i]) for i in ids]
        raise EdtError(
            f"answer options {list(choices)} share a first token ({first}); use options that differ "
            "in their first token (e.g. letters A/B/C/D)"
        )
    return ids


def left_pad(embeds: Tensor, attention_mask: Tensor) -> tuple[Tensor, Tensor]:
    """Move right-padded rows to the right end (left padding), as generation needs.

    Shapes:
        - embeds: ``[B, L, d]``; attention_mask: ``[B, L]`` (1 on real tokens, a prefix of each row)
        - output: the same shapes, real tokens at the end of each row
    """
    lengths = attention_mask.sum(dim=1)  # [B]
    length = embeds.shape[1]
    shift = (length - lengths).tolist()
    out = torch.zeros_like(embeds)
    mask = torch.zeros_like(attention_mask)
    for b, s in enumerate(shift):
        n = length - s
        out[b, s:] = embeds[b, :n]
        mask[b, s:] = 1
    return out, mask


def prefix_first(embeds: Tensor, attention_mask: Tensor, n_prefix: int) -> tuple[Tensor, Tensor]:
    """Right-padded rows laid out ``[prefix | padding | rest]`` for generation after a cached
    prefix: every row's first ``n_prefix`` positions stay in place (the cache holds them), its
    other real tokens move to the right end. Position ids follow the mask (transformers counts
    real tokens), so each token keeps the position it has without padding.

    Shapes:
        - embeds: ``[B, L, d]``; attention_mask: ``[B, L]`` (1 on real tokens, a prefix of each
          row, at least ``n_prefix`` long)
        - output: the same shapes
    """
    lengths = attention_mask.sum(dim=1).tolist()  # [B]
    length = embeds.shape[1]
    out = torch.zeros_like(embeds)
    mask = torch.zeros_like(attention_mask)
    out[:, :n_prefix] = embeds[:, :n_prefix]
    mask[:, :n_prefix] = 1
    for b, n in enumerate(lengths):
        rest = int(n) - n_prefix
        if rest > 0:
            out[b, length - rest :] = embeds[b, n_prefix : int(n)]
            mask[b, length - rest :] = 1
    return out, mask


def prefilled_cache(
    llm: Any, states: Sequence[tuple[Tensor, Tensor]], batch_size: int, length: int, static: bool
) -> Any:
    """A KV cache for ``batch_size`` rows holding ``states`` (``[1, H_kv, P, hd]`` per layer)
    in every row: static (allocated once for ``length`` positions) or dynamic."""
    from transformers import DynamicCache, StaticCache  # heavy: loaded with the first model

    rows = [
        (
            k.expand(batch_size, -1, -1, -1).contiguous(),
            v.expand(batch_size, -1, -1, -1).contiguous(),
        )
        for k, v in states
    ]
    if not static:
        return DynamicCache(ddp_cache_data=rows, config=llm.config)
    cache: Any = StaticCache(config=llm.config, max_cache_len=length)
    for layer, (k, v) in zip(cache.layers, rows, strict=True):
        layer.update(k, v)
    return cache


@torch.no_grad()
def generate_from_embeds(
    llm: Any,
    tokenizer: Any,
    embeds: Tensor,
    attention_mask: Tensor,
    max_new_tokens: int = 64,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    suppress_ids: Sequence[int] = (),
    name_lists: Sequence[AnswerSpec | None] | None = None,
    prefix_states: Sequence[tuple[Tensor, Tensor]] = (),
    **generate_kwargs: Any,
) -> list[list[int]]:
    """Generate continuations with the LLM's own ``generate``; returns the new token ids per prompt.

    ``name_lists``: per prompt, the names its answer must list (:class:`NameListConstraint`),
    or ``None``. ``prefix_states``: the key/value states (``[(keys, values) [1, H_kv, P, hd]]``
    per layer, :class:`~edtformer.llm.prefix.PrefixCacheSlot`) of the first ``P`` positions,
    the same in every prompt (system prompt, user header): the prompts' forward starts after
    them (the same answers; 16 prompts of ~100 tokens about 17 % faster). ``generate_kwargs``
    go to ``llm.generate`` unchanged (e.g. ``min_new_tokens``, ``repetition_penalty``).

    Shapes:
        - embeds: ``[B, L, d]`` right-padded; attention_mask: ``[B, L]``
    """
    if embeds.shape[0] > 1:  # small-batch decoding steps ~4x faster (llm/layout.py)
        for_batches(llm)
    n_pre = int(prefix_states[0][0].shape[2]) if prefix_states else 0
    emb, mask = (
        prefix_first(embeds, attention_mask, n_pre) if n_pre else left_pad(embeds, attention_mask)
    )
    eos = llm.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    eos_ids = eos if isinstance(eos, list) else [eos]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    vocab = llm.get_output_embeddings().weight.shape[0]
    bad = [[i] for i in suppress_ids if i < vocab]
    kwargs: dict[str, Any] = {"do_sample": do_sample, **generate_kwargs}
    static = getattr(llm, "_can_compile_fullgraph", False)
    if n_pre:  # the shared prefix's states in the cache; generate runs the rest
        kwargs[cache_kwarg(llm)] = prefilled_cache(
            llm, prefix_states, emb.shape[0], emb.shape[1] + max_new_tokens, static
        )
    elif static:
        # a KV cache allocated once for prompt + answer: the default one concatenates every
        # layer's cache at every step (same answers; see README, serve load)
        kwargs.setdefault("cache_implementation", "static")
    if name_lists is not None and any(n is not None for n in name_lists):
        extra = NameListConstraint(tokenizer, name_lists, eos_ids)
        # a plain list: ``generate`` merges it into its own processors (no transformers import)
        kwargs["logits_processor"] = [*(kwargs.get("logits_processor") or []), extra]
    if do_sample:
        kwargs.update(temperature=temperature, top_p=top_p)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    out = llm.generate(
        inputs_embeds=emb,
        attention_mask=mask,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos,
        pad_token_id=pad,
        bad_words_ids=bad or None,
        **kwargs,
    )  # [B, T_new] (decoder-only models return only new tokens when given inputs_embeds)
    eos_set = set(eos_ids)
    result: list[list[int]] = []
    for row in out.tolist():
        ids: list[int] = []
        for t in row:
            if t in eos_set:
                break
            ids.append(t)
        result.append(ids)
    return result

"""Reuse the key/value cache of the prompt's constant prefix (the LLM is frozen, so it never changes).

Every prompt starts with the same ids (system prompt, user header) before the first molecule
token. :class:`PrefixCache` runs them once without gradients and hands a fresh batch-expanded
cache to each forward, so training and scoring only pay for molecule tokens, question and answer.

The cache is valid only while the LLM's weights do not change: with LoRA (or any trainable LLM
parameter) it is used only at inference (no gradients, eval mode) and rebuilt whenever those
weights were updated since it was built: :class:`PrefixCacheSlot` keeps that rule for a model.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from edtformer.errors import EdtError


def cache_kwarg(llm: Any) -> str:
    """Name of the LLM forward argument that takes a KV cache (``cache`` in transformers >= 5.x)."""
    params = inspect.signature(llm.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def returned_cache(out: Any) -> Any:
    """The KV cache a forward returned (``out.cache`` in transformers >= 5.x, else
    ``out.past_key_values``; the old name warns there)."""
    cache = getattr(type(out), "__dataclass_fields__", {}).get("cache")
    return out.cache if cache is not None else out.past_key_values


class PrefixCache:
    """Key/value states of a constant prompt prefix, computed once.

    Args:
        llm: the frozen causal LM.
        prefix_ids: the prefix token ids (plain vocabulary tokens).
    """

    def __init__(self, llm: Any, prefix_ids: Sequence[int]) -> None:
        self.prefix_ids = tuple(int(i) for i in prefix_ids)
        self._kwarg = cache_kwarg(llm)
        self._config = llm.config
        device = next(llm.parameters()).device
        ids = torch.tensor([self.prefix_ids], dtype=torch.long, device=device)  # [1, T]
        with torch.no_grad():
            out = llm(input_ids=ids, use_cache=True)
        cache = returned_cache(out)
        # [(keys [1, H_kv, T, hd], values [1, H_kv, T, hd]) per layer]
        self.layers: list[tuple[Tensor, Tensor]] = [(lay.keys, lay.values) for lay in cache.layers]

    def __len__(self) -> int:
        return len(self.prefix_ids)

    def for_batch(self, batch_size: int) -> dict[str, Any]:
        """Forward keyword arguments carrying a new cache of this prefix for ``batch_size`` rows."""
        data = [
            (k.expand(batch_size, -1, -1, -1), v.expand(batch_size, -1, -1, -1))
            for k, v in self.layers
        ]
        return _cache_kwargs(self._kwarg, self._config, data)


class PrefixCacheSlot:
    """The prefix cache a model keeps between forwards: built by the first forward that may use
    one, rebuilt when the prefix or the LLM's trainable weights changed since."""

    def __init__(self) -> None:
        self.cache: PrefixCache | None = None
        self._version: tuple[int, ...] = ()
        self._single = 0  # single-prompt generations asked for states so far

    def kwargs(
        self, llm: Any, input_ids: Tensor, n_prefix: int, use: bool | None = None
    ) -> tuple[int, dict[str, Any]]:
        """``(prefix length skipped, forward kwargs)`` for a forward of ``llm`` over
        ``input_ids`` ``[B, L]`` whose first ``n_prefix`` ids are the same in every row.

        ``use``: ``None`` takes the cache whenever allowed, ``False`` never, ``True`` always
        (an :class:`EdtError` where not allowed). It is allowed with a shared prefix and a frozen
        LLM, or with trainable LLM weights (LoRA) at inference only: no gradients, eval mode.
        """
        trainable = [p for p in llm.parameters() if p.requires_grad]
        allowed = _allowed(llm, n_prefix, trainable)
        if use and not allowed:
            raise EdtError(
                "the prefix KV cache needs a shared prompt prefix and a frozen LLM (with LoRA: "
                "inference only, under torch.no_grad() in eval mode)"
            )
        if not (allowed if use is None else use):
            return 0, {}
        cache = self._built(llm, input_ids[0, :n_prefix].tolist(), trainable)
        return n_prefix, {**cache.for_batch(input_ids.shape[0]), "use_cache": True}

    def states(self, llm: Any, input_ids: Tensor, n_prefix: int) -> list[tuple[Tensor, Tensor]]:
        """The prefix's key/value states (``[(keys, values) [1, H_kv, n_prefix, hd]]`` per
        layer) for generation, or ``[]`` where the cache may not be used (see :meth:`kwargs`).
        A single prompt uses them from the second on: a process that answers one question
        (``edt ask``) would pay one more forward for nothing."""
        trainable = [p for p in llm.parameters() if p.requires_grad]
        if not _allowed(llm, n_prefix, trainable):
            return []
        if input_ids.shape[0] == 1 and self.cache is None:
            self._single += 1
            if self._single < 2:
                return []
        return self._built(llm, input_ids[0, :n_prefix].tolist(), trainable).layers

    def _built(self, llm: Any, prefix: list[int], trainable: list[Any]) -> PrefixCache:
        """The cache of ``prefix``, (re)built when the prefix or the trainable weights changed."""
        version = tuple(p._version for p in trainable)
        if self.cache is None or list(self.cache.prefix_ids) != prefix or self._version != version:
            self.cache = PrefixCache(llm, prefix)
            self._version = version
        return self.cache


def _allowed(llm: Any, n_prefix: int, trainable: Sequence[Any]) -> bool:
    """Whether a forward of ``llm`` may take the cached prefix: a shared prefix and a frozen
    LLM, or trainable LLM weights (LoRA) at inference only (no gradients, eval mode; the cache
    is rebuilt when those weights change: their in-place version counts)."""
    inference = not torch.is_grad_enabled() and not llm.training
    return n_prefix > 0 and (not trainable or inference)


def cache_rows(llm: Any, cache: Any, rows: Tensor) -> dict[str, Any]:
    """Forward keyword arguments carrying a new cache made of ``cache``'s rows ``rows`` (``[B']``).

    Lets several continuations (e.g. the options of one multiple-choice question) reuse one
    prompt's key/value states: ``rows`` names, for each continuation, the prompt it continues.
    """
    data = [(lay.keys[rows], lay.values[rows]) for lay in cache.layers]
    return _cache_kwargs(cache_kwarg(llm), llm.config, data)


def _cache_kwargs(kwarg: str, config: Any, data: list[tuple[Tensor, Tensor]]) -> dict[str, Any]:
    """``{kwarg: DynamicCache}`` holding ``data``: (keys, values) ``[B, H_kv, T, hd]`` per layer."""
    # heavy: transformers loads with the first model, not with this module
    from transformers import DynamicCache

    return {kwarg: DynamicCache(ddp_cache_data=data, config=config)}

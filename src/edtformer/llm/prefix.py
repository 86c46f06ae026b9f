"""Reuse the key/value cache of the prompt's constant prefix (the LLM is frozen, so it never changes).

Every prompt starts with the same ids (system prompt, user header) before the first molecule
token. :class:`PrefixCache` runs them once without gradients and hands a fresh batch-expanded
cache to each forward, so training and scoring only pay for molecule tokens, question and answer.

The cache is valid only while the LLM's weights do not change: with LoRA (or any trainable LLM
parameter) :class:`~edtformer.model.EDTFormer` uses it only at inference (no gradients, eval
mode) and rebuilds it whenever those weights were updated since it was built.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor


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


def cache_rows(llm: Any, cache: Any, rows: Tensor) -> dict[str, Any]:
    """Forward keyword arguments carrying a new cache made of ``cache``'s rows ``rows`` (``[B']``).

    Lets several continuations (e.g. the options of one multiple-choice question) reuse one
    prompt's key/value states: ``rows`` names, for each continuation, the prompt it continues.
    """
    data = [(lay.keys[rows], lay.values[rows]) for lay in cache.layers]
    return _cache_kwargs(cache_kwarg(llm), llm.config, data)


def _cache_kwargs(kwarg: str, config: Any, data: list[tuple[Tensor, Tensor]]) -> dict[str, Any]:
    """``{kwarg: DynamicCache}`` holding ``data``: (keys, values) ``[B, H_kv, T, hd]`` per layer."""
    from transformers import DynamicCache

    return {kwarg: DynamicCache(ddp_cache_data=data, config=config)}

"""Frozen LLM weights stored column-major, for fast small-batch matmuls on CPU.

``nn.Linear`` keeps its weight as ``[out, in]`` (row-major) and computes ``x @ W.T``. For a few
rows of ``x`` (generation: one new token per prompt, a batch of 4–16 prompts) the CPU BLAS
handles that transposed operand badly: on this project's 2-core AVX512 machine a ``[16, 576]``
by ``[576, 1536]`` product takes 0.62 ms, against 0.13 ms when the same weight is stored
transposed in memory (``[in, out]`` contiguous, seen as ``[out, in]`` through ``.t()``). The
values, the shapes and the module tree stay as they were; only the memory order changes, and
with it the kernel (for 16 rows or more the results are bitwise equal; for 1–8 rows they differ
in the last float bits, a different summation order). Prompt forwards (hundreds of rows) run
at the same speed either way. Measured in ``benchmarks/serve_load.py`` (README, "Load").

Only frozen weights on the CPU are touched (a trainable weight's ``Parameter`` object must stay
the one its optimizer holds; on a GPU the effect was not measured, so GPU weights and
offloaded ones are left as they are). A weight tied to the input embedding (``lm_head`` of SmolLM2) gets its own
column-major copy (one more vocabulary-sized matrix in memory), because the embedding lookup
wants rows contiguous. The other frozen parameters (embedding, norms) are copied into memory of
their own too: transformers maps the checkpoint file and every tensor is a view of that one
mapping, which would otherwise stay resident beside the copies (serve RSS 2.0 GB instead of
1.5 GB).
"""

from __future__ import annotations

import logging
import time
import weakref

import torch
from torch import nn

logger = logging.getLogger(__name__)

#: LLMs already re-stored (:func:`for_batches`).
_DONE: weakref.WeakSet[nn.Module] = weakref.WeakSet()


def column_major(weight: torch.Tensor) -> bool:
    """Whether a 2-D weight is stored transposed (``weight.t()`` contiguous)."""
    return weight.dim() == 2 and not weight.is_contiguous() and weight.t().is_contiguous()


def store_weights_column_major(llm: nn.Module) -> int:
    """Re-store every frozen ``nn.Linear`` weight of ``llm`` column-major, in place.

    Returns:
        the number of weights re-stored (already column-major or trainable ones are skipped).
    """
    done = 0
    with torch.no_grad():
        for module in llm.modules():
            if not isinstance(module, nn.Linear):
                continue
            weight = module.weight
            if weight.requires_grad or column_major(weight) or weight.device.type != "cpu":
                continue  # (off the CPU: not a CPU BLAS matter, and offloaded weights stay)
            # a weight tied to the input embedding (lm_head) gets its own copy: untied
            stored = weight.detach().t().contiguous().t()  # [out, in] view of [in, out] memory
            module.weight = nn.Parameter(stored, requires_grad=False)
            done += 1
        for param in llm.parameters():  # the rest off the checkpoint file's mapping
            if not param.requires_grad and not column_major(param) and param.device.type == "cpu":
                param.data = param.data.clone()
    return done


def for_batches(llm: nn.Module) -> None:
    """Re-store ``llm``'s frozen weights column-major once (:func:`store_weights_column_major`),
    before its first generation of more than one prompt at a time.

    One prompt at a time gains little (a matrix-vector product is fast either way) and the copy
    takes ~0.6 s, so a one-question process (``edt ask``) never pays it; a server, a batch run or
    Python's ``ask_many`` pays it on its first batch.
    """
    if llm in _DONE:
        return
    start = time.perf_counter()
    n = store_weights_column_major(llm)
    _DONE.add(llm)
    logger.info(
        "LLM weights stored column-major for batched generation (%d matrices, %.2f s)",
        n,
        time.perf_counter() - start,
    )


def merge_lora(llm: nn.Module) -> int:
    """Fold every LoRA adapter of ``llm`` into its base weight (``W + scale * B @ A``), in place,
    and freeze the adapters: the same function with two small matmuls and a wrapper call fewer
    per adapted layer (a server's 16-prompt group-list batch ~7 % faster). For inference only:
    a merged model must not be trained further (its adapters no longer take part).

    Returns:
        the number of adapted layers merged (0 without LoRA, or when already merged).
    """
    merged = 0
    for module in llm.modules():
        merge = getattr(module, "merge", None)
        if callable(merge) and hasattr(module, "lora_A") and not getattr(module, "merged", True):
            merge()
            merged += 1
    for name, param in llm.named_parameters():
        if "lora_" in name:
            param.requires_grad_(False)
    return merged


def for_serving(llm: nn.Module) -> None:
    """A long-lived inference process's LLM (``edt serve``): every frozen weight column-major
    (:func:`for_batches`: copies of their own), then LoRA merged into them in place
    (:func:`merge_lora`). Not to be trained afterwards."""
    for_batches(llm)
    start = time.perf_counter()
    if n := merge_lora(llm):
        logger.info("LoRA merged into %d LLM layers (%.2f s)", n, time.perf_counter() - start)

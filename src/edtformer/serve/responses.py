"""From a chat request to its answer: the generation job, then OpenAI-shaped bodies.

:func:`chat_job` checks a :class:`~edtformer.serve.schemas.ChatRequest` against the
:class:`~edtformer.serve.http.ServeLimits` and makes its job; :func:`completion_body` (one
``chat.completion``) and :func:`sse_events` (a stream of ``chat.completion.chunk`` events) write
the answer, with OpenAI's ``usage`` and the ``edt`` molecule counts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from edtformer.errors import EdtError
from edtformer.serve.errors import ApiError, from_edt_error
from edtformer.serve.http import ServeLimits
from edtformer.serve.schemas import ChatRequest, build_conversation
from edtformer.serve.worker import Completion, GenerationJob

#: The app's logger (the name its lines had before these helpers left ``app``).
logger = logging.getLogger("edtformer.serve.app")


def chat_job(req: ChatRequest, system_prompt: str | None, limits: ServeLimits) -> GenerationJob:
    """The generation job of a chat request, or an :class:`ApiError` naming what is wrong."""
    if req.n not in (None, 1):
        raise ApiError("only n=1 is supported", param="n", code="invalid_value")
    if req.stop:
        raise ApiError("stop sequences are not supported", param="stop", code="invalid_value")
    n_tokens = req.max_completion_tokens or req.max_tokens or limits.default_max_tokens
    if not 1 <= n_tokens <= limits.max_tokens:
        raise ApiError(
            f"max_tokens must be 1 to {limits.max_tokens:,}, got {n_tokens}",
            param="max_tokens",
            code="max_tokens_out_of_range",
        )
    mols, messages = build_conversation(req, system_prompt, limits.max_molecules)
    sampling: dict[str, Any] = {}
    if req.temperature:
        sampling = {"do_sample": True, "temperature": req.temperature, "top_p": req.top_p or 1.0}
    return GenerationJob(mols, messages, n_tokens, sampling)


@dataclass(frozen=True)
class ChunkHead:
    """What every body of one chat completion repeats: its id, creation time and model name."""

    id: str
    created: int
    model: str


def usage(done: Completion) -> dict[str, int]:
    """OpenAI's ``usage`` object."""
    return {
        "prompt_tokens": done.prompt_tokens,
        "completion_tokens": done.completion_tokens,
        "total_tokens": done.prompt_tokens + done.completion_tokens,
    }


def molecule_counts(done: Completion) -> dict[str, Any]:
    """The ``edt`` extension of a completion: the molecule tokens the LLM read, counted as
    ``edt ask --json`` counts them (``n_molecule_tokens`` = anchors + dynamic tokens),
    and ``facts``: the fact-sheet text it read after each molecule (``None`` without a sheet)."""
    return {
        "n_molecule_tokens": done.n_molecule_tokens,
        "n_anchor_tokens": done.n_anchor_tokens,
        "n_dynamic_tokens": done.n_dynamic_tokens,
        "facts": done.facts,
    }


def completion_body(head: ChunkHead, done: Completion) -> dict[str, Any]:
    """The ``chat.completion`` object of a finished, non-streamed answer."""
    return {
        "id": head.id,
        "object": "chat.completion",
        "created": head.created,
        "model": head.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": done.text},
                "finish_reason": done.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage(done),
        "edt": molecule_counts(done),
    }


def sse_chunk(head: ChunkHead, delta: dict[str, Any], finish: str | None, **extra: Any) -> str:
    """One ``chat.completion.chunk`` server-sent event."""
    body = {
        "id": head.id,
        "object": "chat.completion.chunk",
        "created": head.created,
        "model": head.model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def sse_events(
    head: ChunkHead,
    first: str | None,
    deltas: AsyncGenerator[str, None],
    final: list[Completion],
    include_usage: bool,
) -> AsyncIterator[str]:
    """The event stream of one answer: role, ``first`` and the other deltas, the finish reason
    (and usage), ``[DONE]``; an error after the 200 went out is an error event, then the end."""
    yield sse_chunk(head, {"role": "assistant", "content": ""}, None)
    try:
        async with aclosing(deltas):  # leaving early (a disconnect) ends this row
            if first is not None:
                yield sse_chunk(head, {"content": first}, None)
            async for delta in deltas:
                yield sse_chunk(head, {"content": delta}, None)
    except Exception as exc:
        logger.exception("streaming failed")
        err = from_edt_error(exc) if isinstance(exc, EdtError) else None
        body = (err or ApiError("internal server error", 500, None, None, "server_error")).body()
        yield f"data: {json.dumps(body)}\n\n"
        return
    done = final[0]
    yield sse_chunk(head, {}, done.finish_reason, edt=molecule_counts(done))
    if include_usage:
        body = {"id": head.id, "object": "chat.completion.chunk", "created": head.created,
                "model": head.model, "choices": [], "usage": usage(done)}  # fmt: skip
        yield f"data: {json.dumps(body)}\n\n"
    yield "data: [DONE]\n\n"

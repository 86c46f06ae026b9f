"""The FastAPI application: routes, limits and OpenAI-shaped errors (see :mod:`edtformer.serve`).

Imports FastAPI: import it through :func:`edtformer.serve.create_app`, which names the extra
when FastAPI is missing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from edtformer.errors import EdtError
from edtformer.model import MAX_NEW_TOKENS
from edtformer.serve.errors import ApiError, from_edt_error
from edtformer.serve.schemas import (
    ChatRequest,
    PatchRequest,
    ScoreRequest,
    build_conversation,
    parse_molecules,
)
from edtformer.serve.worker import Completion, GenerationJob, ModelWorker

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
B = TypeVar("B")


@dataclass
class ServeLimits:
    """What one request may ask for."""

    max_body_bytes: int = 1_000_000
    """Largest request body (413 above)."""
    max_tokens: int = 512
    """Largest ``max_tokens`` (at most the model's 2,048)."""
    default_max_tokens: int = 128
    """``max_tokens`` when the request gives none."""
    max_molecules: int = 8
    """Molecules in one request."""
    max_pending: int = 256
    """Requests waiting at once before new ones get a 503."""


class BodyTooLarge(Exception):
    """The request body passed :attr:`ServeLimits.max_body_bytes`."""


#: A refused body is read to its end (so the client gets the 413 instead of a connection reset
#: while it is still sending) up to this many bytes; a larger one is cut off.
DRAIN_LIMIT = 256 * 1024 * 1024


async def _drain(receive: Any, seen: int) -> None:
    """Read and drop the rest of a request body (up to :data:`DRAIN_LIMIT` bytes)."""
    while seen < DRAIN_LIMIT:
        message = await receive()
        if message.get("type") != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class LimitBody:
    """ASGI middleware: a declared or streamed request body over ``limit`` bytes is refused
    with an OpenAI-style 413, after the body is read (a client still sending gets the answer,
    not a reset)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)  # type: ignore[no-any-return]
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _drain(receive, 0)
            data = json.dumps(_too_large(self.limit).body()).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(data)).encode()),
                                    (b"connection", b"close")]})  # fmt: skip
            await send({"type": "http.response.body", "body": data})
            return None
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                if message.get("more_body", False):
                    await _drain(receive, seen)
                raise BodyTooLarge
            return message

        return await self.app(scope, limited, send)  # type: ignore[no-any-return]


#: The logger of the one line per request (method, route, status, latency; never a body).
access_logger = logging.getLogger("edtformer.serve.access")


class AccessLog:
    """ASGI middleware: one INFO line per HTTP request on :data:`access_logger`:
    ``POST /v1/chat/completions 200 812.4 ms`` (the path only: no query string, no body, so no
    molecule text)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)  # type: ignore[no-any-return]
        t0 = time.perf_counter()
        status = 0

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            access_logger.info(
                "%s %s %d %.1f ms",
                scope.get("method", "?"),
                scope.get("path", "?"),
                status or 500,
                1000 * (time.perf_counter() - t0),
            )
        return None


def _too_large(limit: int) -> ApiError:
    return ApiError(f"request body over {limit:,} bytes", 413, "body_too_large")


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


def create_app(
    model: Any,
    model_name: str = "edtformer",
    limits: ServeLimits | None = None,
    max_batch_size: int = 16,
    batch_wait_s: float = 0.005,
) -> Any:
    """The ASGI app serving ``model`` (a loaded :class:`~edtformer.model.EDTFormer`).

    Args:
        model: the model, in eval mode, on its device.
        model_name: the id ``/v1/models`` lists and requests must name.
        limits: per-request limits (:class:`ServeLimits`).
        max_batch_size: most chat prompts answered in one ``generate``.
        batch_wait_s: how long a chat request waits for others to batch with.
    """
    limits = limits or ServeLimits()
    if not 1 <= limits.max_tokens <= MAX_NEW_TOKENS:
        raise EdtError(f"max_tokens limit must be 1 to {MAX_NEW_TOKENS:,}, got {limits.max_tokens}")
    worker = ModelWorker(model, max_batch_size, batch_wait_s)
    created = int(time.time())
    busy = 0

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await worker.start()
        yield
        await worker.stop()

    app = FastAPI(title="edtformer", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.worker = worker
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    # -- errors -------------------------------------------------------------------------------
    def error_response(err: ApiError) -> Any:
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Any:
        return error_response(exc)

    @app.exception_handler(BodyTooLarge)
    async def _body_too_large(request: Request, exc: BodyTooLarge) -> Any:
        return error_response(_too_large(limits.max_body_bytes))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Any:
        code = "not_found" if exc.status_code == 404 else None
        return error_response(ApiError(str(exc.detail), exc.status_code, code))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Any:
        logger.exception("internal error on %s", request.url.path)
        return error_response(
            ApiError("internal server error (see the server log)", 500, None, None, "server_error")
        )

    async def parse_body(request: Request, schema: type[B]) -> B:
        raw = await request.body()
        try:
            data = json.loads(raw)
        except RecursionError:
            raise ApiError("malformed JSON body: nested too deeply", code="invalid_json") from None
        except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError, a 5,000-digit number
            raise ApiError(f"malformed JSON body: {exc}", code="invalid_json") from None
        if not isinstance(data, dict):
            raise ApiError(
                f"the body must be a JSON object, got {type(data).__name__}", code="invalid_json"
            )
        try:
            return schema.model_validate(data)  # type: ignore[attr-defined,no-any-return]
        except RecursionError:
            raise ApiError("request nested too deeply", code="invalid_value") from None
        except ValidationError as exc:
            first = max(exc.errors(), key=lambda e: len(e["loc"]))  # the most specific
            path = [str(p) for p in first["loc"] if not _union_branch(p)]
            loc = ".".join(path) or None
            msg = f"{loc}: {first['msg']}" if loc else str(first["msg"])
            raise ApiError(msg, param=loc, code="invalid_value") from None

    def check_model(name: str) -> None:
        if name != model_name:
            raise ApiError(
                f"the model {name!r} does not exist; this server serves {model_name!r}",
                404,
                "model_not_found",
                "model",
            )

    async def on_model(fn: Callable[..., Awaitable[Any]], *args: Any, param: str | None) -> Any:
        """``await fn(*args)`` with bad input turned into a 400, and a cap on waiting requests."""
        nonlocal busy
        if busy >= limits.max_pending:
            raise ApiError("server busy, retry later", 503, "overloaded", None, "server_error")
        busy += 1
        try:
            return await fn(*args)
        except EdtError as exc:
            raise from_edt_error(exc, param) from None
        finally:
            busy -= 1

    # -- routes -------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> Any:
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_name, "pending": worker.pending}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {"id": model_name, "object": "model", "created": created, "owned_by": "edtformer"}
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        req = await parse_body(request, ChatRequest)
        check_model(req.model)
        job = chat_job(req, model.config.system_prompt, limits)
        head = ChunkHead(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), model_name)
        if not req.stream:
            done: Completion = await on_model(worker.complete, job, param="messages")
            return completion_body(head, done)
        # the first delta (or the error of bad input) comes before the response starts, so that
        # bad input is a 4xx, not an error event after a 200
        final: list[Completion] = []
        deltas = worker.stream(job, final)

        async def first_delta() -> str | None:
            try:
                return await anext(deltas)
            except StopAsyncIteration:
                return None

        try:
            first = await on_model(first_delta, param="messages")
        except BaseException:
            await deltas.aclose()
            raise
        include_usage = bool((req.stream_options or {}).get("include_usage"))
        return StreamingResponse(
            sse_events(head, first, deltas, final, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    @app.post("/v1/score")
    async def score(request: Request) -> Any:
        req = await parse_body(request, ScoreRequest)
        check_model(req.model)
        smiles = [req.smiles] if isinstance(req.smiles, str) else req.smiles
        if not 1 <= len(smiles) <= limits.max_molecules:
            raise ApiError(
                f"give 1 to {limits.max_molecules} molecules, got {len(smiles)}",
                param="smiles",
                code="too_many_molecules" if smiles else "missing_molecule",
            )
        mols = parse_molecules(smiles, "smiles")

        def run() -> Any:
            msgs = model.prompts.messages(req.question, len(mols))
            return model.score(model.prepare([mols], [msgs], generation=True), req.options)

        scores = await on_model(worker.run, run, param="question")
        return {
            "object": "score",
            "model": model_name,
            "options": scores.choices,
            "probs": [round(p, 6) for p in scores.probs[0].tolist()],
            "logprobs": [round(p, 6) for p in scores.logprobs[0].tolist()],
            "best": scores.best[0],
        }

    @app.post("/v1/patch")
    async def patch(request: Request) -> Any:
        req = await parse_body(request, PatchRequest)
        [record] = parse_molecules([req.smiles], "smiles")
        options = {
            k: v
            for k, v in (
                ("q", req.q),
                ("threshold", req.threshold),
                ("margin", req.margin),
                ("max_patch_len", req.max_patch_len),
            )
            if v is not None
        }
        options = {k: v for k, v in options.items() if k in RULE_OPTIONS[req.rule]}

        def run() -> dict[str, Any]:
            from edtformer.patching import patch_molecules
            from edtformer.viz.draw import PALETTE, render_patches

            [entropy], [res] = patch_molecules([record], req.rule, **options)  # type: ignore[arg-type]
            out: dict[str, Any] = {
                "object": "patch",
                "smiles": record.smiles,
                "canonical_smiles": record.canonical_smiles,
                "rule": req.rule,
                "atoms": record.symbols,
                "entropy": [round(float(h), 4) for h in entropy],
                "patch_ids": res.patch_ids.tolist(),
                "brics_ids": None if res.brics_ids is None else res.brics_ids.tolist(),
                "n_patches": res.n_patches,
                "palette": ["#" + "".join(f"{int(255 * c):02x}" for c in rgb) for rgb in PALETTE],
            }
            if req.draw:
                svg = render_patches([record.mol], [res.patch_ids], [entropy])
                out["svg"] = svg.decode("utf-8")
            return out

        try:
            return await on_model(worker.run, run, param="smiles")
        except ValueError as exc:  # a rule option out of range
            raise ApiError(str(exc), code="invalid_value") from None

    app.add_middleware(LimitBody, limit=limits.max_body_bytes)
    app.add_middleware(AccessLog)  # outermost: a 413 is logged too
    return app


def _union_branch(part: Any) -> bool:
    """Whether a pydantic error location item names a union branch (``str``, ``list[...]``)."""
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "list"))


#: Options each patching rule takes (others are ignored).
RULE_OPTIONS: dict[str, tuple[str, ...]] = {
    "quantile": ("q",),
    "combine": ("q",),
    "threshold": ("threshold", "max_patch_len"),
    "monotonic": ("margin", "max_patch_len"),
    "brics": (),
}


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

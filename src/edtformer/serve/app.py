"""The FastAPI application: routes, limits and OpenAI-shaped errors (see :mod:`edtformer.serve`).

Imports FastAPI: import it through :func:`edtformer.serve.create_app`, which names the extra
when FastAPI is missing. The ASGI limits and access log live in :mod:`edtformer.serve.http`,
the chat job and response bodies in :mod:`edtformer.serve.responses`.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from edtformer.chem import MolRecord
from edtformer.errors import EdtError
from edtformer.model import MAX_NEW_TOKENS
from edtformer.patching import patch_molecules
from edtformer.serve.errors import ApiError, from_edt_error
from edtformer.serve.http import AccessLog, BodyTooLarge, LimitBody, ServeLimits, too_large
from edtformer.serve.responses import ChunkHead, chat_job, completion_body, sse_events
from edtformer.serve.schemas import ChatRequest, PatchRequest, ScoreRequest, parse_molecules
from edtformer.serve.worker import Completion, ModelWorker
from edtformer.viz.draw import PALETTE, render_patches

__all__ = ["ServeLimits", "create_app"]

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
B = TypeVar("B")

#: Options each patching rule takes (others are ignored).
RULE_OPTIONS: dict[str, tuple[str, ...]] = {
    "quantile": ("q",),
    "combine": ("q",),
    "threshold": ("threshold", "max_patch_len"),
    "monotonic": ("margin", "max_patch_len"),
    "brics": (),
}


@dataclass
class Served:
    """What the routes of one app share: the model, its worker and name, the limits, the start
    time ``/v1/models`` reports, and how many requests now wait on the model."""

    model: Any
    name: str
    limits: ServeLimits
    worker: ModelWorker
    created: int
    busy: int = 0

    def check_model(self, name: str) -> None:
        """A 404 unless ``name`` is the served model's."""
        if name != self.name:
            raise ApiError(
                f"the model {name!r} does not exist; this server serves {self.name!r}",
                404,
                "model_not_found",
                "model",
            )

    async def on_model(
        self, fn: Callable[..., Awaitable[Any]], *args: Any, param: str | None
    ) -> Any:
        """``await fn(*args)`` with bad input turned into a 400, and a cap on waiting requests."""
        if self.busy >= self.limits.max_pending:
            raise ApiError("server busy, retry later", 503, "overloaded", None, "server_error")
        self.busy += 1
        try:
            return await fn(*args)
        except EdtError as exc:
            raise from_edt_error(exc, param) from None
        finally:
            self.busy -= 1


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
    served = Served(model, model_name, limits, worker, int(time.time()))

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        await worker.start()
        yield
        await worker.stop()

    app = FastAPI(title="edtformer", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.worker = worker
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_handlers(app, limits)
    _add_info_routes(app, served)
    _add_chat_route(app, served)
    _add_molecule_routes(app, served)
    app.add_middleware(LimitBody, limit=limits.max_body_bytes)
    app.add_middleware(AccessLog)  # outermost: a 413 is logged too
    return app


def error_response(err: ApiError) -> Any:
    """The JSON response of an :class:`ApiError`: its OpenAI-shaped body and status."""
    return JSONResponse(err.body(), status_code=err.status)


def _add_error_handlers(app: FastAPI, limits: ServeLimits) -> None:
    """Answer every error as OpenAI does: :class:`ApiError`, a too-large body (413), FastAPI's
    own HTTP errors (404 …) and anything unexpected (500, logged with its traceback)."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Any:
        return error_response(exc)

    @app.exception_handler(BodyTooLarge)
    async def _body_too_large(request: Request, exc: BodyTooLarge) -> Any:
        return error_response(too_large(limits.max_body_bytes))

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
    """The request's JSON object as ``schema``; malformed JSON or a bad field is a 400."""
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


def _union_branch(part: Any) -> bool:
    """Whether a pydantic error location item names a union branch (``str``, ``list[...]``)."""
    return isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "list"))


# The route functions below keep their names and have no docstrings: FastAPI writes both into
# /openapi.json (operation ids, summaries, descriptions), which is part of the HTTP API.


def _add_info_routes(app: FastAPI, served: Served) -> None:
    """``GET /`` (the web page), ``GET /health`` and ``GET /v1/models``."""

    @app.get("/", include_in_schema=False)
    async def page() -> Any:
        return FileResponse(STATIC / "index.html")

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": served.name, "pending": served.worker.pending}

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": served.name,
                    "object": "model",
                    "created": served.created,
                    "owned_by": "edtformer",
                }
            ],
        }


def _add_chat_route(app: FastAPI, served: Served) -> None:
    """``POST /v1/chat/completions``: one ``chat.completion``, or its server-sent events when
    the request streams."""

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        req = await parse_body(request, ChatRequest)
        served.check_model(req.model)
        job = chat_job(req, served.model.config.system_prompt, served.limits)
        head = ChunkHead(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), served.name)
        if not req.stream:
            done: Completion = await served.on_model(served.worker.complete, job, param="messages")
            return completion_body(head, done)
        # the first delta (or the error of bad input) comes before the response starts, so that
        # bad input is a 4xx, not an error event after a 200
        final: list[Completion] = []
        deltas = served.worker.stream(job, final)

        async def first_delta() -> str | None:
            try:
                return await anext(deltas)
            except StopAsyncIteration:
                return None

        try:
            first = await served.on_model(first_delta, param="messages")
        except BaseException:
            await deltas.aclose()
            raise
        include_usage = bool((req.stream_options or {}).get("include_usage"))
        return StreamingResponse(
            sse_events(head, first, deltas, final, include_usage),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )


def _add_molecule_routes(app: FastAPI, served: Served) -> None:
    """``POST /v1/score`` (answer options -> probabilities) and ``POST /v1/patch`` (entropy,
    patches and an SVG drawing of one molecule)."""
    model, limits = served.model, served.limits

    @app.post("/v1/score")
    async def score(request: Request) -> Any:
        req = await parse_body(request, ScoreRequest)
        served.check_model(req.model)
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

        scores = await served.on_model(served.worker.run, run, param="question")
        return {
            "object": "score",
            "model": served.name,
            "options": scores.choices,
            "probs": [round(p, 6) for p in scores.probs[0].tolist()],
            "logprobs": [round(p, 6) for p in scores.logprobs[0].tolist()],
            "best": scores.best[0],
        }

    @app.post("/v1/patch")
    async def patch(request: Request) -> Any:
        req = await parse_body(request, PatchRequest)
        [record] = parse_molecules([req.smiles], "smiles")
        options = patch_options(req)
        try:
            return await served.on_model(
                served.worker.run, patch_body, record, req, options, param="smiles"
            )
        except ValueError as exc:  # a rule option out of range
            raise ApiError(str(exc), code="invalid_value") from None


def patch_options(req: PatchRequest) -> dict[str, float]:
    """The options of a patch request that it sets and its rule takes (:data:`RULE_OPTIONS`)."""
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
    return {k: v for k, v in options.items() if k in RULE_OPTIONS[req.rule]}


def patch_body(record: MolRecord, req: PatchRequest, options: dict[str, float]) -> dict[str, Any]:
    """The ``patch`` object of one molecule: per-atom entropy, patch and BRICS ids, the colours
    of the patches and (``req.draw``) the SVG drawing (on the model thread)."""
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

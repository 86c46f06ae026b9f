"""ASGI plumbing of the app: per-request limits, the body-size guard and the access log.

:class:`LimitBody` refuses a request body over :attr:`ServeLimits.max_body_bytes` with an
OpenAI-style 413; :class:`AccessLog` writes one line per request on :data:`access_logger`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from edtformer.serve.errors import ApiError


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


def too_large(limit: int) -> ApiError:
    """The 413 error of a request body over ``limit`` bytes."""
    return ApiError(f"request body over {limit:,} bytes", 413, "body_too_large")


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
            data = json.dumps(too_large(self.limit).body()).encode()
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

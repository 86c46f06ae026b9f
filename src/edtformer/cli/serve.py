"""``edt serve [--model DIR] [--host 127.0.0.1] [--port 8000]``: the model behind an
OpenAI-compatible HTTP API and a web page (:mod:`edtformer.serve`), loaded once."""

from __future__ import annotations

import argparse
import logging
from typing import Any

logger = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    """Check the flags, load the model, serve until interrupted."""
    from edtformer.cli.ask import load_cli_model, resolve_device
    from edtformer.errors import EdtError, require
    from edtformer.model import MAX_NEW_TOKENS

    require("fastapi", "serve")
    uvicorn: Any = require("uvicorn", "serve")  # before the model loads
    if not 1 <= args.max_tokens <= MAX_NEW_TOKENS:
        raise EdtError(f"--max-tokens must be 1 to {MAX_NEW_TOKENS:,}, got {args.max_tokens}")
    if args.threads is not None and args.threads < 1:
        raise EdtError(f"--threads must be at least 1, got {args.threads}")
    if args.max_batch_size < 1:
        raise EdtError(f"--max-batch-size must be at least 1, got {args.max_batch_size}")
    if not 0 <= args.port <= 65535:
        raise EdtError(f"--port must be 0 to 65535, got {args.port}")
    resolve_device(args.device, args.dtype)
    from edtformer.serve import create_app
    from edtformer.serve.app import ServeLimits

    model, name = load_cli_model(args.model, args.threads, args.device, args.dtype)
    if model.processor is not None:  # MiniMol loads on first use; a long session loads it now
        model.processor.load_encoders()
    limits = ServeLimits(max_tokens=args.max_tokens, default_max_tokens=min(128, args.max_tokens))
    app = create_app(
        model,
        args.name or name,
        limits,
        max_batch_size=args.max_batch_size,
        batch_wait_s=args.batch_wait_ms / 1000,
    )
    if args.access_log:  # one line per request (method, route, status, latency), at INFO
        logging.getLogger("edtformer.serve.access").setLevel(logging.INFO)
    logger.warning("serving %s on http://%s:%d/", args.name or name, args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def register(subparsers: Any) -> None:
    """Add ``edt serve``."""
    from edtformer.cli.ask import add_device_options

    p = subparsers.add_parser(
        "serve",
        help="an OpenAI-compatible HTTP API and a web page",
        description="Load the model once and serve POST /v1/chat/completions (OpenAI format, "
        "streaming), /v1/score, /v1/patch, GET /v1/models, /health and a web page at /.",
    )
    p.add_argument(
        "--model", default=None, help="trained model folder (default: the shipped bridge)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (8000)")
    p.add_argument("--name", default=None, help="model id clients send (default: 'default' or DIR)")
    p.add_argument(
        "--max-tokens", type=int, default=512, help="largest max_tokens a request may ask (512)"
    )
    p.add_argument("--max-batch-size", type=int, default=16, help="chat prompts per forward (16)")
    p.add_argument(
        "--batch-wait-ms", type=float, default=5.0,
        help="how long a request waits for others to batch with (5 ms)",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (default: torch's)"
    )
    p.add_argument(
        "--access-log", action=argparse.BooleanOptionalAction, default=True,
        help="one line per request on stderr: method, route, status, latency (default on; "
        "never the request body)",
    )  # fmt: skip
    add_device_options(p)
    p.set_defaults(func=run)

"""``edt chat SMILES``: an interactive conversation about one molecule (keeps history; ``/quit``).

Reads one question per line from stdin, so it works in a terminal, in tmux and from a pipe.
Commands: ``/quit`` (also ``quit``, ``exit`` or end of input) leaves, ``/reset`` forgets the
history. A turn that fails (too long, ...) prints one error line and the session goes on.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

PROMPT = "you> "


def run(args: argparse.Namespace) -> int:
    """The read-answer loop."""
    from edtformer.chem import parse_smiles
    from edtformer.cli.ask import check_generation_flags, load_cli_model, resolve_device
    from edtformer.errors import EdtError

    check_generation_flags(args)
    resolve_device(args.device, args.dtype)
    parse_smiles(args.smiles)
    model, name = load_cli_model(args.model, args.threads, args.device, args.dtype)
    print(f"chatting about {args.smiles} (model: {name}); /quit to leave, /reset to start over")
    history: list[dict[str, str]] | None = None
    while True:
        print(PROMPT, end="", flush=True)
        line = sys.stdin.readline()
        if not line:  # end of input
            print()
            return 0
        question = line.strip()
        if not question:
            continue
        if question in ("/quit", "/exit", "/q", "quit", "exit"):
            return 0
        if question == "/reset":
            history = None
            print("(history cleared)", flush=True)
            continue
        try:
            ans = model.ask(
                args.smiles, question, max_new_tokens=args.max_new_tokens, history=history
            )
        except EdtError as exc:  # one bad turn (too long, ...) does not end the session
            print(f"edt chat: error: {exc}", file=sys.stderr, flush=True)
            continue
        history = ans.messages
        print(f"edt> {ans.answer}", flush=True)


def register(subparsers: Any) -> None:
    """Add ``edt chat``."""
    p = subparsers.add_parser(
        "chat",
        help="interactive questions about a molecule",
        description="Ask follow-up questions about one molecule; /quit leaves, /reset clears history.",
    )
    p.add_argument("smiles", help="the molecule")
    p.add_argument(
        "--model", default=None, help="trained model folder (default: the shipped bridge)"
    )
    p.add_argument(
        "--max-new-tokens", type=int, default=64, help="answer length limit (default 64)"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (default: torch's)"
    )
    from edtformer.cli.ask import add_device_options

    add_device_options(p)
    p.set_defaults(func=run)

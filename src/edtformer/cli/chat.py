"""``edt chat SMILES``: an interactive conversation about one molecule (keeps history; ``/quit``).

Reads one question per line from stdin, so it works in a terminal, in tmux and from a pipe.
Commands: ``/quit`` (also ``quit``, ``exit`` or end of input) leaves, ``/reset`` forgets the
history, ``/mol SMILES`` switches to another molecule (and forgets the history), ``/help`` lists
the commands. Any other line starting with ``/`` is refused with the list of commands (never
sent to the model as a question). A turn that fails (too long, an invalid SMILES, ...) prints
one error line and the session goes on.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

PROMPT = "you> "
HELP = """commands:
  /mol SMILES   talk about another molecule (the history is cleared)
  /reset        clear the history
  /help         this list (also /? and help)
  /quit         leave (also /exit, /q, quit, exit, or end of input)
anything else that does not start with / is a question about the current molecule"""
QUIT = ("/quit", "/exit", "/q", "quit", "exit")


def run(args: argparse.Namespace) -> int:
    """The read-answer loop."""
    from edtformer.chem import parse_smiles
    from edtformer.cli.ask import check_generation_flags, load_cli_model, resolve_device
    from edtformer.errors import EdtError

    check_generation_flags(args)
    resolve_device(args.device, args.dtype)
    parse_smiles(args.smiles)
    model, name = load_cli_model(args.model, args.threads, args.device, args.dtype)
    if model.processor is not None:  # MiniMol loads on first use; a long session loads it now
        model.processor.load_encoders()
    smiles = args.smiles
    print(f"chatting about {smiles} (model: {name}); /help lists the commands, /quit leaves")
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
        if question in QUIT:
            return 0
        if question == "/reset":
            history = None
            print("(history cleared)", flush=True)
            continue
        if question in ("/help", "/?", "help"):
            print(HELP, flush=True)
            continue
        if question == "/mol" or question.startswith("/mol "):
            new = question[len("/mol") :].strip()
            try:
                if not new:
                    raise EdtError("give a SMILES after /mol, e.g. /mol CCO")
                parse_smiles(new)
            except EdtError as exc:
                print(f"edt chat: error: {exc}", file=sys.stderr, flush=True)
                continue
            smiles, history = new, None
            print(f"(now chatting about {smiles}; history cleared)", flush=True)
            continue
        if question.startswith("/"):  # a mistyped command is not a question for the model
            command = question.split(maxsplit=1)[0]
            print(f"edt chat: error: unknown command {command!r}", file=sys.stderr, flush=True)
            print(HELP, flush=True)
            continue
        try:
            ans = model.ask(smiles, question, max_new_tokens=args.max_new_tokens, history=history)
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
        description="Ask follow-up questions about one molecule, one per line\n(the model "
        "stays loaded and keeps the history).\n\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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

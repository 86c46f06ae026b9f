"""``edt`` entry point: maps sub-commands to typed functions.

Each sub-command module exposes ``register(subparsers) -> None`` which adds its parser and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
Modules keep heavy imports (torch models, ONNX, transformers) inside their functions so that
``edt --help`` stays fast.

Errors from bad user input (:class:`~edtformer.errors.EdtError`) become one line on stderr and
exit code 2; ``--debug`` shows the traceback instead.

A sub-command that sets ``end_process=True`` in its parser defaults (``edt ask``) ends the
``edt`` process without the interpreter's teardown once it returns (:func:`end_process`).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import logging
import os
import sys
import threading
from collections.abc import Sequence

from edtformer import __version__
from edtformer.errors import EdtError

#: Sub-command modules, in the order ``edt --help`` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "patch",
    "entropy",
    "encode",
    "data",
    "train",
    "ask",
    "chat",
    "serve",
    "demo",
    "eval",
    "bench",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``edt`` argument parser: every sub-command, or only the module of ``command`` when
    it is one of :data:`COMMAND_MODULES` (``edt ask ...`` imports no other command's module)."""
    parser = argparse.ArgumentParser(
        prog="edt",
        description="EDT-Former: entropy-guided dynamic tokens for molecule-grounded LLM answers.",
    )
    parser.add_argument("--version", action="version", version=f"edtformer {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)"
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in (command,) if command in COMMAND_MODULES else COMMAND_MODULES:
        module = importlib.import_module(f"edtformer.cli.{name}")
        module.register(sub)
    _add_common_options(parser)
    return parser


def named_command(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names (its first word), or ``None`` when there is none or
    ``-h`` / ``--version`` comes first (``edt -h`` lists every command)."""
    for arg in argv:
        if arg in ("-h", "--help", "--version"):
            return None
        if not arg.startswith("-"):
            return arg
    return None


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """``-v`` and ``--debug`` also after a sub-command (``edt ask ... -v``), at every level."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if not any("--debug" in a.option_strings for a in child._actions):
                    child.add_argument(
                        "-v", "--verbose", dest="sub_verbose", action="count", default=0,
                        help="more logging (-vv: debug)",
                    )  # fmt: skip
                    child.add_argument(
                        "--debug", dest="sub_debug", action="store_true",
                        help="show full tracebacks on errors",
                    )  # fmt: skip
                _add_common_options(child)


def end_process(code: int) -> None:
    """End this process now with exit status ``code``, skipping the interpreter's teardown.

    Tearing down a process that imported torch, transformers, RDKit and ONNX Runtime (thousands
    of modules, about a gigabyte of objects) takes about a second (``benchmarks/startup.py``),
    and a finished ``edt ask`` has nothing left to release: ``atexit`` handlers still run (they
    flush and close logging), then stdout and stderr are flushed and ``os._exit`` ends the
    process. Returns without ending it while another non-daemon thread is alive (the interpreter
    would wait for it).
    """
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon and t.is_alive() for t in threading.enumerate()):
        return
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to write
            stream.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``edt`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code.

    As the process's entry point (``argv`` ``None``: the ``edt`` script, ``python -m``), a
    command whose parser sets ``end_process=True`` ends the process here (:func:`end_process`).
    """
    parser = build_parser(named_command(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    code = run_command(parser, args)
    if argv is None and getattr(args, "end_process", False):
        end_process(code)
    return code


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Set up logging and run the parsed sub-command; :class:`EdtError` becomes one line and
    exit code 2 (the traceback with ``--debug``)."""
    args.verbose += getattr(args, "sub_verbose", 0)
    args.debug = args.debug or getattr(args, "sub_debug", False)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except EdtError as exc:
        if args.debug:
            raise
        print(f"edt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"edt {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

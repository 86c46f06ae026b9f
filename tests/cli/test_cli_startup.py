"""``edt ask`` start-up: no garbage collection while the model loads, no interpreter teardown
after the answer (output and atexit handlers kept)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edtformer.cli import ask
from edtformer.cli import main as cli_main


@pytest.fixture()
def unfrozen() -> Iterator[None]:
    """Give the objects a test froze back to the collector."""
    yield
    gc.unfreeze()
    gc.enable()


def test_gc_paused_while_loading_then_frozen(unfrozen: None) -> None:
    gc.unfreeze()
    with ask.gc_paused():
        assert not gc.isenabled()
        with ask.gc_paused():  # nested (ask's run around load_cli_model): stays paused
            pass
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_freeze_count() > 0


def test_gc_is_back_when_an_error_stops_the_load(unfrozen: None) -> None:
    with pytest.raises(RuntimeError), ask.gc_paused():
        raise RuntimeError("load failed")
    assert gc.isenabled()


def test_a_batch_runs_with_the_collector_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unfrozen: None
) -> None:
    seen: list[bool] = []
    monkeypatch.setattr(
        "edtformer.cli.ask_batch.run_batch", lambda args, load: seen.append(gc.isenabled()) or 0
    )
    mols = tmp_path / "mols.csv"
    mols.write_text("smiles\nCCO\n")
    argv = ["ask", "--input", str(mols), "--out", str(tmp_path / "o.csv"), "--question", "q?"]
    assert cli_main.main(argv) == 0
    assert seen == [True]


def test_end_process_flushes_output_and_runs_atexit_handlers() -> None:
    script = textwrap.dedent(
        """
        import atexit, logging, sys
        from edtformer.cli.main import end_process
        logging.basicConfig(stream=sys.stderr, format="%(message)s")
        atexit.register(lambda: sys.stderr.write("atexit ran\\n"))
        sys.stdout.write("buffered answer")  # no newline: still in the buffer
        logging.getLogger("x").warning("logged")
        end_process(3)
        sys.stdout.write("never printed")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 3
    assert proc.stdout == "buffered answer"
    assert proc.stderr.splitlines() == ["logged", "atexit ran"]


def test_end_process_waits_for_a_running_non_daemon_thread() -> None:
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait, daemon=False)
    worker.start()
    try:
        assert cli_main.end_process(0) is None  # returned: the process goes on
    finally:
        stop.set()
        worker.join()


@pytest.mark.parametrize(
    ("argv", "ends"),
    [
        (["edt", "ask", "C1CC(", "q"], True),  # bad SMILES: exit 2 before any model loads
        (["edt", "patch", "C1CC("], False),  # a command that keeps the usual exit
    ],
)
def test_only_ask_as_the_entry_point_ends_the_process(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], ends: bool
) -> None:
    ended: list[int] = []
    monkeypatch.setattr(cli_main, "end_process", ended.append)
    monkeypatch.setattr(sys, "argv", argv)
    assert cli_main.main() == 2
    assert ended == ([2] if ends else [])
    assert cli_main.main(argv[1:]) == 2  # called with arguments (tests, Python): never
    assert ended == ([2] if ends else [])


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["ask", "CCO", "q"], "ask"),
        (["-v", "--debug", "ask", "CCO"], "ask"),
        (["encoders"], "encoders"),
        (["-h", "ask"], None),
        (["--version"], None),
        (["-v"], None),
        ([], None),
    ],
)
def test_named_command(argv: list[str], command: str | None) -> None:
    assert cli_main.named_command(argv) == command


def test_ask_parser_alone_imports_no_other_command_and_parses_the_same() -> None:
    script = (
        "import sys; from edtformer.cli.main import build_parser; build_parser('ask'); "
        "print(' '.join(m for m in sys.modules if m.startswith('edtformer.cli.')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = {m.removeprefix("edtformer.cli.") for m in proc.stdout.split()}
    assert loaded & set(cli_main.COMMAND_MODULES) == {"ask"}
    argv = ["-v", "ask", "CCO", "What is it?", "--json", "--max-new-tokens", "8", "--debug"]
    assert vars(cli_main.build_parser("ask").parse_args(argv)) == vars(
        cli_main.build_parser().parse_args(argv)
    )

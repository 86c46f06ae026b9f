"""Options every sub-command takes, before or after its name."""

from __future__ import annotations

import pytest

from edtformer.cli.main import build_parser, main
from edtformer.errors import InvalidSmilesError


def test_debug_after_the_sub_command_shows_the_traceback() -> None:
    with pytest.raises(InvalidSmilesError):
        main(["ask", "C1CC(", "What is it?", "--debug"])
    with pytest.raises(InvalidSmilesError):
        main(["--debug", "ask", "C1CC(", "What is it?"])
    assert main(["ask", "C1CC(", "What is it?"]) == 2


def test_verbose_after_nested_sub_commands(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["data", "stats", "somewhere", "-vv"])
    assert args.sub_verbose == 2 and args.verbose == 0
    args = build_parser().parse_args(["-v", "patch", "CCO", "--debug"])
    assert args.verbose == 1 and args.sub_debug
    assert main(["data", "stats", str(tmp_path / "none"), "-vv"]) == 2
    assert "no manifest" in capsys.readouterr().err

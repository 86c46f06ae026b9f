"""The small things: chat refuses unknown /commands, help texts say what each command and flag
does, and loading the LLM prints no progress bar."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.cli.main import build_parser, main
from edtformer.model import EDTFormer, EDTFormerConfig


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llm(tmp_path_factory.mktemp("llm") / "llm")


@pytest.fixture(scope="module")
def model_dir(tiny_llm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    cfg = EDTFormerConfig(
        encoders=("random",), llm=str(tiny_llm), bridge=tiny(), patch_rule="brics"
    )
    folder = tmp_path_factory.mktemp("model") / "model"
    EDTFormer.build(cfg).save_pretrained(folder)
    return folder


def command_help(name: str) -> str:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return " ".join(sub.choices[name].format_help().split())


def test_chat_refuses_unknown_commands_without_asking_the_model(
    model_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real_ask = EDTFormer.ask

    def spy(self: EDTFormer, smiles: str, question: str, **kw: object) -> object:
        asked.append(question)
        return real_ask(self, smiles, question, **kw)

    monkeypatch.setattr(EDTFormer, "ask", spy)
    monkeypatch.setattr(sys, "stdin", io.StringIO("/foo bar\n/Reset\nWhat is it?\n/quit\n"))
    assert main(["chat", "CCO", "--model", str(model_dir), "--max-new-tokens", "2"]) == 0
    out, err = capsys.readouterr()
    assert asked == ["What is it?"]
    assert "unknown command '/foo'" in err and "unknown command '/Reset'" in err
    assert out.count("/mol SMILES") == 2  # the list of commands, after each refusal


def test_chat_help_lists_every_command() -> None:
    text = command_help("chat")
    for command in ("/mol SMILES", "/reset", "/help", "/quit", "quit", "exit"):
        assert command in text


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("encode", ["Compute each molecule's per-atom features", "molecules per encoder call"]),
        ("encoders", ["List the frozen graph encoders"]),
        ("demo", ["approved drugs", "patching", "evaluate"]),
        ("ask", ["--question TEXT", "--id-column NAME", "`edt serve`"]),
        ("patch", ["--smiles-column NAME", "--id-column NAME"]),
        ("serve", ["--no-access-log"]),
    ],
)
def test_help_texts(command: str, words: list[str]) -> None:
    text = command_help(command)
    assert "BATCH_QUESTION" not in text
    for w in words:
        assert w in text


def test_loading_the_llm_prints_no_progress_bar(
    tiny_llm: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from transformers.utils import logging as hf_logging

    from edtformer.llm.loading import load_llm

    hf_logging.enable_progress_bar()
    capfd.readouterr()
    load_llm(str(tiny_llm))
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # the caller's setting is restored

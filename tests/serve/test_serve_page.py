"""The web page in headless Chromium with the tiny model: it loads, draws the molecule and its
entropy plot, switches the patching rule, and a question gets a streamed answer on the page."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from tests.fixtures.benchmarks import load_benchmark

from edtformer.serve.background import BackgroundServer

pytestmark = pytest.mark.filterwarnings("ignore:Passing `repetition_penalty`:UserWarning")


def test_page_draws_switches_rule_and_answers(
    live_server: BackgroundServer, tmp_path: Path
) -> None:
    page = load_benchmark("serve_page")
    why = page.chromium_missing()
    if why is not None:
        warnings.warn(f"BROWSER TEST SKIPPED: {why}", stacklevel=1)
        pytest.skip(f"BROWSER TEST SKIPPED: {why}")
    shot = tmp_path / "page.png"
    seen = page.drive_page(f"{live_server.url}/", "What is it?", screenshot=shot)
    assert seen["page_errors"] == [] and seen["chat_error"] == ""
    assert seen["n_bars"] == 13  # aspirin, the page's default molecule: one bar per atom
    assert "(combine)" in seen["combine_summary"] and "(brics)" in seen["brics_summary"]
    assert seen["answer"] and seen["answer"] != "(empty answer)"
    assert shot.stat().st_size > 10_000

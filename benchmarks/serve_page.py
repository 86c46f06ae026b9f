"""The ``edt serve`` page in headless Chromium (Playwright + Debian's ``chromium``): load it,
wait for the drawing and the entropy plot, switch the rule, ask a question, wait for the
streamed answer, and write a screenshot. The browser test (tests/serve) drives the page with
the tiny model through :func:`drive_page`; this script does it with a real model::

    python benchmarks/serve_page.py                 # the shipped bridge -> results/serve_page.png
    python benchmarks/serve_page.py --model DIR --out page.png
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

#: The browser: $EDT_CHROMIUM, else Debian's chromium.
CHROMIUM = os.environ.get("EDT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def chromium_missing() -> str | None:
    """Why the browser cannot run here, or ``None``."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).is_file():
        return f"no chromium at {CHROMIUM} (apt-get install chromium, or set EDT_CHROMIUM)"
    return None


def drive_page(
    url: str, question: str, screenshot: Path | None = None, timeout_s: float = 120
) -> dict[str, Any]:
    """What the page showed: atoms plotted, rules seen, the answer text."""
    from playwright.sync_api import sync_playwright

    ms = timeout_s * 1000
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, timeout=ms)
            page.wait_for_selector("#drawing svg", timeout=ms)
            page.wait_for_selector("#plot svg rect.bar", timeout=ms)
            n_bars = page.locator("#plot svg rect.bar").count()
            combine_summary = page.inner_text("#patch-summary")
            page.select_option("#rule", "brics")
            page.wait_for_function(
                "document.querySelector('#drawing').dataset.rule === 'brics'", timeout=ms
            )
            brics_summary = page.inner_text("#patch-summary")
            page.fill("#question", question)
            page.click("#send")
            page.wait_for_selector(".msg.assistant[data-done='true']", timeout=ms)
            answer = page.inner_text(".msg.assistant")
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
            return {
                "n_bars": n_bars,
                "combine_summary": combine_summary,
                "brics_summary": brics_summary,
                "answer": answer,
                "chat_error": page.inner_text("#chat-error"),
                "page_errors": errors,
            }
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    """Serve ``--model`` in this process, drive the page, write the screenshot."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="model folder (default: the shipped bridge)")
    p.add_argument("--question", default="Which functional groups does this molecule contain?")
    p.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results" / "serve_page.png"
    )
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    why = chromium_missing()
    if why is not None:
        raise SystemExit(f"serve_page: {why}")
    from edtformer.cli.ask import load_cli_model
    from edtformer.serve import create_app
    from edtformer.serve.background import BackgroundServer

    model, name = load_cli_model(args.model, args.threads)
    with BackgroundServer(create_app(model, name)) as server:
        seen = drive_page(f"{server.url}/", args.question, screenshot=args.out, timeout_s=600)
    print(json.dumps({**seen, "screenshot": str(args.out)}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

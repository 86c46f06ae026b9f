"""A tiny saved model and a live ``edt serve`` app on a free loopback port, shared per module."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.model import EDTFormer, EDTFormerConfig

pytest.importorskip("fastapi", reason="pip install -e '.[serve]' (fastapi, uvicorn)")

MODEL_NAME = "tiny-test"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("serve")
    llm = make_tiny_llm(root / "llm")
    torch.manual_seed(0)
    cfg = EDTFormerConfig(encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics")
    EDTFormer.build(cfg).save_pretrained(root / "model")
    return root / "model"


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path) -> EDTFormer:
    """The tiny model; its random LLM would repeat one newline forever (an empty answer), so a
    huge repetition penalty makes every greedy answer a few distinct visible tokens."""
    model = EDTFormer.from_pretrained(tiny_model_dir).eval()
    model.llm.generation_config.repetition_penalty = 1e4
    return model


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture(scope="module")
def live_server(tiny_model: EDTFormer) -> Iterator[LiveServer]:
    from edtformer.serve import create_app

    with LiveServer(create_app(tiny_model, MODEL_NAME, batch_wait_s=0.05)) as server:
        yield server

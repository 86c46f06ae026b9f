"""A tiny saved model and a live ``edt serve`` app on a free loopback port, shared per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.model import EDTFormer, EDTFormerConfig
from edtformer.serve.background import BackgroundServer

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


@pytest.fixture(scope="module")
def live_server(tiny_model: EDTFormer) -> Iterator[BackgroundServer]:
    from edtformer.serve import create_app

    with BackgroundServer(create_app(tiny_model, MODEL_NAME, batch_wait_s=0.05)) as server:
        yield server

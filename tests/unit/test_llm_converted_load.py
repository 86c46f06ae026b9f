"""The default LLM's converted folder loads without transformers' generic loader: same model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.llm.loading import _load_converted


def test_converted_folder_loads_the_same_model(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    folder = make_tiny_llm(tmp_path / "llm")
    ref = AutoModelForCausalLM.from_pretrained(folder).eval()
    fast = _load_converted(folder, torch.float32).eval()
    assert fast.lm_head.weight is fast.model.embed_tokens.weight  # tied as the config says
    assert fast.generation_config.eos_token_id == ref.generation_config.eos_token_id
    ids = torch.randint(0, 100, (2, 7))
    with torch.no_grad():
        assert torch.equal(fast(input_ids=ids).logits, ref(input_ids=ids).logits)


def test_a_folder_whose_weights_do_not_match_is_refused(tmp_path: Path) -> None:
    folder = make_tiny_llm(tmp_path / "llm")
    state = load_file(folder / "model.safetensors")
    state["model.extra.weight"] = torch.zeros(2)
    save_file(state, folder / "model.safetensors")
    with pytest.raises(ValueError, match="do not match the config"):
        _load_converted(folder, torch.float32)

"""Frozen LLM weights re-stored column-major: same values and outputs, tied head untied,
trainable weights untouched, done once and only for batched generation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm
from torch import nn

from edtformer.llm.generation import generate_from_embeds
from edtformer.llm.layout import column_major, for_batches, store_weights_column_major


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[nn.Module, object]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = make_tiny_llm(tmp_path / "llm")
    return AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(
        folder
    )


def _frozen(llm: nn.Module) -> nn.Module:
    for p in llm.parameters():
        p.requires_grad_(False)
    return llm


def test_same_values_same_logits_head_untied(tiny: tuple[nn.Module, object]) -> None:
    llm = _frozen(tiny[0])
    ids = torch.randint(0, 100, (3, 7))
    before = {n: p.detach().clone() for n, p in llm.named_parameters()}
    with torch.no_grad():
        logits = llm(input_ids=ids).logits
    assert llm.get_output_embeddings().weight is llm.get_input_embeddings().weight  # tied
    n = store_weights_column_major(llm)
    linears = [m for m in llm.modules() if isinstance(m, nn.Linear)]
    assert n == len(linears) and all(column_major(m.weight) for m in linears)
    assert llm.get_output_embeddings().weight is not llm.get_input_embeddings().weight
    assert llm.get_input_embeddings().weight.is_contiguous()  # lookups want rows
    for name, p in llm.named_parameters():
        assert torch.equal(p, before.get(name, before["model.embed_tokens.weight"])), name
    with torch.no_grad():
        torch.testing.assert_close(llm(input_ids=ids).logits, logits)
    assert store_weights_column_major(llm) == 0  # already done


def test_trainable_weights_keep_their_parameter() -> None:
    net = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    net[1].weight.requires_grad_(False)
    trainable = net[0].weight
    assert store_weights_column_major(net) == 1
    assert net[0].weight is trainable and trainable.is_contiguous()
    assert column_major(net[1].weight)


def test_only_batched_generation_restores(tiny: tuple[nn.Module, object]) -> None:
    llm, tok = tiny
    llm = _frozen(llm)
    emb = llm.get_input_embeddings()(torch.randint(0, 100, (2, 5)))  # [2, 5, d]
    mask = torch.ones(2, 5, dtype=torch.long)
    single = generate_from_embeds(llm, tok, emb[:1], mask[:1], max_new_tokens=4)
    assert not column_major(llm.get_output_embeddings().weight)
    batched = generate_from_embeds(llm, tok, emb, mask, max_new_tokens=4)
    assert column_major(llm.get_output_embeddings().weight)
    assert batched[0] == single[0]  # the same greedy answer
    weight = llm.get_output_embeddings().weight
    for_batches(llm)  # once per model
    assert llm.get_output_embeddings().weight is weight


def test_merge_lora_same_function_adapters_frozen(tiny: tuple[nn.Module, object]) -> None:
    from edtformer.llm.layout import for_serving, merge_lora
    from edtformer.llm.trainable import LoraSettings, add_lora

    llm = tiny[0]
    add_lora(llm, LoraSettings(r=4, alpha=8, dropout=0.0, target_modules=("q_proj", "v_proj")))
    with torch.no_grad():
        for name, p in llm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)  # adapters that change the function
    llm.eval()
    ids = torch.randint(0, 100, (2, 6))
    with torch.no_grad():
        before = llm(input_ids=ids).logits
    for_serving(llm)
    base = [m for n, m in llm.named_modules() if isinstance(m, nn.Linear) and "lora_" not in n]
    assert all(column_major(m.weight) for m in base)
    assert not any(p.requires_grad for p in llm.parameters())
    with torch.no_grad():
        after = llm(input_ids=ids).logits
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-4)
    assert merge_lora(llm) == 0  # once


def test_weights_off_the_cpu_are_left_alone() -> None:
    net = nn.Linear(4, 8, device="meta").requires_grad_(False)
    weight = net.weight
    assert store_weights_column_major(net) == 0 and net.weight is weight

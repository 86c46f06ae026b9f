"""benchmarks/training.py: each mode builds, steps, and trains exactly what it says (tiny random LLM)."""

from __future__ import annotations

from types import ModuleType

import pytest
import torch
from tests.fixtures.benchmarks import load_benchmark
from tests.fixtures.llm.tiny import make_tiny_llm

SAMPLES = [
    (["CCO"], "<mol>\nIs it an alcohol?", "Yes."),
    (["c1ccccc1C(=O)O"], "<mol>\nHow many rings does it have?", "One ring."),
]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("training")


@pytest.fixture(scope="module")
def cfg(bench: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> object:
    root = tmp_path_factory.mktemp("bench")
    llm = make_tiny_llm(root / "tiny-llama")
    return bench.bench_config(
        root / "data",
        batch_size=2,
        n_samples=2,
        llm=str(llm),
        encoder="random",
        preset="tiny",
        patch_rule="brics",
        cache_dir=root / "features",
    )


def _one_step(bench: ModuleType, cfg: object, mode: str) -> tuple[object, dict, dict, float]:
    from edtformer.training.stage2 import Stage2Collator

    model = bench.build_mode(mode, cfg)
    batch = Stage2Collator(model)(SAMPLES)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = bench.make_optimizer(model, lr=1e-2)
    model.train()
    loss = bench.train_step(model, optimizer, batch)
    assert torch.isfinite(torch.tensor(loss))
    named = dict(model.named_parameters())
    changed = {n: not torch.equal(named[n], before[n]) for n in named}
    return model, named, changed, loss


@pytest.fixture(scope="module")
def stepped(bench: ModuleType, cfg: object) -> dict[str, tuple[object, dict, dict, float]]:
    """One optimizer step of every mode on the same batch."""
    return {mode: _one_step(bench, cfg, mode) for mode in bench.MODES}


def test_bridge_mode_trains_only_the_connector(stepped: dict) -> None:
    model, named, changed, _ = stepped["bridge"]
    assert model.prefix_cache.cache is not None  # the frozen LLM's prefix KV cache was used
    for n, p in named.items():
        if n.startswith("connector."):
            continue
        assert p.grad is None and not changed[n], n
    assert any(changed[n] for n in named if n.startswith("connector."))


def test_lora_mode_trains_only_adapters_and_connector(stepped: dict) -> None:
    model, named, changed, _ = stepped["lora"]
    assert model.prefix_cache.cache is None
    llm = {n: p for n, p in named.items() if n.startswith("llm.")}
    assert any("lora_" in n for n in llm)
    for n, p in llm.items():
        if "lora_" in n:
            assert p.requires_grad and p.grad is not None, n
        else:
            assert p.grad is None and not changed[n], n
    assert any(changed[n] for n in named if n.startswith("connector."))


def test_full_mode_trains_every_llm_weight(stepped: dict) -> None:
    model, named, changed, _ = stepped["full"]
    assert model.prefix_cache.cache is None
    llm = {n: p for n, p in named.items() if n.startswith("llm.")}
    assert all(p.requires_grad and p.grad is not None for p in llm.values())
    assert any(changed[n] for n in llm)


def test_modes_start_from_the_same_loss(stepped: dict) -> None:
    losses = [loss for _, _, _, loss in stepped.values()]
    assert losses == pytest.approx([losses[0]] * len(losses), abs=1e-4)

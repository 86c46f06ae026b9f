"""Generation after the cached constant prompt prefix: the same answers as without it."""

from __future__ import annotations

from typing import Any

import torch

from edtformer.llm.generation import generate_from_embeds, prefix_first


def test_prefix_first_layout() -> None:
    emb = torch.arange(2 * 5, dtype=torch.float).reshape(2, 5, 1)  # [B=2, L=5, d=1]
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    out, m = prefix_first(emb, mask, 2)
    assert m.tolist() == [[1, 1, 1, 1, 1], [1, 1, 0, 0, 1]]
    assert out[1, :, 0].tolist() == [5, 6, 0, 0, 7]  # prefix kept, the rest at the right end
    assert torch.equal(out[0], emb[0])


def test_generation_after_the_cached_prefix_is_unchanged(tiny_edt: Any) -> None:
    model = tiny_edt
    questions = [
        "How many rings?",
        "Which functional groups does this molecule have, please?",
        "Is it chiral?",
    ]
    smiles = ["CCO", "c1ccccc1O", "C[C@H](N)C(=O)O"]
    with torch.no_grad():
        msgs = [model.chat_processor.messages(q, 1) for q in questions]
        batch = model.prepare([[s] for s in smiles], msgs, generation=True)
        assert batch.n_prefix > 0 and len(set(batch.attention_mask.sum(1).tolist())) > 1
        emb, _ = model.embed(batch)
        states = model.prefix_cache.states(model.llm, batch.input_ids, batch.n_prefix)
        assert states and states[0][0].shape[2] == batch.n_prefix
        args = (model.llm, model.tokenizer, emb, batch.attention_mask, 12)
        plain = generate_from_embeds(*args, suppress_ids=model.mol_ids.new_ids)
        cached = generate_from_embeds(
            *args, suppress_ids=model.mol_ids.new_ids, prefix_states=states
        )
        one = generate_from_embeds(
            model.llm, model.tokenizer, emb[1:2], batch.attention_mask[1:2], 12,
            suppress_ids=model.mol_ids.new_ids, prefix_states=states,
        )  # fmt: skip
    assert cached == plain
    assert one[0] == plain[1]
    assert model.prefix_cache.states(model.llm, batch.input_ids, 0) == []  # no shared prefix


def test_a_single_prompt_builds_the_cache_from_the_second_on() -> None:
    from edtformer.llm.prefix import PrefixCacheSlot

    class Llm(torch.nn.Module):  # never called: the cache is not built
        training = False

    slot, ids = PrefixCacheSlot(), torch.ones(1, 5, dtype=torch.long)
    with torch.no_grad():
        assert slot.states(Llm(), ids, 3) == []  # the first single prompt: no cache
        assert slot.cache is None

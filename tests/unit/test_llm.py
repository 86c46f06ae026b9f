"""LLM side with a local tiny tokenizer: special tokens, prompt building, merge, loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.fixtures.llm.tiny import TOKENIZER_DIR, make_tiny_llm

from edtformer.errors import EdtError
from edtformer.llm.generation import choice_token_ids, left_pad
from edtformer.llm.loading import load_llm
from edtformer.llm.prompt import IGNORE_INDEX, PromptBuilder, pad_samples
from edtformer.llm.tokens import (
    MoleculeTokenCountError,
    NewTokenEmbedding,
    add_molecule_tokens,
    merge_molecule_tokens,
)


@pytest.fixture()
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(TOKENIZER_DIR)


def test_molecule_tokens_are_single_special_tokens(tokenizer) -> None:
    n = len(tokenizer)
    ids = add_molecule_tokens(tokenizer)
    assert ids.new_ids == (n, n + 1, n + 2)
    assert add_molecule_tokens(tokenizer) == ids  # idempotent
    assert tokenizer.encode("a<mol>b", add_special_tokens=False).count(ids.mol) == 1


def test_prompt_expands_placeholders_and_labels_only_answers(tokenizer) -> None:
    ids = add_molecule_tokens(tokenizer)
    pb = PromptBuilder(tokenizer, ids)
    msgs = pb.messages("Which is the product?", n_molecules=2, answer="Yes.")
    sample = pb.encode(msgs, [3, 5])
    assert sample.input_ids.count(ids.mol) == 8
    assert sample.input_ids.count(ids.start) == 2 and sample.input_ids.count(ids.end) == 2
    # the constant prefix ends right before the first molecule
    assert sample.n_prefix == len(pb.prefix_ids) and sample.input_ids[sample.n_prefix] == ids.start
    labelled = [
        t for t, y in zip(sample.input_ids, sample.labels, strict=True) if y != IGNORE_INDEX
    ]
    assert tokenizer.decode(labelled).startswith("Yes.<|im_end|>")
    with pytest.raises(MoleculeTokenCountError):
        pb.encode(msgs, [3])
    gen = pb.encode(pb.messages("Is it?", 1), [2], add_generation_prompt=True)
    assert all(y == IGNORE_INDEX for y in gen.labels)
    assert tokenizer.decode(gen.input_ids).endswith("<|im_start|>assistant\n")
    ids_t, mask, labels, n_prefix = pad_samples([sample, gen], tokenizer.pad_token_id)
    assert ids_t.shape == mask.shape == labels.shape and n_prefix == sample.n_prefix
    assert int(mask[1].sum()) == len(gen.input_ids)


def test_question_with_explicit_markers_and_smiles_text() -> None:
    assert PromptBuilder.user_text("<mol> + <mol> gives?", 2) == "<mol> + <mol> gives?"
    assert PromptBuilder.user_text("What is it?", 1) == "<mol>\nWhat is it?"
    with pytest.raises(MoleculeTokenCountError):
        PromptBuilder.user_text("<mol> only", 2)
    assert PromptBuilder.smiles_text("<mol>\nQ", ["CCO"]) == "SMILES: CCO\nQ"


def test_merge_places_rows_and_rejects_count_mismatch() -> None:
    emb = torch.zeros(2, 4, 3)
    ids = torch.tensor([[5, 9, 9, 1], [9, 2, 0, 0]])
    feats = torch.arange(9.0).view(3, 3)
    out = merge_molecule_tokens(emb, ids, 9, feats)
    assert (
        out[0, 1].tolist() == [0, 1, 2]
        and out[0, 2].tolist() == [3, 4, 5]
        and out[1, 0].tolist() == [6, 7, 8]
    )
    assert out[0, 0].abs().sum() == 0
    with pytest.raises(
        MoleculeTokenCountError, match="3 <mol> token positions but the bridge produced 2"
    ):
        merge_molecule_tokens(emb, ids, 9, feats[:2])
    with pytest.raises(EdtError):
        merge_molecule_tokens(emb, ids, 9, torch.zeros(3, 7))


def test_new_token_embedding_keeps_base_rows() -> None:
    base = torch.nn.Embedding(10, 4).requires_grad_(False)
    emb = NewTokenEmbedding(base, (10, 11), trainable=True)
    out = emb(torch.tensor([[1, 10, 11, 3]]))
    assert torch.equal(out[0, 0], base.weight[1]) and torch.equal(out[0, 3], base.weight[3])
    assert torch.equal(out[0, 1], emb.rows[0].detach())
    out.sum().backward()
    assert base.weight.grad is None and emb.rows.grad is not None


def test_left_pad_and_choice_ids(tokenizer) -> None:
    emb = torch.arange(12.0).view(2, 3, 2)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    out, m = left_pad(emb, mask)
    assert m.tolist() == [[1, 1, 1], [0, 0, 1]] and out[1, 2].tolist() == emb[1, 0].tolist()
    assert len(choice_token_ids(tokenizer, ["Yes", "No"])) == 2
    with pytest.raises(EdtError, match="share a first token"):
        choice_token_ids(tokenizer, ["Yes", "Yes."])


def test_load_llm_from_local_folder(tmp_path: Path) -> None:
    folder = make_tiny_llm(tmp_path / "tiny")
    model, tok = load_llm(str(folder))
    assert not any(p.requires_grad for p in model.parameters())
    assert tok.chat_template
    with pytest.raises(EdtError, match="could not load the LLM"):
        load_llm(str(tmp_path / "missing"))

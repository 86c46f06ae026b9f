"""EDTFormer end to end with a tiny random Llama, the random encoder and BRICS patches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.errors import CheckpointError, EdtError
from edtformer.llm.tokens import MoleculeTokenCountError
from edtformer.llm.trainable import LoraSettings, TrainableConfig
from edtformer.model import EDTFormer, EDTFormerConfig

SMILES = ["CCO", "c1ccccc1C(=O)O", "CC(C)(C)[Si](C)(C)OC[C@@H]1CC[C@H](O1)n1cnc2c1ncnc2N"]


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llm(tmp_path_factory.mktemp("llm") / "tiny-llama")


def _model(
    llm_dir: Path,
    connector: str = "edt",
    encoders: tuple[str, ...] = ("random",),
    **trainable: object,
) -> EDTFormer:
    torch.manual_seed(0)
    cfg = EDTFormerConfig(
        encoders=encoders,
        llm=str(llm_dir),
        bridge=tiny(connector=connector),
        patch_rule="brics",
        trainable=TrainableConfig(**trainable),  # type: ignore[arg-type]
    )
    return EDTFormer.build(cfg)


def _qa(model: EDTFormer, n: int = 2):
    return model.prepare_qa(
        SMILES[:n], ["Is it an alcohol?"] * n, answers=["Yes.", "No.", "Yes."][:n]
    )


def _step(model: EDTFormer, batch, weight_decay: float = 0.1) -> None:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2, weight_decay=weight_decay)
    model.train()
    loss = model(batch).loss
    assert loss is not None and torch.isfinite(loss)
    loss.backward()
    opt.step()


def test_bridge_trains_and_frozen_parts_get_no_gradient(llm_dir: Path) -> None:
    model = _model(llm_dir)
    counts = model.parameter_counts()
    assert counts.trainable == sum(p.numel() for p in model.connector.parameters())
    frozen_before = {n: p.detach().clone() for n, p in model.llm.named_parameters()}
    bridge_before = {n: p.detach().clone() for n, p in model.connector.named_parameters()}
    _step(model, _qa(model))
    for n, p in model.llm.named_parameters():
        assert p.grad is None and torch.equal(p, frozen_before[n]), n
    for p in model.encoders.parameters():
        assert p.grad is None
    assert model.new_tokens.rows.grad is None
    assert any(not torch.equal(p, bridge_before[n]) for n, p in model.connector.named_parameters())


def test_prefix_cache_gives_the_same_loss(llm_dir: Path) -> None:
    model = _model(llm_dir).eval()
    batch = _qa(model, 3)
    assert batch.n_prefix > 0
    cached = model(batch, use_prefix_cache=True)
    full = model(batch, use_prefix_cache=False)
    torch.testing.assert_close(cached.loss, full.loss, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(cached.logits, full.logits, atol=1e-5, rtol=1e-5)


def test_batch_composition_does_not_change_a_molecules_tokens_or_loss(llm_dir: Path) -> None:
    model = _model(llm_dir).eval()
    alone = model.prepare_qa(SMILES[:1], ["Is it an alcohol?"], answers=["Yes."])
    mixed = model.prepare_qa(
        [SMILES[2], SMILES[0]], ["Is it an alcohol?"] * 2, answers=["No.", "Yes."]
    )
    with torch.no_grad():
        _, b_alone = model.embed(alone)
        _, b_mixed = model.embed(mixed)
        torch.testing.assert_close(b_mixed.unpad()[1], b_alone.unpad()[0], atol=1e-5, rtol=1e-5)
        la = model(alone, return_logits=True).logits
        lm = model(mixed, return_logits=True).logits
    n = la.shape[1]
    torch.testing.assert_close(lm[1, :n], la[0], atol=1e-4, rtol=1e-4)


def test_placeholder_count_mismatch_raises(llm_dir: Path) -> None:
    model = _model(llm_dir)
    batch = _qa(model)
    pos = (batch.input_ids == model.mol_ids.mol).nonzero()[0]
    batch.input_ids[pos[0], pos[1]] = model.tokenizer.pad_token_id
    with pytest.raises(MoleculeTokenCountError, match="molecule tokens"):
        model(batch)


@pytest.mark.parametrize("connector", ["edt", "anchors_only", "dynamic_only", "mlp", "none"])
def test_every_connector_runs_forward_and_backward(llm_dir: Path, connector: str) -> None:
    model = _model(llm_dir, connector=connector)
    batch = _qa(model)
    out = model(batch)
    assert out.loss is not None
    if connector == "none":
        assert batch.molecules is None and model.parameter_counts().trainable == 0
        assert "SMILES: CCO" in model.tokenizer.decode(batch.input_ids[0])
        return
    out.loss.backward()
    assert all(p.grad is not None for p in model.connector.parameters() if p.requires_grad)
    expected = {"edt": 4 + 1, "anchors_only": 4, "dynamic_only": 1, "mlp": 3}[connector]
    assert int(batch.mol_counts[0]) == expected  # CCO: one BRICS fragment, three atoms


def test_fused_encoders(llm_dir: Path) -> None:
    from edtformer.encoders.moleculestm import RandomEncoder
    from edtformer.model.processing import MoleculeProcessor, brics_patcher

    torch.manual_seed(0)
    llm_cfg = EDTFormerConfig(
        encoders=("random", "random"), llm=str(llm_dir), bridge=tiny(), patch_rule="brics"
    )
    proc = MoleculeProcessor(
        [RandomEncoder(width=16, seed=1), RandomEncoder(width=8, seed=2)], brics_patcher
    )
    model = EDTFormer.build(llm_cfg, processor=proc)
    assert model.config.bridge.encoder_widths == (16, 8)
    model(_qa(model)).loss.backward()
    assert model.connector.blender.stream_embed.grad is not None


def test_save_load_round_trip_is_exact(llm_dir: Path, tmp_path: Path) -> None:
    model = _model(llm_dir, new_token_rows_trainable=True).eval()
    _step(model, _qa(model))
    model.eval()
    model.save_pretrained(tmp_path / "ckpt")
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert files == ["README.md", "config.json", "model.safetensors"]  # README: the model card
    loaded = EDTFormer.from_pretrained(tmp_path / "ckpt").eval()
    a, b = model.trained_state_dict(), loaded.trained_state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(k.startswith("llm.") for k in a)  # the frozen LLM is not saved
    with torch.no_grad():
        assert torch.equal(model(_qa(model)).loss, loaded(_qa(loaded)).loss)
    (tmp_path / "bad").mkdir()
    with pytest.raises(CheckpointError):
        EDTFormer.from_pretrained(tmp_path / "bad")


def test_token_rows_option_trains_only_the_new_rows(llm_dir: Path) -> None:
    model = _model(llm_dir, bridge_trainable=False, new_token_rows_trainable=True)
    assert model.parameter_counts().trainable == model.new_tokens.rows.numel()
    emb_before = model.llm.get_input_embeddings().weight.detach().clone()
    rows_before = model.new_tokens.rows.detach().clone()
    _step(model, _qa(model), weight_decay=0.5)
    assert torch.equal(model.llm.get_input_embeddings().weight, emb_before)
    assert not torch.equal(model.new_tokens.rows, rows_before)


def test_lora_trains_only_adapters_and_round_trips(llm_dir: Path, tmp_path: Path) -> None:
    model = _model(llm_dir, bridge_trainable=False, lora=LoraSettings(r=2, alpha=4, dropout=0.0))
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = _qa(model)
    _step(model, batch)
    assert model.prefix_cache.cache is None  # no prefix cache while the LLM trains
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all("lora_" in n for n in changed)
    model.save_pretrained(tmp_path / "lora")
    loaded = EDTFormer.from_pretrained(tmp_path / "lora")
    a, b = model.trained_state_dict(), loaded.trained_state_dict()
    assert any("lora_" in k for k in a) and all(torch.equal(a[k], b[k]) for k in a)


def test_loaded_lora_model_answers_deterministically(llm_dir: Path, tmp_path: Path) -> None:
    """A loaded model is in eval mode (its LoRA dropout layers were injected after the LLM was
    put in eval mode, so without it they would drop), and its answers repeat."""
    model = _model(llm_dir, lora=LoraSettings(r=2, alpha=4, dropout=0.5))
    model.save_pretrained(tmp_path / "lora")
    loaded = EDTFormer.from_pretrained(tmp_path / "lora")
    drops = [m for m in loaded.llm.modules() if isinstance(m, torch.nn.Dropout)]
    assert not loaded.training and drops and not any(m.training for m in drops)
    with torch.no_grad():
        batch = loaded.prepare_qa(SMILES[:2], ["Is it an alcohol?"] * 2, generation=True)
        first = loaded.score(batch, ["Yes", "No"], use_prefix_cache=False).logprobs
        again = loaded.score(batch, ["Yes", "No"], use_prefix_cache=False).logprobs
    assert torch.equal(first, again)


def test_lora_model_uses_the_prefix_cache_at_inference_only(llm_dir: Path) -> None:
    model = _model(llm_dir, lora=LoraSettings(r=2, alpha=4, dropout=0.0))
    batch = model.prepare_qa(SMILES[:2], ["Is it an alcohol?"] * 2, generation=True)
    model.eval()
    assert batch.n_prefix > 0 and model.prefix_cache.cache is None
    with torch.no_grad():
        cached = model.score(batch, ["Yes", "No"]).logprobs
        assert model.prefix_cache.cache is not None  # used at inference
        full = model.score(batch, ["Yes", "No"], use_prefix_cache=False).logprobs
    torch.testing.assert_close(cached, full, atol=1e-5, rtol=1e-5)
    model.train()
    with pytest.raises(EdtError, match="inference only"):
        model(model.prepare_qa(SMILES[:2], ["Q?"] * 2, ["Yes", "No"]), use_prefix_cache=True)
    _step(model, model.prepare_qa(SMILES[:2], ["Is it an alcohol?"] * 2, ["Yes", "No"]))
    model.eval()
    with torch.no_grad():  # the adapters changed: the cache is rebuilt, still exact
        after = model.score(batch, ["Yes", "No"]).logprobs
        after_full = model.score(batch, ["Yes", "No"], use_prefix_cache=False).logprobs
    torch.testing.assert_close(after, after_full, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(after, cached)


def test_score_generate_and_ask(llm_dir: Path) -> None:
    model = _model(llm_dir).eval()
    batch = model.prepare_qa(SMILES[:2], ["Is it an alcohol?"] * 2, generation=True)
    scores = model.score(batch, ["Yes", "No"])
    assert scores.probs.shape == (2, 2)
    torch.testing.assert_close(scores.probs.sum(1), torch.ones(2))
    no_cache = model.score(batch, ["Yes", "No"], use_prefix_cache=False)
    torch.testing.assert_close(scores.logprobs, no_cache.logprobs, atol=1e-5, rtol=1e-5)
    texts = model.generate(batch, max_new_tokens=4)
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
    ans = model.ask("CCO", "What is it?", max_new_tokens=3)
    assert ans.n_molecule_tokens == ans.n_anchor_tokens + ans.n_dynamic_tokens == 5
    follow = model.ask("CCO", "And then?", max_new_tokens=3, history=ans.messages)
    assert len(follow.messages) == len(ans.messages) + 2
    rxn = model.ask(["CCO", "CC(=O)O"], "<mol> reacts with <mol>. Product?", max_new_tokens=2)
    assert rxn.n_anchor_tokens == 8


def test_answer_logprobs_match_the_training_loss_and_batching(llm_dir: Path) -> None:
    model = _model(llm_dir).eval()
    batch = _qa(model, 3)
    both = model.answer_logprobs(batch)  # [3]
    for i in range(3):
        one = model.prepare_qa(
            [SMILES[i]], ["Is it an alcohol?"], answers=[["Yes.", "No.", "Yes."][i]]
        )
        with torch.no_grad():
            out = model(one)
        assert torch.allclose(both[i], -out.loss * out.n_label_tokens, atol=1e-4)


def test_shared_prompt_logprobs_equal_one_prompt_per_option(llm_dir: Path) -> None:
    model = _model(llm_dir).eval()
    questions = [("Is it an alcohol?", ["yes", "no", "perhaps not"]),
                 ("Which functional group does this molecule have, if any?", ["ether", "a", "amine"])]  # fmt: skip
    mols, convs, groups = [], [], []
    for g, (smi, (q, options)) in enumerate(zip(SMILES[1:], questions, strict=True)):
        for opt in options:
            mols.append([smi])
            convs.append(model.prompts.messages(q, 1, opt))
            groups.append(g)
    batch = model.prepare(mols, convs)
    each = model.answer_logprobs(batch)  # [6]: every prompt run in full
    shared = model.shared_prompt_logprobs(batch, groups)
    torch.testing.assert_close(shared, each, atol=1e-4, rtol=1e-4)
    assert len(set(each.tolist())) == 6
    with pytest.raises(EdtError, match="does not share the prompt"):
        model.shared_prompt_logprobs(batch, [0] * 6)
    with pytest.raises(EdtError, match="6 rows"):
        model.shared_prompt_logprobs(batch, [0, 1])


def test_instruction_aware_model_reads_the_question(llm_dir: Path) -> None:
    torch.manual_seed(0)
    cfg = EDTFormerConfig(
        encoders=("random",), llm=str(llm_dir), patch_rule="brics",
        bridge=tiny(instruction_aware=True, token_norm=1.0),
    )  # fmt: skip
    model = EDTFormer.build(cfg).eval()
    a = model.prepare_qa(["CCO"], ["Is it an alcohol?"], generation=True)
    b = model.prepare_qa(["CCO"], ["How many rings does it have?"], generation=True)
    assert a.instruction_ids is not None and a.instruction_mask is not None
    text = model.tokenizer.decode(a.instruction_ids[0][a.instruction_mask[0]])
    assert text.strip() == "Is it an alcohol?"  # the question, without <mol> or template
    with torch.no_grad():
        ta, tb = model.embed(a)[1], model.embed(b)[1]
    assert ta is not None and tb is not None
    assert not torch.allclose(ta.tokens, tb.tokens)
    assert torch.allclose(
        ta.tokens[ta.mask].norm(dim=-1), torch.ones(int(ta.mask.sum())), atol=1e-4
    )
    loss = model(model.prepare_qa(["CCO"], ["Is it an alcohol?"], answers=["Yes."])).loss
    assert loss is not None and torch.isfinite(loss)


def test_ask_many_matches_ask_and_names_bad_rows(llm_dir: Path) -> None:
    from edtformer.errors import EdtError, InvalidSmilesError

    model = _model(llm_dir).eval()
    mols = ["CCO", "C C", "c1ccccc1C(=O)O", ["CCO", "CC(=O)O"]]
    questions = ["What is it?", "What is it?", "What is it?", "<mol> and <mol>: product?"]
    seen: list[int] = []
    out = model.ask_many(mols, questions, max_new_tokens=3, batch_size=2, progress=seen.append)
    assert isinstance(out[1], InvalidSmilesError) and "whitespace" in str(out[1])
    assert sum(seen) == 3  # the bad row never reaches the model
    for mol, q, got in zip(mols, questions, out, strict=True):
        if isinstance(got, EdtError):
            continue
        one = model.ask(mol, q, max_new_tokens=3)
        assert got.answer == one.answer and got.truncated == one.truncated
        assert got.n_molecule_tokens == one.n_molecule_tokens
        assert got.n_dynamic_tokens == one.n_dynamic_tokens
    assert all(a.truncated for a in out if not isinstance(a, EdtError))  # 3 tokens: cut
    same_q = model.ask_many(["CCO", "CCN"], "Is it an alcohol?", max_new_tokens=2)
    assert len(same_q) == 2


def test_model_card_says_only_what_the_folder_records(llm_dir: Path, tmp_path: Path) -> None:
    import json

    from edtformer.model.card import write_model_card

    folder = tmp_path / "m"
    _model(llm_dir).save_pretrained(folder)
    card = (folder / "README.md").read_text()
    assert "# m: an EDT-Former molecule bridge" in card and "arXiv:2602.02742" in card
    assert "No `training.json`" in card and "not evaluated here" in card
    assert "Intended use and limits" in card
    (folder / "training.json").write_text(json.dumps({
        "command": "edt train recipe --seed 3", "seed": 3, "steps": 10, "batch_size": 4,
        "samples": 40, "lr": 0.001, "training_mode": "bridge (frozen LLM)",
        "data": {"dir": "data_out", "split": "train (scaffold split)"},
        "valid_curve_last": {"step": 10, "n_rings_exact": 0.5},
    }))  # fmt: skip
    (folder / "test_eval.json").write_text(json.dumps({"reports": [
        {"task": "struct_text", "split": "test", "n": 12,
         "metrics": {"n_rings/exact_accuracy": 0.25, "n_rings/n": 12}},
    ]}))  # fmt: skip
    card = write_model_card(folder).read_text()
    assert "`edt train recipe --seed 3`" in card and "seed 3, 10 steps x batch 4 = 40" in card
    assert "n_rings_exact 0.500" in card
    assert "| struct_text | test | 12 | n_rings/exact_accuracy | 0.250 |" in card
    assert "n_rings/n |" not in card


def test_from_pretrained_takes_a_hub_id(
    llm_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    folder = tmp_path / "snapshot"
    model = _model(llm_dir).eval()
    model.save_pretrained(folder)
    calls: list[tuple[str, str | None]] = []

    def fake_download(repo_id: str, revision: str | None = None, **kw: object) -> str:
        calls.append((repo_id, revision))
        assert "model.safetensors" in kw["allow_patterns"]  # type: ignore[operator]
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    loaded = EDTFormer.from_pretrained("someone/edt-bridge@v1").eval()
    assert calls == [("someone/edt-bridge", "v1")]
    a, b = model.trained_state_dict(), loaded.trained_state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)

    def offline(repo_id: str, **kw: object) -> str:
        raise OSError("We couldn't connect to 'https://huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(CheckpointError, match="downloading it from the Hugging Face hub failed"):
        EDTFormer.from_pretrained("someone/other-bridge")
    with pytest.raises(CheckpointError):  # neither a folder nor a hub id: a local-path error
        EDTFormer.from_pretrained(tmp_path / "not" / "here")


def test_batched_answering_and_scoring_run_without_gradients(
    llm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(llm_dir).eval()
    seen: list[bool] = []
    real_generate, real_score = model.generate_details, model.score

    def spy_generate(*a: object, **kw: object) -> object:
        seen.append(torch.is_grad_enabled())
        return real_generate(*a, **kw)  # type: ignore[arg-type]

    def spy_score(*a: object, **kw: object) -> object:
        seen.append(torch.is_grad_enabled())
        return real_score(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(model, "generate_details", spy_generate)
    monkeypatch.setattr(model, "score", spy_score)
    model.ask_many(SMILES[:2], "Is it an alcohol?", max_new_tokens=2)
    model.score_many(SMILES[:2], "Is it an alcohol?", ["Yes", "No"])
    assert seen == [False, False]


def test_bf16_storage_halves_the_file_and_loads_back(llm_dir: Path, tmp_path: Path) -> None:
    import json

    from edtformer.model.checkpoint import main as convert_main

    model = _model(llm_dir)
    model.save_pretrained(tmp_path / "fp32")
    (tmp_path / "fp32" / "training.json").write_text(json.dumps({"seed": 0}))
    assert convert_main([str(tmp_path / "fp32"), str(tmp_path / "bf16")]) == 0
    small = (tmp_path / "bf16" / "model.safetensors").stat().st_size
    assert small < 0.6 * (tmp_path / "fp32" / "model.safetensors").stat().st_size
    meta = json.loads((tmp_path / "bf16" / "config.json").read_text())
    assert meta["stored_dtype"] == "bfloat16"
    assert (tmp_path / "bf16" / "training.json").is_file()
    assert not (tmp_path / "bf16" / "test_eval.json").exists()
    back = EDTFormer.from_pretrained(tmp_path / "bf16")
    for name, value in model.trained_state_dict().items():
        got = back.trained_state_dict()[name]
        assert got.dtype == value.dtype  # cast back to the model's dtype
        expected = value.to(torch.bfloat16).to(value.dtype) if value.is_floating_point() else value
        assert torch.equal(got, expected), name


def test_per_answer_loss_weighs_every_prompt_the_same(llm_dir: Path) -> None:
    """``per_answer``: the mean over prompts of each prompt's mean token loss; the default is the
    mean over all answer tokens (a long answer outweighs a short one)."""
    model = _model(llm_dir).eval()
    answers = ["Yes.", "It has one aromatic ring, two ether groups and no stereocentres at all."]
    batch = model.prepare_qa(SMILES[:2], ["Describe it."] * 2, answers=answers)
    with torch.no_grad():
        token = model(batch)
        per = model(batch, per_answer=True)
        ones = [
            model(model.prepare_qa([SMILES[i]], ["Describe it."], answers=[answers[i]]))
            for i in range(2)
        ]
    assert per.loss is not None and token.loss is not None
    want = (ones[0].loss + ones[1].loss) / 2  # type: ignore[operator]
    torch.testing.assert_close(per.loss, want, atol=1e-4, rtol=1e-4)
    n = [o.n_label_tokens for o in ones]
    pooled = (ones[0].loss * n[0] + ones[1].loss * n[1]) / sum(n)  # type: ignore[operator]
    torch.testing.assert_close(token.loss, pooled, atol=1e-4, rtol=1e-4)
    assert n[1] > 3 * n[0] and not torch.allclose(per.loss, token.loss)


def test_soft_answer_target_is_a_cross_entropy_over_yes_and_no(llm_dir: Path) -> None:
    """A :class:`SoftAnswer` prompt's first answer token is scored against (P, 1 - P) over its
    two words' tokens; every other token (and every hard prompt) keeps its label's loss. (The
    tiny tokenizer writes "yes" / "no" in two tokens each, so the pair here is "A" / "B";
    SmolLM2 writes "yes" and "no" as one token each.)"""
    from edtformer.training.questions import SoftAnswer
    from edtformer.training.recipe import RecipeCollator

    model = _model(llm_dir).eval()
    collate = RecipeCollator(model)
    q = "<mol>\nDoes this molecule cross the blood-brain barrier?"
    items = [([SMILES[0]], q, SoftAnswer("A", 0.3, ("A", "B"))), ([SMILES[1]], q, "no")]
    soft = collate(items)
    hard = collate([(s, qq, str(a)) for s, qq, a in items])
    assert hard.soft_yes is None and soft.soft_yes is not None and soft.soft_ids is not None
    assert soft.soft_yes[0].item() == pytest.approx(0.3) and torch.isnan(soft.soft_yes[1])
    yes_id, no_id = soft.soft_ids[0].tolist()
    assert yes_id != no_id
    with torch.no_grad():
        got = model(soft, use_prefix_cache=False)
        ref = model(hard, use_prefix_cache=False, return_logits=True)
        per = model(soft, use_prefix_cache=False, per_answer=True)
        per_ref = model(hard, use_prefix_cache=False, per_answer=True)
    assert got.loss is not None and ref.loss is not None and ref.logits is not None
    target = hard.labels[:, 1:]
    col = int(torch.nonzero(target[0] != -100)[0])
    assert int(target[0, col]) == yes_id  # the drawn answer's own token
    logp = torch.log_softmax(ref.logits[0, col].float(), dim=-1)
    delta = -(0.3 * logp[yes_id] + 0.7 * logp[no_id]) + logp[yes_id]  # soft minus hard term
    n = ref.n_label_tokens
    torch.testing.assert_close(got.loss, ref.loss + delta / n, atol=1e-5, rtol=1e-5)
    n0 = int((target[0] != -100).sum())
    assert per.loss is not None and per_ref.loss is not None
    torch.testing.assert_close(per.loss, per_ref.loss + delta / n0 / 2, atol=1e-5, rtol=1e-5)
    certain = collate([([SMILES[0]], q, SoftAnswer("A", 1.0, ("A", "B")))])
    plain = collate([([SMILES[0]], q, "A")])
    with torch.no_grad():  # P = 1 on the drawn word is its hard label
        torch.testing.assert_close(model(certain).loss, model(plain).loss)
    with pytest.raises(EdtError, match="differ in one answer token"):
        collate([([SMILES[0]], q, SoftAnswer("yes", 0.5))])


def test_model_card_names_the_inference_rules(tmp_path: Path) -> None:
    """The card lists the answer rules its config switches on (and leaves out those it does not)."""
    import json

    from edtformer.model.card import render_model_card

    cfg = {"fact_sheet": True, "decline_unnamed": True, "patch_rule": "combine"}
    (tmp_path / "config.json").write_text(json.dumps({"config": cfg, "format_version": 1}))
    card = render_model_card(tmp_path, "m")
    assert "`decline_unnamed`" in card and "`constrain_lists`" in card
    cfg["constrain_lists"] = False
    (tmp_path / "config.json").write_text(json.dumps({"config": cfg, "format_version": 1}))
    assert "`constrain_lists`" not in render_model_card(tmp_path, "m")

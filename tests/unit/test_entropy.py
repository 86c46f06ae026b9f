"""Next-Atom Predictor: RDKit-aligned tokens, batched scoring, checkpoints, training smoke test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from rdkit import Chem
from tests.conftest import TRICKY_SMILES

from edtformer.chem import parse_smiles
from edtformer.entropy import (
    AtomVocab,
    EntropyScorer,
    NextAtomConfig,
    NextAtomPredictor,
    atom_contexts,
    atom_tokens,
    encode_mol,
    entropy_bits,
    load_entropy_model,
    save_entropy_model,
)
from edtformer.entropy.tokens import N_CONTEXT, UNK_ID
from edtformer.errors import CheckpointError, InvalidShapeError

CORPUS = [s for s, _ in TRICKY_SMILES] + [
    "CC(=O)Oc1ccccc1C(=O)O",
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "C1=CC=C(C=C1)C[C@@H](C(=O)O)N",
    "O=C([O-])c1ccccc1",
]


def tiny_scorer(max_len: int = 32, seed: int = 0) -> EntropyScorer:
    """A randomly initialised tiny model over the tokens of ``CORPUS``."""
    torch.manual_seed(seed)
    vocab = AtomVocab.build((atom_tokens(Chem.MolFromSmiles(s)) for s in CORPUS), min_count=1)
    cfg = NextAtomConfig.tiny(len(vocab))
    cfg.max_len = max_len
    return EntropyScorer(NextAtomPredictor(cfg), vocab, max_batch_tokens=256)


def test_tokens_one_per_rdkit_atom(tricky: tuple[str, int]) -> None:
    smiles, n = tricky
    mol = Chem.MolFromSmiles(smiles)
    assert len(atom_tokens(mol)) == n
    ctx = atom_contexts(mol)
    assert ctx.shape == (n,) and ctx.min() >= 1 and ctx.max() < N_CONTEXT


def test_tokens_are_chemistry_aware() -> None:
    toks = atom_tokens(Chem.MolFromSmiles("C[C@H](N)C(=O)[O-].[K+].c1cc[nH]c1.[2H]O"))
    assert toks[:6] == ["C", "[C@H]", "N", "C", "O", "[O-]"]
    assert "[K+]" in toks and "[nH]" in toks and "[2H]" in toks
    assert atom_tokens(Chem.MolFromSmiles("[CH3:7]O")) == ["C", "O"]  # atom maps dropped


def test_unknown_tokens_back_off_then_unk() -> None:
    vocab = AtomVocab([*AtomVocab().tokens, "C", "N", "O"])
    enc = encode_mol(Chem.MolFromSmiles("C[C@H](N)C(=O)[O-].[Ti]"), vocab)
    assert [vocab.tokens[i] for i in enc.ids] == ["C", "C", "N", "C", "O", "O", "<unk>"]
    assert enc.n_backoff == 2 and enc.n_unknown == 1
    assert enc.ids[-1] == UNK_ID


def test_scores_have_one_value_per_atom(tricky: tuple[str, int]) -> None:
    smiles, n = tricky
    [h] = tiny_scorer().score([parse_smiles(smiles)])
    assert h.shape == (n,) and h.dtype == np.float32
    assert np.isfinite(h).all() and (h >= 0).all()


def test_batch_equals_one_at_a_time() -> None:
    scorer = tiny_scorer()
    records = [parse_smiles(s) for s in CORPUS]
    batched = scorer.score(records)
    for rec, h in zip(records, batched, strict=True):
        np.testing.assert_allclose(scorer.score_one(rec), h, atol=1e-5)


def test_accepts_rdkit_mols_and_records_alike() -> None:
    scorer = tiny_scorer()
    a = scorer.score([Chem.MolFromSmiles("CCO")])[0]
    b = scorer.score([parse_smiles("CCO")])[0]
    np.testing.assert_array_equal(a, b)


def test_sliding_window_beyond_trained_length() -> None:
    scorer = tiny_scorer(max_len=16)  # window of 15 atoms
    long = parse_smiles("C" * 40 + "O" + "c1ccccc1" * 1)
    [h] = scorer.score([long])
    assert h.shape == (long.n_atoms,) and np.isfinite(h).all()
    # the first window is an ordinary forward pass
    enc = scorer.encode([long])[0]
    ids = torch.tensor([[1, *enc.ids[:15].tolist()]])
    ctx = torch.tensor([[0, *enc.ctx[:15].tolist()]])
    with torch.inference_mode():
        ref = entropy_bits(scorer.model(ids, ctx))[0, 1:].numpy()
    np.testing.assert_allclose(h[:15], ref, atol=1e-5)


def test_model_rejects_too_long_and_bad_shapes() -> None:
    model = tiny_scorer(max_len=8).model
    with pytest.raises(InvalidShapeError):
        model(torch.ones(1, 9, dtype=torch.long), torch.ones(1, 9, dtype=torch.long))
    with pytest.raises(InvalidShapeError):
        model(torch.ones(1, 4, dtype=torch.long), torch.ones(1, 3, dtype=torch.long))


def test_entropy_bits_of_uniform_is_log2_v() -> None:
    assert float(entropy_bits(torch.zeros(8))) == pytest.approx(3.0)
    assert float(entropy_bits(torch.tensor([0.0, float("-inf")]))) == pytest.approx(0.0)


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    scorer = tiny_scorer()
    save_entropy_model(tmp_path / "m", scorer.model, scorer.vocab, {"note": "x"})
    ckpt = load_entropy_model(tmp_path / "m")
    assert ckpt.vocab.tokens == scorer.vocab.tokens and ckpt.metadata == {"note": "x"}
    for a, b in zip(
        scorer.model.state_dict().values(), ckpt.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["format_version"] = 99
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="format_version"):
        load_entropy_model(tmp_path / "m")
    with pytest.raises(CheckpointError):
        load_entropy_model(tmp_path / "missing")


def test_training_smoke(tmp_path: Path) -> None:
    from edtformer.entropy.train import EntropyTrainConfig, train_entropy_model

    smi = tmp_path / "train.smi"
    smi.write_text("\n".join(CORPUS * 8) + "\nnot_a_smiles\n")
    cfg = EntropyTrainConfig(
        out=str(tmp_path / "model"),
        train_file=str(smi),
        n_train=None,
        n_val=10,
        batch_size=16,
        warmup_steps=2,
        checkpoint_every=3,
        min_token_count=1,
        model=NextAtomConfig.tiny(),
    )
    steps: list[int] = []
    meta = train_entropy_model(cfg, progress=lambda s, t, loss: steps.append(s))
    assert steps == list(range(1, len(steps) + 1)) and meta["complete"]
    assert meta["validation"]["bits_per_token"] > 0
    ckpt = load_entropy_model(tmp_path / "model")
    assert ckpt.metadata["step"] == len(steps)


def test_shipped_model_loads_once_and_beats_unigram() -> None:
    from edtformer.entropy import default_model_dir, load_default_scorer
    from edtformer.entropy.checkpoint import checkpoint_size_bytes
    from edtformer.entropy.corpus import moses_path, read_smiles_file
    from edtformer.entropy.train import evaluate_on_smiles

    scorer = load_default_scorer()
    assert load_default_scorer() is scorer  # cached: loaded once per process
    assert checkpoint_size_bytes(default_model_dir()) <= 5_000_000
    assert 300_000 <= scorer.model.num_parameters() <= 700_000
    meta = scorer.metadata
    assert meta["validation"]["bits_per_token"] < meta["validation"]["unigram_bits_per_token"]
    sample = read_smiles_file(moses_path("test"))[::1000][:150]  # held out from training
    result = evaluate_on_smiles(
        scorer.model, scorer.vocab, sample, np.asarray(meta["unigram_log2p"])
    )
    assert result["bits_per_token"] < 0.7 * result["unigram_bits_per_token"]


def test_config_activation_and_legacy_default() -> None:
    data = NextAtomConfig.tiny().to_dict()
    assert data["activation"] == "gelu"
    del data["activation"]
    assert NextAtomConfig.from_dict(data).activation == "gelu_tanh"  # format-1 files before it
    with pytest.raises(ValueError, match="activation"):
        NextAtomPredictor(NextAtomConfig(activation="relu"))

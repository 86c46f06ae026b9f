"""``unimol``: the architecture against the official forward, the loader, the encoder's invariants.

Weights are synthetic, written in the official checkpoint layout (``{"args", "model"}`` with
Uni-Mol's key names) with a tiny config (2 layers, width 16, 4 heads).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from edtformer.chem import parse_smiles
from edtformer.encoders import encode_streams, get_encoder, list_encoders
from edtformer.encoders.conformers import Conformers
from edtformer.encoders.unimol import UniMolEncoder, run_padded, unimol_inputs
from edtformer.encoders.unimol_checkpoint import (
    CHECKPOINT_ENV,
    CHECKPOINT_FILE,
    config_from_state,
    load_unimol,
    save_official_layout,
)
from edtformer.encoders.unimol_model import UNIMOL_MOL_DICT, UniMolConfig, UniMolModel
from edtformer.errors import CheckpointError, UnsupportedMoleculeError

#: The user's real checkpoint, read before the autouse fixture clears the variable.
REAL_CHECKPOINT = os.environ.get(CHECKPOINT_ENV)
MOLS = ["OCC(C)N", "c1ccccc1O", "C[C@H](N)C(=O)O", "CC(=O)Oc1ccccc1C(=O)O"]


def _random_model(seed: int = 0) -> UniMolModel:
    gen = torch.Generator().manual_seed(seed)
    model = UniMolModel(UniMolConfig.tiny())
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=gen))  # pair-type affine not identity
    return model


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)


@pytest.fixture
def ckpt(tmp_path: Path) -> Path:
    return save_official_layout(_random_model(), tmp_path / "mol_pre_no_h_tiny.pt")


@pytest.fixture
def encoder(ckpt: Path) -> UniMolEncoder:
    enc = get_encoder("unimol", checkpoint=ckpt, n_conformers=2)
    assert isinstance(enc, UniMolEncoder)
    return enc


def _formula_state(model: UniMolModel) -> dict[str, torch.Tensor]:
    """Weights from a formula (no RNG), shared with the script that ran the official code."""
    out = {}
    for k, (name, t) in enumerate(sorted(model.state_dict().items())):
        x = torch.sin(torch.arange(t.numel(), dtype=torch.float64) * 0.7 + k).reshape(t.shape)
        if name.endswith("norm.weight"):
            x = 1.0 + 0.1 * x
        elif name.startswith("gbf.means"):
            x = 1.5 + 1.4 * x
        elif name.startswith("gbf.stds"):
            x = 1.0 + 0.5 * x
        elif name.startswith("gbf.mul"):
            x = 1.0 + 0.2 * x
        else:
            x = 0.3 * x
        out[name] = x.to(torch.float32)
    return out


def test_forward_matches_the_official_implementation() -> None:
    # Golden rows computed by Uni-Mol's own UniMolModel (+ Uni-Core's TransformerEncoderLayer,
    # softmax without the fused kernel) on these weights and inputs; K = 8 kernels.
    model = UniMolModel(UniMolConfig.tiny())
    model.load_state_dict(_formula_state(model))
    tokens = torch.tensor([[1, 4, 6, 5, 9, 2, 0]])  # [CLS] C O N F [SEP] [PAD]
    xyz = [[-1.2, 0.1, 0.0], [0.0, 0.8, 0.3], [1.1, -0.5, -0.2], [0.1, -0.4, -0.1]]
    coords = torch.tensor([[[0.0] * 3, *xyz, [0.0] * 3, [0.0] * 3]])
    out = model(tokens, coords)[0]  # [T, D]
    row1 = [0.36681, 0.95957, -1.35700, 0.91211, -0.10862, -0.15412, -1.33851, -1.51933,
            1.46260, 0.28697, 1.16876, -1.22501, 0.30743, 0.33798, -0.49593, -0.66246]  # fmt: skip
    row4 = [0.41198, 0.52608, -1.24632, 0.88811, 0.59748, -0.16933, -1.52583, -1.72343,
            1.26285, 0.47939, 0.73243, -1.13636, 0.27977, 0.93330, -0.29048, -0.98882]  # fmt: skip
    torch.testing.assert_close(out[1], torch.tensor(row1), atol=1e-4, rtol=0)
    torch.testing.assert_close(out[4], torch.tensor(row4), atol=1e-4, rtol=0)


def test_dictionary_is_the_official_one() -> None:
    assert UNIMOL_MOL_DICT[:8] == ("[PAD]", "[CLS]", "[SEP]", "[UNK]", "C", "N", "O", "S")
    assert UNIMOL_MOL_DICT[-2:] == ("Li", "[MASK]") and len(UNIMOL_MOL_DICT) == 31
    shapes = {k: tuple(v.shape) for k, v in UniMolModel(UniMolConfig.paper()).state_dict().items()}
    assert shapes["embed_tokens.weight"] == (31, 512)
    assert shapes["gbf.mul.weight"] == (961, 1) and shapes["gbf.means.weight"] == (1, 128)
    assert shapes["gbf_proj.linear2.weight"] == (64, 128)
    assert shapes["encoder.layers.14.self_attn.in_proj.weight"] == (1536, 512)
    assert shapes["encoder.layers.14.fc1.weight"] == (2048, 512)
    assert "encoder.layers.15.fc1.weight" not in shapes


def test_shapes_mask_and_padding(encoder: UniMolEncoder) -> None:
    records = [parse_smiles(s) for s in MOLS]
    nf = encoder.encode(records)
    assert nf.h.shape == (4, 13, 16) and nf.n_atoms == [r.n_atoms for r in records]
    assert torch.all(nf.h[~nf.mask] == 0) and torch.isfinite(nf.h).all()
    alone = encoder.encode([records[0]]).h[0]  # batch-mates and padding change nothing
    torch.testing.assert_close(nf.h[0, : records[0].n_atoms], alone, atol=1e-5, rtol=0)


def test_padding_tokens_change_nothing() -> None:
    model = _random_model().eval()
    tokens = torch.tensor([1, 4, 6, 5, 2])
    coords = torch.randn(5, 3)
    one = run_padded(model, [(tokens, coords)], max_pairs=1 << 16)[0]
    padded = model(torch.cat([tokens, torch.zeros(3, dtype=torch.long)])[None],
                   torch.cat([coords, torch.randn(3, 3)])[None])[0]  # fmt: skip
    torch.testing.assert_close(padded[:5], one, atol=1e-5, rtol=0)


def test_rows_follow_rdkit_input_order(encoder: UniMolEncoder) -> None:
    a, b = (encoder.encode_one(parse_smiles(s)) for s in ("OCC(C)N", "NC(C)CO"))
    # OCC(C)N = O0 C1 C2 C3 N4; NC(C)CO = N0 C1 C2(methyl) C3 O4
    torch.testing.assert_close(a, b[[4, 3, 1, 2, 0]], atol=1e-5, rtol=0)
    assert not torch.allclose(a[0], a[4])  # O and N rows differ


def test_invariant_to_rotation_and_translation() -> None:
    model = _random_model().eval()
    record = parse_smiles("C[C@H](N)C(=O)O")
    from rdkit import Chem

    mol_h = Chem.AddHs(record.mol)
    xyz = np.random.default_rng(0).normal(size=(1, mol_h.GetNumAtoms(), 3)).astype(np.float32)
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(3, 3)))
    moved = (xyz @ q.T + np.array([3.0, -7.0, 11.0])).astype(np.float32)
    for hydrogens in (False, True):
        x0 = unimol_inputs(record, Conformers(mol_h, xyz, "etkdg"), hydrogens)
        x1 = unimol_inputs(record, Conformers(mol_h, moved, "etkdg"), hydrogens)
        h0 = model(x0.tokens[None], x0.coords)[0]
        h1 = model(x1.tokens[None], x1.coords)[0]
        torch.testing.assert_close(h0, h1, atol=1e-4, rtol=0)
    assert len(x0.tokens) == mol_h.GetNumAtoms() + 2  # all-H mode sees every atom


def test_deterministic_for_a_fixed_seed(ckpt: Path) -> None:
    records = [parse_smiles(s) for s in MOLS[:2]]
    one = get_encoder("unimol", checkpoint=ckpt, n_conformers=2, seed=7).encode(records).h
    two = get_encoder("unimol", checkpoint=ckpt, n_conformers=2, seed=7).encode(records).h
    other = get_encoder("unimol", checkpoint=ckpt, n_conformers=2, seed=8).encode(records).h
    assert torch.equal(one, two) and not torch.equal(one, other)


def test_cache_version_names_the_conformer_settings(ckpt: Path, encoder: UniMolEncoder) -> None:
    v = encoder.info.version
    assert "etkdgv3-n2-s42-mmff200" in v and "no_h" in v and encoder.width == 16
    assert get_encoder("unimol", checkpoint=ckpt, n_conformers=3).info.version != v
    assert get_encoder("unimol", checkpoint=ckpt, n_conformers=2, mmff=False).info.version != v


def test_tricky_molecules_get_their_rows_or_a_named_error(
    encoder: UniMolEncoder, tricky: tuple[str, int]
) -> None:
    smiles, n_atoms = tricky
    record = parse_smiles(smiles)
    if smiles == "[H][H]":  # nothing heavy for the no-H model
        with pytest.raises(UnsupportedMoleculeError, match="no heavy atom"):
            encoder.encode([record])
        return
    h = encoder.encode([record]).h[0]
    assert h.shape == (n_atoms, 16) and torch.isfinite(h).all()


def test_deuterium_takes_its_carbons_row_and_atom_cap(ckpt: Path, encoder: UniMolEncoder) -> None:
    h = encoder.encode_one(parse_smiles("[2H]C([2H])O"))
    assert torch.equal(h[0], h[1]) and torch.equal(h[2], h[1])
    small = get_encoder("unimol", checkpoint=ckpt, n_conformers=1, max_tokens=5)
    with pytest.raises(UnsupportedMoleculeError, match="max_tokens=5"):
        small.encode([parse_smiles("CCCCCC")])


def test_all_h_checkpoint_feeds_hydrogens(tmp_path: Path) -> None:
    path = save_official_layout(_random_model(), tmp_path / "mol_pre_all_h_tiny.pt")
    enc = get_encoder("unimol", checkpoint=path, n_conformers=1)
    assert isinstance(enc, UniMolEncoder) and enc.hydrogens and "all_h" in enc.info.version
    record = parse_smiles("[H][H]")
    assert enc.inputs(record).tokens.tolist() == [1, 8, 8, 2]
    assert enc.encode([record]).h.shape == (1, 2, 16)


def test_fuses_with_another_stream(encoder: UniMolEncoder) -> None:
    records = [parse_smiles(s) for s in MOLS[:3]]
    streams = encode_streams(records, ["random", encoder])
    assert [s.width for s in streams] == [64, 16]
    assert torch.equal(streams[0].mask, streams[1].mask)


# -- loader -------------------------------------------------------------------------------------
def test_environment_variable_and_conversion_cache(
    ckpt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(CHECKPOINT_ENV, str(ckpt))
    caplog.set_level(logging.INFO, "edtformer.encoders.unimol_checkpoint")
    first = get_encoder("unimol", n_conformers=1)  # what --encoder minimol,unimol builds
    converted = list((tmp_path / "cache" / "unimol").glob("*.safetensors"))
    assert len(converted) == 1 and "converted" in caplog.text
    caplog.clear()
    second = get_encoder("unimol", n_conformers=1)
    assert "from the conversion" in caplog.text
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    original = torch.load(ckpt, weights_only=False)["model"]
    assert torch.equal(
        first.state_dict()["model.embed_tokens.weight"], original["embed_tokens.weight"]
    )


def test_no_checkpoint_names_the_file_and_where_to_put_it(tmp_path: Path) -> None:
    for kwargs in ({}, {"checkpoint": tmp_path / "nope.pt"}):
        with pytest.raises(CheckpointError) as err:
            get_encoder("unimol", **kwargs)
        msg = str(err.value)
        assert CHECKPOINT_FILE in msg and CHECKPOINT_ENV in msg and "checkpoint=" in msg
        assert "github.com/deepmodeling/Uni-Mol/releases" in msg
    info = {i.name: i for i in list_encoders()}["unimol"]
    assert "needs the official checkpoint" in info.source and info.width == 512


def test_wrong_key_is_one_error_naming_it(tmp_path: Path) -> None:
    state = _random_model().state_dict()
    state["encoder.layers.1.fc3.weight"] = state.pop("encoder.layers.1.fc1.weight")
    path = tmp_path / "bad.pt"
    torch.save({"args": argparse.Namespace(), "model": state}, path)
    with pytest.raises(CheckpointError) as err:
        load_unimol(path)
    msg = str(err.value)
    assert "unknown keys: encoder.layers.1.fc3.weight" in msg
    assert "missing keys: encoder.layers.1.fc1.weight" in msg


def test_wrong_shape_and_not_a_unimol_file(tmp_path: Path) -> None:
    state = _random_model().state_dict()
    state["encoder.layers.0.fc2.weight"] = torch.zeros(16, 31)
    torch.save({"model": state}, tmp_path / "shape.pt")
    with pytest.raises(
        CheckpointError, match=r"wrong shapes: encoder.layers.0.fc2.weight \(16, 31\)"
    ):
        load_unimol(tmp_path / "shape.pt")
    torch.save({"model": {"x": torch.zeros(1)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a Uni-Mol checkpoint"):
        load_unimol(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="could not read"):
        load_unimol(tmp_path / "junk.pt")


class TrainingMeter:
    """Stands for the training state a Uni-Core checkpoint pickles beside the weights."""

    def __init__(self) -> None:
        self.total = 3.0


def test_unknown_pickled_classes_are_read_inert(tmp_path: Path) -> None:
    model = _random_model()
    path = tmp_path / "with_state.pt"
    torch.save({"model": model.state_dict(), "extra_state": {"meter": TrainingMeter()}}, path)
    loaded, digest = load_unimol(path)
    assert len(digest) == 64 and config_from_state(model.state_dict()) == UniMolConfig.tiny()
    for a, b in zip(loaded.state_dict().values(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_CHECKPOINT, reason=f"set {CHECKPOINT_ENV} to {CHECKPOINT_FILE}")
def test_real_checkpoint() -> None:
    enc = get_encoder("unimol", checkpoint=REAL_CHECKPOINT, n_conformers=2)
    assert isinstance(enc, UniMolEncoder) and enc.model.config == UniMolConfig.paper()
    records = [parse_smiles(s) for s in MOLS]
    nf = enc.encode(records)
    assert nf.h.shape[-1] == 512 and torch.isfinite(nf.h).all()
    a, b = (enc.encode_one(parse_smiles(s)) for s in ("OCC(C)N", "NC(C)CO"))
    torch.testing.assert_close(a, b[[4, 3, 1, 2, 0]], atol=1e-4, rtol=0)

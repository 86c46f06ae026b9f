"""Encoder interface, registry, random and GIN encoders: alignment, batching, loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tests.conftest import TRICKY_SMILES

from edtformer.chem import parse_smiles
from edtformer.encoders import (
    DEFAULT_ENCODER,
    GraphEncoder,
    MultiEncoder,
    NodeFeatures,
    encode_many,
    encode_streams,
    get_encoder,
    list_encoders,
)
from edtformer.encoders.gin import GIN
from edtformer.errors import CheckpointError, EdtError, InvalidShapeError


@pytest.fixture(scope="module")
def random_enc() -> GraphEncoder:
    return get_encoder("random")


def test_registry_lists_known_encoders() -> None:
    names = {i.name for i in list_encoders()}
    assert {"minimol", "gin", "chemprop", "random"} <= names
    assert DEFAULT_ENCODER == "minimol"
    infos = {i.name: i for i in list_encoders()}
    assert infos["minimol"].pretrained
    assert not any("BBB" in t for t in infos["minimol"].trained_on)
    assert any("BBB" in t for t in infos["chemprop"].trained_on)


def test_unknown_encoder_lists_names() -> None:
    with pytest.raises(EdtError, match=r"known encoders: .*random"):
        get_encoder("nope")


def test_random_rows_equal_atoms(random_enc: GraphEncoder, tricky: tuple[str, int]) -> None:
    smiles, n = tricky
    nf = random_enc.encode([parse_smiles(smiles)])
    assert nf.h.shape == (1, n, random_enc.width)
    assert nf.mask.sum().item() == n


def test_random_is_frozen_and_deterministic() -> None:
    a, b = get_encoder("random", seed=1), get_encoder("random", seed=1)
    c = get_encoder("random", seed=2)
    r = [parse_smiles("CC(=O)Oc1ccccc1C(=O)O")]
    assert torch.equal(a.encode(r).h, b.encode(r).h)
    assert not torch.equal(a.encode(r).h, c.encode(r).h)
    a.train()
    assert not a.training
    assert all(not p.requires_grad for p in a.parameters())
    assert a.info.version != c.info.version


def test_batch_equals_single(random_enc: GraphEncoder) -> None:
    records = [parse_smiles(s) for s, _ in TRICKY_SMILES]
    batch = random_enc.encode(records)
    for b, r in enumerate(records):
        single = random_enc.encode([r]).h[0]
        torch.testing.assert_close(batch.h[b, : r.n_atoms], single, rtol=1e-5, atol=1e-5)
        assert not batch.h[b, r.n_atoms :].any()


def test_atom_order_follows_input_smiles(random_enc: GraphEncoder) -> None:
    """Same molecule written two ways: rows permute exactly like RDKit atoms do."""
    a, b = parse_smiles("OCC(C)N"), parse_smiles("CC(N)CO")
    ha, hb = random_enc.encode_one(a), random_enc.encode_one(b)
    match = b.mol.GetSubstructMatch(a.mol)  # atom i of a -> atom match[i] of b
    torch.testing.assert_close(ha, hb[list(match)], rtol=1e-5, atol=1e-5)


def test_streams_share_mask(random_enc: GraphEncoder) -> None:
    records = [parse_smiles(s) for s in ("CCO", "c1ccccc1", "[Na+]")]
    other = get_encoder("random", width=8, seed=5)
    streams = encode_streams(records, [random_enc, other])
    assert [s.width for s in streams] == [64, 8]
    assert torch.equal(streams[0].mask, streams[1].mask)
    multi = MultiEncoder([random_enc, other])
    assert multi.widths == [64, 8]
    assert torch.equal(multi.encode(records)[1].h, streams[1].h)


def test_node_features_validate_shapes() -> None:
    with pytest.raises(InvalidShapeError):
        NodeFeatures(h=torch.zeros(2, 3), mask=torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(InvalidShapeError):
        NodeFeatures(h=torch.zeros(2, 3, 4), mask=torch.ones(2, 4, dtype=torch.bool))


def test_encode_many_reports_bad_molecules(random_enc: GraphEncoder) -> None:
    class Picky(type(random_enc)):  # type: ignore[misc]
        def check(self, record):  # type: ignore[no-untyped-def]
            from edtformer.errors import UnsupportedMoleculeError

            if "Cl" in record.symbols:
                raise UnsupportedMoleculeError(record.smiles, "no chlorine")

    picky = Picky()
    records = [parse_smiles(s) for s in ("CCO", "CCCl", "c1ccccc1")]
    out = encode_many(picky, records, batch_size=2)
    assert isinstance(out[1], EdtError) and "chlorine" in str(out[1])
    assert isinstance(out[0], torch.Tensor) and out[0].shape == (3, 64)
    assert isinstance(out[2], torch.Tensor) and out[2].shape == (6, 64)


# --- GIN with MoleculeSTM key names -------------------------------------------------------


def _moleculestm_state_dict(tmp_path: Path, chirality_rows: int = 4) -> tuple[Path, GIN]:
    """Write a state dict in MoleculeSTM's GNN_graphpred layout (as ``torch.save`` would)."""
    torch.manual_seed(0)
    atom_dims = [119, chirality_rows, 12, 12, 10, 6, 6, 2, 2]
    ref = GIN(num_layer=5, emb_dim=300, atom_dims=atom_dims, bond_dims=[5, 6, 2])
    for bn in ref.batch_norms:  # non-trivial running stats, as after training
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
    state = {f"molecule_node_model.{k}": v for k, v in ref.state_dict().items()}
    state["graph_pred_linear.weight"] = torch.zeros(1, 300)
    state["graph_pred_linear.bias"] = torch.zeros(1)
    path = tmp_path / "molecule_model.pth"
    torch.save(state, path)
    return path, ref.eval()


def test_gin_loads_moleculestm_state_dict(tmp_path: Path) -> None:
    path, ref = _moleculestm_state_dict(tmp_path)
    keys = torch.load(path, weights_only=True).keys()
    assert "molecule_node_model.gnns.4.bond_encoder.bond_embedding_list.2.weight" in keys
    assert "molecule_node_model.atom_encoder.atom_embedding_list.8.weight" in keys
    assert "molecule_node_model.batch_norms.0.running_var" in keys
    enc = get_encoder("gin", checkpoint=path)
    assert enc.width == 300 and enc.info.pretrained
    r = parse_smiles("C[C@H](N)C(=O)O")
    x = torch.from_numpy(r.x[:, :9])
    want = ref(x, torch.from_numpy(r.edge_index), torch.from_numpy(r.edge_attr[:, :3]))
    torch.testing.assert_close(enc.encode_one(r), want)
    # chirality "misc" (index 4) falls back to the last row of a 4-row table
    assert enc.encode([parse_smiles(s) for s, _ in TRICKY_SMILES]).h.isfinite().all()


def test_gin_bad_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="needs a MoleculeSTM checkpoint"):
        get_encoder("gin")
    with pytest.raises(CheckpointError, match="not found"):
        get_encoder("gin", checkpoint=tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"foo": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="not a MoleculeSTM GIN"):
        get_encoder("gin", checkpoint=bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="could not read"):
        get_encoder("gin", checkpoint=junk)

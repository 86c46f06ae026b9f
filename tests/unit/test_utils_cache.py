"""The on-disk cache of derived files: reused when valid, rebuilt when stale or corrupt, atomic."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from edtformer.utils.cache import cache_root, cached_bytes, record_path

KEY = {"package": "thing 1.0", "edit": "v1"}


class Builder:
    """A ``build`` callable that counts its calls."""

    def __init__(self, data: bytes = b"derived bytes") -> None:
        self.data = data
        self.calls = 0

    def __call__(self) -> bytes:
        self.calls += 1
        return self.data


def _refuse() -> bytes:
    raise AssertionError("a valid cache entry must not be rebuilt")


def test_cache_root_follows_edt_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDT_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("EDT_CACHE")
    assert cache_root() == Path.home() / ".cache" / "edtformer"


def test_first_call_builds_and_later_calls_read(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "graph.onnx"
    build = Builder()
    assert cached_bytes(path, KEY, build) == b"derived bytes" and build.calls == 1
    assert path.read_bytes() == b"derived bytes"
    record = json.loads(record_path(path).read_text())
    assert record["key"] == KEY and record["size"] == len(b"derived bytes")
    assert cached_bytes(path, KEY, _refuse) == b"derived bytes"


def test_stale_entry_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "graph.onnx"
    cached_bytes(path, KEY, Builder(b"old"))
    build = Builder(b"new")
    assert cached_bytes(path, {**KEY, "package": "thing 2.0"}, build) == b"new"
    assert build.calls == 1 and path.read_bytes() == b"new"
    assert cached_bytes(path, {**KEY, "package": "thing 2.0"}, _refuse) == b"new"


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(b"derived bytez"), id="flipped-byte"),
        pytest.param(lambda p: p.write_bytes(b"derived"), id="truncated"),
        pytest.param(lambda p: p.unlink(), id="data-missing"),
        pytest.param(lambda p: record_path(p).write_text("{not json"), id="record-not-json"),
        pytest.param(lambda p: record_path(p).write_text("[]"), id="record-not-object"),
        pytest.param(lambda p: record_path(p).unlink(), id="record-missing"),
    ],
)
def test_corrupt_entry_is_rebuilt(tmp_path: Path, damage: Callable[[Path], object]) -> None:
    path = tmp_path / "graph.onnx"
    cached_bytes(path, KEY, Builder())
    damage(path)
    build = Builder()
    assert cached_bytes(path, KEY, build) == b"derived bytes" and build.calls == 1
    assert path.read_bytes() == b"derived bytes"
    assert cached_bytes(path, KEY, _refuse) == b"derived bytes"


def test_failed_build_writes_nothing(tmp_path: Path) -> None:
    def broken() -> bytes:
        raise RuntimeError("edit failed")

    with pytest.raises(RuntimeError, match="edit failed"):
        cached_bytes(tmp_path / "graph.onnx", KEY, broken)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_the_old_entry_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "graph.onnx"
    cached_bytes(path, KEY, Builder(b"old"))

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # the writer dies after writing the temporary file

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        cached_bytes(path, {**KEY, "edit": "v2"}, Builder(b"new, longer bytes"))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.onnx", "graph.onnx.json"]
    assert cached_bytes(path, KEY, _refuse) == b"old"  # the old pair is still valid


def test_unwritable_cache_still_gives_the_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def read_only(*args: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr("edtformer.utils.cache.atomic_write_bytes", read_only)
    build = Builder()
    assert cached_bytes(tmp_path / "graph.onnx", KEY, build) == b"derived bytes"
    assert build.calls == 1 and "could not cache" in caplog.text

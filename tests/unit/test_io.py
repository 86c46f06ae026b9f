"""Atomic writes: usual permissions, and temporaries of killed writers cleaned up."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from edtformer.utils.io import atomic_dir, atomic_write_text, remove_stale_temps


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_outputs_get_umask_permissions_not_private_ones(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        f = atomic_write_text(tmp_path / "report.json", "{}")
        with atomic_dir(tmp_path / "model") as d:
            (d / "w.bin").write_bytes(b"x")
    finally:
        os.umask(old)
    assert _mode(f) == 0o644
    assert _mode(tmp_path / "model") == 0o755


def test_temporaries_of_a_dead_writer_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    stale_dir = tmp_path / f".data.{dead}.abc123.tmp"
    stale_dir.mkdir()
    (stale_dir / "half.csv").write_text("x")
    stale_old = tmp_path / f".data.old.{dead}"
    stale_old.mkdir()
    live = tmp_path / f".data.{os.getpid()}.zzz.tmp"  # a writer that still runs: kept
    live.mkdir()
    other = tmp_path / ".database.1.x.tmp"  # another name: kept
    other.mkdir()
    with atomic_dir(tmp_path / "data") as d:
        (d / "ok").write_text("1")
    assert not stale_dir.exists() and not stale_old.exists()
    assert live.exists() and other.exists()
    assert (tmp_path / "data" / "ok").read_text() == "1"
    assert remove_stale_temps(tmp_path / "data") == 0


def test_tensors_carry_a_checksum_and_corruption_is_caught(tmp_path: Path) -> None:
    import pytest
    import torch

    from edtformer.errors import CheckpointError
    from edtformer.utils.io import load_tensors, save_tensors

    w = {"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(4)}
    f = save_tensors(tmp_path / "w.safetensors", w, {"format_version": "1"})
    got = load_tensors(f)
    assert torch.equal(got["a"], w["a"]) and torch.equal(got["b"], w["b"])
    data = bytearray(f.read_bytes())
    data[-3] ^= 0x40  # flip one bit inside the last tensor's bytes
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum"):
        load_tensors(f)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="unreadable"):
        load_tensors(tmp_path / "junk.safetensors")

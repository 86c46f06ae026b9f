"""Node-feature cache: input-order mapping, corruption detection, killed writers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tests.conftest import TRICKY_SMILES

from edtformer.chem import parse_smiles
from edtformer.encoders import GraphEncoder, get_encoder
from edtformer.encoders.cache import CachedEncoder, NodeFeatureCache
from edtformer.errors import EdtError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def enc() -> GraphEncoder:
    return get_encoder("random", width=16)


def test_hit_equals_compute_in_input_order(tmp_path: Path, enc: GraphEncoder) -> None:
    smiles = [s for s, _ in TRICKY_SMILES]
    records = [parse_smiles(s) for s in smiles]
    first = NodeFeatureCache(tmp_path, enc)
    computed = first.encode_many(records)
    assert first.stats.misses == len(records) and first.stats.written == len(records)
    second = NodeFeatureCache(tmp_path, enc)
    cached = second.encode_many(records)
    assert second.stats.hits == len(records) and second.stats.misses == 0
    for r, a, b in zip(records, computed, cached, strict=True):
        assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
        assert b.shape == (r.n_atoms, 16)
        torch.testing.assert_close(a, b)


def test_two_spellings_share_entry_with_own_row_order(tmp_path: Path, enc: GraphEncoder) -> None:
    cache = NodeFeatureCache(tmp_path, enc)
    a, b = parse_smiles("C(O)C"), parse_smiles("OCC")
    cache.encode_many([a])  # stored from C(O)C's order
    assert cache.path(a.canonical_smiles) == cache.path(b.canonical_smiles)
    got = cache.get(b)
    assert got is not None
    torch.testing.assert_close(got, enc.encode_one(b), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, enc.encode_one(a))  # O is row 0 of OCC, row 1 of C(O)C
    assert len(cache) == 1


def test_cached_encoder_is_transparent(tmp_path: Path, enc: GraphEncoder) -> None:
    records = [parse_smiles(s) for s in ("CCO", "c1ccccc1", "[Na+].[Cl-]")]
    cached = CachedEncoder(enc, tmp_path)
    torch.testing.assert_close(cached.encode(records).h, enc.encode(records).h)
    torch.testing.assert_close(cached.encode(records).h, enc.encode(records).h)
    assert cached.cache.stats.hits == 3 and cached.info == enc.info


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign", "garbage"])
def test_bad_entries_are_detected_and_recomputed(
    tmp_path: Path, enc: GraphEncoder, damage: str
) -> None:
    cache = NodeFeatureCache(tmp_path, enc)
    rec, other = parse_smiles("CC(=O)Oc1ccccc1C(=O)O"), parse_smiles("CCN")
    cache.encode_many([rec, other])
    path = cache.path(rec.canonical_smiles)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # last byte of the tensor data: only the checksum can tell
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 0x55]))
    elif damage == "foreign":  # another molecule's entry under this key
        path.write_bytes(cache.path(other.canonical_smiles).read_bytes())
    else:
        path.write_bytes(b"\x00" * 64)
    fresh = NodeFeatureCache(tmp_path, enc)
    assert fresh.get(rec) is None and fresh.stats.bad_entries == 1
    out = fresh.encode_many([rec])[0]
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, enc.encode_one(rec))
    assert NodeFeatureCache(tmp_path, enc).get(rec) is not None  # rewritten


def test_stale_version_is_not_used(tmp_path: Path) -> None:
    rec = parse_smiles("CCO")
    a = NodeFeatureCache(tmp_path, get_encoder("random", width=16, seed=0))
    a.encode_many([rec])
    b_enc = get_encoder("random", width=16, seed=1)  # different weights -> different version
    b = NodeFeatureCache(tmp_path, b_enc)
    assert b.get(rec) is None
    # the same file copied under b's key is caught by the metadata check
    b.path(rec.canonical_smiles).parent.mkdir(parents=True, exist_ok=True)
    b.path(rec.canonical_smiles).write_bytes(a.path(rec.canonical_smiles).read_bytes())
    assert b.get(rec) is None and b.stats.bad_entries == 1


def test_errors_are_per_molecule(tmp_path: Path, enc: GraphEncoder) -> None:
    class Picky(type(enc)):  # type: ignore[misc]
        def check(self, record):  # type: ignore[no-untyped-def]
            from edtformer.errors import UnsupportedMoleculeError

            if record.n_atoms > 3:
                raise UnsupportedMoleculeError(record.smiles, "too many atoms for this test")

    cache = NodeFeatureCache(tmp_path, Picky(width=16))
    out = cache.encode_many([parse_smiles(s) for s in ("CO", "CCCCCC", "N")])
    assert isinstance(out[1], EdtError) and isinstance(out[0], torch.Tensor)
    assert len(cache) == 2


_WRITER = """
import sys, itertools
from edtformer.chem import parse_smiles
from edtformer.encoders import get_encoder
from edtformer.encoders.cache import NodeFeatureCache
cache = NodeFeatureCache(sys.argv[1], get_encoder("random", width=512, num_layer=1))
recs = [parse_smiles("C" * n) for n in range(1, 41)]
rows = [cache.encoder.encode_one(r) for r in recs]
print("ready", flush=True)
for r, x in itertools.cycle(zip(recs, rows)):
    cache.put(r, x)
"""


def test_cache_survives_killed_writer(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(tmp_path)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # mid-stream of large writes
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    enc = get_encoder("random", width=512, num_layer=1)
    cache = NodeFeatureCache(tmp_path, enc)
    recs = [parse_smiles("C" * n) for n in range(1, 41)]
    found = 0
    for r in recs:
        got = cache.get(r)
        if got is not None:
            found += 1
            torch.testing.assert_close(got, enc.encode_one(r))
    assert found > 0 and cache.stats.bad_entries == 0
    out = cache.encode_many(recs)  # the rest is recomputed; everything valid afterwards
    assert all(isinstance(x, torch.Tensor) for x in out)
    assert cache.remove_stale_temp_files(older_than_s=0) >= 0
    assert not list(cache.dir.glob("*/.*.tmp"))

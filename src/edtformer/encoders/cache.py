"""On-disk node-feature cache: frozen encoders are run once per molecule.

Layout (a content-addressed object store, sharded by the first two hex digits of the key)::

    DIR/<encoder name>/<encoder version, slugged>/
        encoder.json                 # EncoderInfo of the encoder that wrote the entries
        ab/abcdef....safetensors     # one molecule: tensor "h" [n_atoms, D] in canonical order

Key = sha256(canonical SMILES, encoder name, encoder version). Rows are stored in RDKit's
canonical atom rank order (``CanonicalRankAtoms(breakTies=True)``) and mapped back to the
*input* SMILES's atom order on read, so ``C(O)C`` and ``OCC`` share an entry and each gets its
own correct row order.

Safety:
- every entry is written atomically (temp file + fsync + ``os.replace``): a killed writer leaves
  at most a stray ``.*.tmp`` file, never a half entry; concurrent writers of one key write
  identical content and the last rename wins;
- every entry carries its canonical SMILES, encoder name/version, atom symbols and a sha256 of
  the tensor bytes in the safetensors metadata; an entry that does not parse, fails its
  checksum, or names another molecule/encoder/version is logged, deleted and recomputed —
  never silently used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save

from edtformer.chem import MolRecord, canonical_ranks
from edtformer.encoders.base import GraphEncoder, NodeFeatures, encode_many
from edtformer.errors import EdtError
from edtformer.utils.io import atomic_write_bytes, atomic_write_json

logger = logging.getLogger(__name__)

#: Bumped when the entry layout changes; part of every entry's metadata.
CACHE_FORMAT = "1"


@dataclass
class CacheStats:
    """Counters since the cache object was created."""

    hits: int = 0
    misses: int = 0
    bad_entries: int = 0
    written: int = 0


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "v"


class NodeFeatureCache:
    """A node-feature cache for one frozen encoder.

    Args:
        root: cache folder (shared by all encoders; each gets its own sub-folder).
        encoder: the encoder whose features are cached (its ``info.version`` is in every key).

    Example::

        cache = NodeFeatureCache("cache/", get_encoder("minimol"))
        nf = cache.encode(records)          # hits read from disk, misses computed and stored
    """

    def __init__(self, root: str | os.PathLike[str], encoder: GraphEncoder) -> None:
        self.encoder = encoder
        self.root = Path(root)
        self.dir = self.root / _slug(encoder.info.name) / _slug(encoder.info.version)
        self.stats = CacheStats()
        self.dir.mkdir(parents=True, exist_ok=True)
        info_path = self.dir / "encoder.json"
        if not info_path.exists():
            atomic_write_json(info_path, encoder.info.to_dict())

    # -- keys and paths ---------------------------------------------------------------------
    def key(self, canonical_smiles: str) -> str:
        """Hex sha256 of (canonical SMILES, encoder name, encoder version)."""
        info = self.encoder.info
        text = "\0".join((canonical_smiles, info.name, info.version, CACHE_FORMAT))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def path(self, canonical_smiles: str) -> Path:
        """Where the entry of ``canonical_smiles`` lives."""
        k = self.key(canonical_smiles)
        return self.dir / k[:2] / f"{k}.safetensors"

    # -- single entries ---------------------------------------------------------------------
    def get(self, record: MolRecord) -> torch.Tensor | None:
        """Cached rows ``[n_atoms, D]`` in ``record``'s atom order, or None (miss or bad entry)."""
        canonical = record.canonical_smiles
        path = self.path(canonical)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("cache entry %s unreadable (%s); recomputing", path, exc)
            return None
        ranks = canonical_ranks(record)
        atom_symbols = record.symbols
        symbols = [atom_symbols[i] for i in sorted(range(len(ranks)), key=ranks.__getitem__)]
        reason = self._validate(data, canonical, symbols)
        if isinstance(reason, str):
            self.stats.bad_entries += 1
            logger.warning("bad cache entry %s for %r (%s); recomputing", path, canonical, reason)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        # canonical rows -> input order (numpy indexing: torch's list indexing is ~100x slower)
        return torch.from_numpy(reason.numpy()[ranks])

    def _validate(self, data: bytes, canonical: str, symbols: list[str]) -> torch.Tensor | str:
        """The canonical-order tensor, or the reason the entry is bad.

        Parses the safetensors layout directly (8-byte header length, JSON header, raw bytes):
        several times faster than a full ``safetensors.torch.load`` for these small entries.
        """
        try:
            header_len = int.from_bytes(data[:8], "little")
            header = json.loads(data[8 : 8 + header_len])
            meta = header.get("__metadata__", {})
            spec = header["h"]
            begin, stop = (8 + header_len + int(o) for o in spec["data_offsets"])
            shape = tuple(int(d) for d in spec["shape"])
            if (
                spec["dtype"] != "F32"
                or stop > len(data)
                or stop - begin != 4 * int(np.prod(shape))
            ):
                return f"bad tensor record {spec} for {len(data)} bytes"
            raw = data[begin:stop]
        except Exception as exc:  # truncated/garbled bytes raise many types
            return f"unreadable: {type(exc).__name__}: {exc}"
        info = self.encoder.info
        expected = {
            "format": CACHE_FORMAT,
            "smiles": canonical,
            "encoder": info.name,
            "version": info.version,
            "symbols": " ".join(symbols),
        }
        for field, want in expected.items():
            if meta.get(field) != want:
                return f"stale or foreign entry: {field}={meta.get(field)!r}, expected {want!r}"
        if shape != (len(symbols), info.width):
            return f"shape {shape}, expected ({len(symbols)}, {info.width})"
        if hashlib.sha256(raw).hexdigest() != meta.get("sha256"):
            return "checksum mismatch"
        return torch.from_numpy(np.frombuffer(raw, dtype="<f4").reshape(shape).copy())

    def put(self, record: MolRecord, rows: torch.Tensor) -> Path:
        """Store ``rows`` (``[n_atoms, D]`` in ``record``'s atom order) atomically."""
        ranks = canonical_ranks(record)
        order = sorted(range(len(ranks)), key=ranks.__getitem__)  # canonical pos -> input atom
        h = torch.from_numpy(np.ascontiguousarray(rows.detach().to(torch.float32).numpy()[order]))
        canonical = record.canonical_smiles
        atom_symbols = record.symbols
        info = self.encoder.info
        meta = {
            "format": CACHE_FORMAT,
            "smiles": canonical,
            "encoder": info.name,
            "version": info.version,
            "symbols": " ".join(atom_symbols[i] for i in order),
            "sha256": hashlib.sha256(h.numpy().tobytes()).hexdigest(),
        }
        path = atomic_write_bytes(self.path(canonical), save({"h": h}, metadata=meta))
        self.stats.written += 1
        return path

    # -- batches ----------------------------------------------------------------------------
    def encode_many(
        self, records: Sequence[MolRecord], batch_size: int = 64
    ) -> list[torch.Tensor | EdtError]:
        """Per molecule: rows ``[n_atoms, D]`` (cached or computed and stored) or the error."""
        out: list[torch.Tensor | EdtError | None] = [self.get(r) for r in records]
        todo = [i for i, x in enumerate(out) if x is None]
        self.stats.hits += len(records) - len(todo)
        self.stats.misses += len(todo)
        computed = encode_many(self.encoder, [records[i] for i in todo], batch_size=batch_size)
        for i, x in zip(todo, computed, strict=True):
            if isinstance(x, torch.Tensor):
                self.put(records[i], x)
            out[i] = x
        assert all(x is not None for x in out)
        return [x for x in out if x is not None]

    def encode(self, records: Sequence[MolRecord], batch_size: int = 64) -> NodeFeatures:
        """Like :meth:`GraphEncoder.encode`, through the cache (raises on the first bad molecule)."""
        rows = self.encode_many(records, batch_size=batch_size)
        for x in rows:
            if isinstance(x, EdtError):
                raise x
        return NodeFeatures.from_rows(
            [x for x in rows if isinstance(x, torch.Tensor)], self.encoder.width
        )

    def remove_stale_temp_files(self, older_than_s: float = 3600.0) -> int:
        """Delete ``.*.tmp`` files left by killed writers (older than ``older_than_s``)."""
        now, n = time.time(), 0
        for tmp in self.dir.glob("*/.*.tmp"):
            with contextlib.suppress(OSError):
                if now - tmp.stat().st_mtime > older_than_s:
                    tmp.unlink()
                    n += 1
        return n

    def __len__(self) -> int:
        return sum(1 for _ in self.dir.glob("*/*.safetensors"))


class CachedEncoder(GraphEncoder):
    """A frozen encoder read through a :class:`NodeFeatureCache` (same ``info``, same outputs).

    Shapes:
        - input: ``B`` records
        - output: ``h [B, N_max, D]``, ``mask [B, N_max]`` — equal to ``encoder.encode``
    """

    def __init__(self, encoder: GraphEncoder, root: str | os.PathLike[str]) -> None:
        super().__init__()
        self.inner = encoder
        self.info = encoder.info
        self.cache = NodeFeatureCache(root, encoder)
        self.freeze()

    def load(self) -> CachedEncoder:
        """Delegates to the wrapped encoder."""
        self.inner.load()
        return self

    def check(self, record: MolRecord) -> None:
        """Delegates to the wrapped encoder."""
        self.inner.check(record)

    def _encode_rows(self, records: Sequence[MolRecord]) -> list[torch.Tensor]:
        rows = self.cache.encode_many(records)
        for x in rows:
            if isinstance(x, EdtError):
                raise x
        return [x for x in rows if isinstance(x, torch.Tensor)]

"""edtformer's on-disk cache: where it lives, and derived files that later processes reuse.

Files derived from installed packages (the converted LLM, the edited MiniMol ONNX graph, node
features) live under :func:`cache_root`: ``$EDT_CACHE`` or ``~/.cache/edtformer``.

:func:`cached_bytes` keeps one derived file beside a JSON record of what it was built from (the
``key``) and its SHA-256. A later process reads the file instead of rebuilding it; a file whose
record names another key (stale: the source changed) or whose bytes do not match the checksum
(corrupt or truncated), or a missing record, is rebuilt. Both files are written atomically, the
data first, so a reader never accepts a half-written or mismatched pair.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from edtformer.utils.io import atomic_write_bytes, atomic_write_json

logger = logging.getLogger(__name__)

#: Version of the JSON record beside each cached file; another version is rebuilt.
RECORD_VERSION = 1


def cache_root() -> Path:
    """Root of edtformer's caches: ``$EDT_CACHE`` or ``~/.cache/edtformer``."""
    env = os.environ.get("EDT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edtformer"


def record_path(path: str | os.PathLike[str]) -> Path:
    """The JSON record beside the cached file ``path`` (``NAME.json``)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def cached_bytes(
    path: str | os.PathLike[str], key: Mapping[str, str], build: Callable[[], bytes]
) -> bytes:
    """The bytes cached at ``path`` for ``key``; built with ``build()`` and written when missing.

    Args:
        path: the cached file (its record is :func:`record_path`).
        key: everything the bytes depend on (package version, source file size and mtime, the
            version of the edit); a record with another key is stale.
        build: makes the bytes (only called when the cache cannot be used).

    Returns:
        the bytes ``build()`` returned for this ``key``, now or in an earlier process. When
        the cache cannot be written (read-only or full disk), the built bytes, with a warning.
    """
    path = Path(path)
    data = _read_entry(path, dict(key))
    if data is not None:
        return data
    data = build()
    record = {
        "format_version": RECORD_VERSION,
        "key": dict(key),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    try:
        atomic_write_bytes(path, data)
        atomic_write_json(record_path(path), record)
    except OSError as exc:  # a read-only or full disk: the bytes are still right, just not kept
        logger.warning("could not cache %s (%s); it is rebuilt in every process", path, exc)
    else:
        logger.info("cached %s (%d bytes)", path, len(data))
    return data


def _read_entry(path: Path, key: dict[str, str]) -> bytes | None:
    """The cached bytes when the record matches ``key`` and the checksum; else ``None``."""
    try:
        record = json.loads(record_path(path).read_text())
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # unreadable file, invalid JSON or UTF-8
        logger.warning("rebuilding the cached %s (%s)", path, exc)
        return None
    if not isinstance(record, dict) or record.get("format_version") != RECORD_VERSION:
        reason = "unknown record format"
    elif record.get("key") != key:
        reason = "built from another source (stale)"
    elif (
        record.get("size") != len(data) or record.get("sha256") != hashlib.sha256(data).hexdigest()
    ):
        reason = "bytes do not match their checksum (corrupt)"
    else:
        return data
    logger.warning("rebuilding the cached %s: %s", path, reason)
    return None

"""Atomic writes: a file is either its old content or its complete new content, never half.

Write to a temporary file in the same folder, fsync, then ``os.replace`` (atomic on POSIX and
Windows). Folders are written the same way: build under a temporary name, then rename.

Results get the usual permissions (files 0666, folders 0777, less the user's umask), not the
private 0600 / 0700 of ``tempfile``. Temporary names carry the writer's process id, so a
temporary left by a killed writer is removed by the next write to the same path.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edtformer.errors import CheckpointError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(path: str | os.PathLike[str]) -> int:
    """Remove temporaries of ``path`` (``.NAME.PID.*.tmp`` and ``.NAME.old.PID``) left by
    writers that no longer run; returns how many were removed."""
    path = Path(path)
    if not path.parent.is_dir():
        return 0
    removed = 0
    for p in path.parent.glob(f".{glob_escape(path.name)}.*"):
        rest = p.name[len(path.name) + 2 :].split(".")
        pid_text = rest[1] if rest[0] == "old" and len(rest) > 1 else rest[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        removed += 1
    return removed


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (keys sorted for stable diffs)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a folder under a temporary name and move it into place on success.

    An existing folder at ``path`` is replaced only once the new one is complete; if the body
    raises, the temporary folder is removed and ``path`` is left untouched.

    Example::

        with atomic_dir("ckpt") as tmp:
            save_file(tensors, tmp / "model.safetensors")
            atomic_write_json(tmp / "config.json", cfg)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    )
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_checkpoint_config(
    folder: str | os.PathLike[str], config_name: str, weights_name: str, version: int, kind: str
) -> dict[str, Any]:
    """The JSON config of a checkpoint folder, checked: both files exist, valid JSON, known version.

    Args:
        folder: the checkpoint folder.
        config_name / weights_name: file names expected in it.
        version: the ``format_version`` this edtformer reads.
        kind: what the folder should be, for the message (e.g. ``"edtformer model"``).

    Raises:
        CheckpointError: a file is missing, the JSON is invalid, or the version is unknown.
    """
    folder = Path(folder)
    cfg_path = folder / config_name
    if not cfg_path.is_file() or not (folder / weights_name).is_file():
        raise CheckpointError(
            f"{folder} is not an {kind} folder (needs {config_name} and {weights_name})"
        )
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{cfg_path} is not valid JSON: {exc}") from exc
    found = config.get("format_version") if isinstance(config, dict) else None
    if found != version:
        raise CheckpointError(
            f"{cfg_path}: format_version {found!r}, this edtformer reads {version}"
        )
    return dict(config)


#: safetensors metadata key holding :func:`tensor_digest` of the file's tensors.
DIGEST_KEY = "edtformer_sha256"


def tensor_digest(tensors: dict[str, Any]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in name order."""
    # heavy: utils/ stays torch-free for the light import paths
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def save_tensors(
    path: str | os.PathLike[str], tensors: dict[str, Any], metadata: dict[str, str] | None = None
) -> Path:
    """``safetensors`` file with :func:`tensor_digest` in its metadata (written atomically)."""
    # heavy: safetensors.torch imports torch
    from safetensors.torch import save

    meta = {**(metadata or {}), DIGEST_KEY: tensor_digest(tensors)}
    return atomic_write_bytes(path, save(tensors, metadata=meta))


def load_tensors(path: str | os.PathLike[str], what: str = "weights") -> dict[str, Any]:
    """Tensors of a ``safetensors`` file, checked against the digest in its metadata.

    Raises:
        CheckpointError: unreadable file, or tensors whose bytes changed since they were saved
            (a file without a digest, from older versions, loads with a warning).
    """
    # heavy: safetensors.torch imports torch
    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable {what} ({exc})") from exc
    want = meta.get(DIGEST_KEY)
    if want is None:
        logging.getLogger(__name__).info("%s: no checksum (written by an older version)", path)
    elif tensor_digest(tensors) != want:
        raise CheckpointError(
            f"{path}: {what} do not match their checksum (the file was changed or corrupted)"
        )
    return tensors

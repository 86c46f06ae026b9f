"""Resumable training checkpoints: safetensors + JSON, written atomically, never pickled.

A checkpoint folder ``<run>/checkpoints/step-000200/`` holds

- ``trainable.safetensors`` — the trained parameters (frozen parts are rebuilt from their ids);
- ``optimizer.safetensors`` — every optimizer state tensor, keyed ``state.<param>.<name>``;
- ``rng-rank<r>.safetensors`` — each rank's torch RNG state;
- ``state.json`` — step, data position, scheduler, optimizer hyper-parameters, Python and NumPy
  RNG states, the config.

``<run>/checkpoints/latest`` names the newest *complete* checkpoint and is written last, so an
interrupted save leaves the previous checkpoint in force.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from safetensors.torch import save as save_bytes

from edtformer.errors import CheckpointError
from edtformer.utils.io import atomic_dir, atomic_write_bytes, atomic_write_text

STATE_FORMAT_VERSION = 1


@dataclass
class TrainPosition:
    """Where a run is: optimizer steps done, epoch and batches consumed within that epoch."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0


def _optimizer_to_flat(opt_state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], list[dict]]:
    tensors: dict[str, torch.Tensor] = {}
    for pid, slots in opt_state["state"].items():
        for name, value in slots.items():
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"state.{pid}.{name}"] = t.detach().cpu().contiguous()
    groups = []
    for group in opt_state["param_groups"]:
        groups.append({k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items()})
    return tensors, groups


def _optimizer_from_flat(tensors: dict[str, torch.Tensor], groups: list[dict]) -> dict[str, Any]:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value
    fixed = []
    for group in groups:
        g = dict(group)
        if "betas" in g and isinstance(g["betas"], list):
            g["betas"] = tuple(g["betas"])
        fixed.append(g)
    return {"state": state, "param_groups": fixed}


def _py_random_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def _set_py_random_state(saved: list) -> None:
    version, internal, gauss = saved
    random.setstate((version, tuple(internal), gauss))


def _np_random_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)  # type: ignore[misc]
    return {
        "name": name,
        "keys": np.asarray(keys).tolist(),
        "pos": pos,
        "has_gauss": has_gauss,
        "cached": cached,
    }


def _set_np_random_state(saved: dict[str, Any]) -> None:
    np.random.set_state(
        (
            saved["name"],
            np.asarray(saved["keys"], dtype=np.uint32),
            saved["pos"],
            saved["has_gauss"],
            saved["cached"],
        )
    )


def save_rng(folder: Path, rank: int) -> None:
    """Write this rank's torch RNG state into ``folder`` (atomic per file)."""
    atomic_write_bytes(
        folder / f"rng-rank{rank}.safetensors", save_bytes({"torch": torch.get_rng_state()})
    )


def save_checkpoint(
    run_dir: Path,
    position: TrainPosition,
    trainable: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    config: dict[str, Any],
    keep: int = 2,
    extra_files: Sequence[Path] = (),
) -> Path:
    """Write a complete checkpoint for ``position`` and point ``latest`` at it (rank 0 only).

    Args:
        extra_files: files other ranks staged (their RNG states); moved into the checkpoint.

    Returns:
        The checkpoint folder.
    """
    ckpt_root = run_dir / "checkpoints"
    name = f"step-{position.step:07d}"
    target = ckpt_root / name
    opt_tensors, groups = _optimizer_to_flat(optimizer.state_dict())
    sched = {k: v for k, v in scheduler.state_dict().items() if k != "lr_lambdas"}
    state = {
        "format_version": STATE_FORMAT_VERSION,
        "position": position.__dict__,
        "optimizer_param_groups": groups,
        "scheduler": sched,
        "python_random": _py_random_state(),
        "numpy_random": _np_random_state(),
        "config": config,
    }
    with atomic_dir(target) as tmp:
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in trainable.items()},
            tmp / "trainable.safetensors",
        )
        save_file(opt_tensors, tmp / "optimizer.safetensors")
        save_rng(tmp, 0)
        for extra in extra_files:
            if extra.is_file():
                shutil.move(str(extra), tmp / extra.name)
        (tmp / "state.json").write_text(json.dumps(state, indent=1))
    atomic_write_text(ckpt_root / "latest", name + "\n")
    old = sorted(p for p in ckpt_root.glob("step-*") if p.is_dir() and p.name != name)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return target


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or ``None`` if it has none."""
    pointer = run_dir / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    folder = run_dir / "checkpoints" / pointer.read_text().strip()
    if not (folder / "state.json").is_file():
        raise CheckpointError(f"{pointer} names {folder.name}, which is incomplete or missing")
    return folder


@dataclass
class LoadedCheckpoint:
    """What :func:`load_checkpoint` read back."""

    folder: Path
    position: TrainPosition
    trainable: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    scheduler_state: dict[str, Any]
    config: dict[str, Any]
    state: dict[str, Any]


def load_checkpoint(folder: Path) -> LoadedCheckpoint:
    """Read a checkpoint folder written by :func:`save_checkpoint`.

    Raises:
        CheckpointError: missing files or an unknown format version.
    """
    try:
        state = json.loads((folder / "state.json").read_text())
        trainable = load_file(folder / "trainable.safetensors")
        opt_tensors = load_file(folder / "optimizer.safetensors")
    except (OSError, json.JSONDecodeError, ValueError) as exc:
        raise CheckpointError(f"cannot read checkpoint {folder}: {exc}") from exc
    if state.get("format_version") != STATE_FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {folder} has format {state.get('format_version')}, expected {STATE_FORMAT_VERSION}"
        )
    return LoadedCheckpoint(
        folder=folder,
        position=TrainPosition(**state["position"]),
        trainable=trainable,
        optimizer_state=_optimizer_from_flat(opt_tensors, state["optimizer_param_groups"]),
        scheduler_state=state["scheduler"],
        config=state["config"],
        state=state,
    )


def restore_rng(ckpt: LoadedCheckpoint, rank: int) -> None:
    """Restore Python, NumPy and this rank's torch RNG streams from a checkpoint."""
    _set_py_random_state(ckpt.state["python_random"])
    _set_np_random_state(ckpt.state["numpy_random"])
    path = ckpt.folder / f"rng-rank{rank}.safetensors"
    if not path.is_file():
        path = ckpt.folder / "rng-rank0.safetensors"
    torch.set_rng_state(load_file(path)["torch"])

"""The training engine: loss goes down, DDP ranks agree, kill + resume equals an uninterrupted run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edtformer.training.sampler import ResumableBatchOrder

SCRIPT = Path(__file__).with_name("toy_train.py")


def _run(
    out: Path, steps: int, devices: int = 1, resume: bool = False, fault: int | None = None
) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    args = [sys.executable, str(SCRIPT), str(out), str(steps), str(devices)]
    if resume:
        args.append("resume")
    if fault is not None:
        args.append(f"kill-at={fault}")
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode not in (0, 137):
        raise AssertionError(proc.stderr[-3000:])
    return proc.returncode


def _weights(out: Path, rank: int = 0) -> list[float]:
    return [float(v) for v in (out / f"weights-rank{rank}.txt").read_text().split()]


@pytest.mark.slow
def test_loss_decreases_and_kill_resume_is_exact(tmp_path: Path) -> None:
    full = tmp_path / "full"
    assert _run(full, 9) == 0
    losses = [float(v) for v in (full / "losses-rank0.txt").read_text().split()]
    assert sum(losses[-3:]) < sum(losses[:3])
    killed = tmp_path / "killed"
    assert _run(killed, 9, fault=6) == 137  # dies right after the step-6 checkpoint
    assert not (killed / "weights-rank0.txt").exists()
    assert (killed / "checkpoints" / "latest").read_text().strip() == "step-0000006"
    assert _run(killed, 9, resume=True) == 0
    assert _weights(killed) == _weights(full)


@pytest.mark.slow
def test_ddp_two_ranks_hold_identical_weights(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    assert _run(out, 3, devices=2) == 0
    assert _weights(out, 0) == _weights(out, 1)
    assert (out / "checkpoints" / "step-0000003" / "rng-rank1.safetensors").is_file()


def test_batch_order_resumes_and_shards() -> None:
    order = ResumableBatchOrder(10, 3, seed=1, rank=0, world_size=2)
    it = order.iterate()
    first = [next(it) for _ in range(4)]
    again = list(zip(range(2), order.iterate(first[2][0], first[2][1]), strict=False))
    assert [b for _, b in again] == first[2:4]
    other = ResumableBatchOrder(10, 3, seed=1, rank=1, world_size=2)
    a = set(order.epoch_indices(0).tolist())
    b = set(other.epoch_indices(0).tolist())
    assert a.isdisjoint(b) and a | b == set(range(10))

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


def test_a_batch_over_the_token_budget_runs_in_pieces_with_the_same_gradient() -> None:
    """optim.max_batch_tokens: a batch above the budget is halved (recursively) and each piece's
    loss weighted by its share of the samples, so the summed gradient is the whole batch's
    (for a per-sample mean loss); a batch within the budget is one piece."""
    import torch
    from torch import nn

    from edtformer.training.engine import _within_budget

    class Batch:
        def __init__(self, rows: list[list[float]]) -> None:
            width = max(len(r) for r in rows)
            self.input_ids = torch.tensor([r + [0.0] * (width - len(r)) for r in rows])

    items = [[1.0, 2.0], [3.0], [4.0, 5.0, 6.0, 7.0], [8.0]]
    collate = Batch
    whole = collate(items)
    assert [n for _, n in _within_budget(items, whole, collate, 0)] == [4]
    assert [n for _, n in _within_budget(items, whole, collate, 16)] == [4]
    pieces = _within_budget(items, whole, collate, 6)  # 4 x 4 = 16 tokens > 6
    assert [n for _, n in pieces] == [2, 1, 1] and sum(n for _, n in pieces) == 4
    assert _within_budget(items[:1], collate(items[:1]), collate, 1)[0][1] == 1  # never split one

    w = nn.Parameter(torch.tensor(0.5))

    def loss(batch: Batch) -> torch.Tensor:  # per-sample mean of a per-sample loss
        return (batch.input_ids.sum(dim=1) * w).square().mean()

    loss(whole).backward()
    full = w.grad.clone()
    w.grad = None
    for batch, n in pieces:
        (loss(batch) * (n / len(items))).backward()
    assert torch.allclose(w.grad, full)

"""The training loop, on Lightning Fabric: devices, strategy and precision are configuration.

The loop is stage-agnostic. A stage supplies a ``module`` (an ``nn.Module`` whose ``forward(batch)``
returns a dict with a scalar ``"loss"`` and whose trainable parameters are exactly those with
``requires_grad``), a dataset (any sequence), and a ``collate`` function. The engine adds:

- AdamW on the trainable parameters, linear warm-up then cosine decay;
- a deterministic, rank-sharded, resumable data order (:class:`ResumableBatchOrder`);
- rank-0 logging to CSV / TensorBoard and a progress bar;
- periodic atomic checkpoints (:mod:`edtformer.training.checkpoint`) and exact ``resume``
  (weights, optimizer, scheduler, data position, RNG streams).

Modules that need features from every rank (the contrastive loss) get a ``gather`` callable:
if the module defines ``set_gather(fn)``, the engine passes ``fabric.all_gather`` with gradients.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from edtformer.errors import CheckpointError, EdtError, require
from edtformer.training.checkpoint import (
    TrainPosition,
    latest_checkpoint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
    save_rng,
)
from edtformer.training.config import TrainConfig
from edtformer.training.precision import resolve_precision
from edtformer.training.sampler import ResumableBatchOrder
from edtformer.utils.io import atomic_write_json

logger = logging.getLogger(__name__)


@dataclass
class FitHooks:
    """Calls into :func:`fit` from outside the loop (tests, tools); every hook is optional.

    Tests use them to stop a run the way ``kill -9`` would right after a checkpoint
    (``on_checkpoint``) and to compare data-parallel ranks' weights (``on_end`` with
    :func:`weights_digest`); the loop itself has no test branches.
    """

    on_checkpoint: Callable[[int], object] | None = None
    """Called on every rank with the step number once that step's checkpoint is complete."""
    on_end: Callable[[nn.Module, int], object] | None = None
    """Called on every rank with ``(module, rank)`` after the last step, before ``on_final``."""


def weights_digest(module: nn.Module) -> str:
    """SHA-256 over the trainable parameters (names and float32 bytes), for equality checks."""
    h = hashlib.sha256()
    for name, value in sorted(trainable_state(module).items()):
        h.update(name.encode())
        h.update(value.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


@dataclass
class FitResult:
    """What :func:`fit` returns on rank 0 (other ranks get the same numbers)."""

    steps: int
    losses: list[float] = field(default_factory=list)
    samples_per_s: float = 0.0
    seconds: float = 0.0
    resumed_from: int | None = None
    is_rank_zero: bool = True


def cosine_schedule(warmup: int, total: int, min_ratio: float) -> Callable[[int], float]:
    """LR multiplier: linear warm-up over ``warmup`` steps, cosine to ``min_ratio`` at ``total``."""

    def factor(step: int) -> float:
        if warmup > 0 and step < warmup:
            return (step + 1) / warmup
        span = max(1, total - warmup)
        progress = min(1.0, (step - warmup) / span)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters that require grad, by name (what a checkpoint stores)."""
    return {n: p.detach() for n, p in module.named_parameters() if p.requires_grad}


def load_trainable_state(module: nn.Module, tensors: dict[str, torch.Tensor], what: str) -> None:
    """Copy checkpointed trainable tensors into ``module``'s parameters, in place.

    Raises:
        CheckpointError: the checkpoint and the module's trainable parameters differ (``what``
            names the checkpoint in the message).
    """
    mismatch = set(trainable_state(module)) ^ set(tensors)
    if mismatch:
        raise CheckpointError(f"{what} and model disagree on parameters {sorted(mismatch)[:5]}")
    named = dict(module.named_parameters())
    with torch.no_grad():
        for name, value in tensors.items():
            named[name].copy_(value)


def make_fabric(cfg: TrainConfig, resume: bool = False) -> Any:
    """Build a Lightning ``Fabric`` from the config (loggers only on the run folder); the
    precision is chosen by the hardware for ``"auto"``, or (``resume``) kept from the
    checkpoint the run continues."""
    require("lightning", "train")
    # optional dependency (the 'train' extra), checked by require above
    from lightning.fabric import Fabric
    from lightning.fabric.loggers import CSVLogger, TensorBoardLogger

    loggers: list[Any] = []
    for name in cfg.run.loggers:
        if name == "csv":
            # flushed at every log call: a long CPU run's metrics can be read while it runs
            loggers.append(
                CSVLogger(
                    root_dir=cfg.run.out_dir, name="metrics", version="", flush_logs_every_n_steps=1
                )
            )
        elif name == "tensorboard":
            require("tensorboard", "train")
            loggers.append(TensorBoardLogger(root_dir=cfg.run.out_dir, name="tb", version=""))
        else:
            raise EdtError(f"unknown logger {name!r}; choose csv and/or tensorboard")
    strategy: Any = cfg.run.strategy
    accelerator = cfg.run.accelerator
    if accelerator == "auto" and not torch.cuda.is_available():
        accelerator = "cpu"
    if strategy == "ddp":
        # optional dependency (the 'train' extra)
        from lightning.fabric.strategies import DDPStrategy

        # Some objectives leave a head unused in a step (e.g. matching without negatives);
        # on CPU, Fabric picks the gloo backend.
        strategy = DDPStrategy(find_unused_parameters=True)

    cfg.run.precision = resolve_precision(
        cfg.run.precision, accelerator, resume_from=cfg.run.out_dir if resume else None
    )
    return Fabric(
        accelerator=accelerator,
        devices=cfg.run.devices,
        strategy=strategy,
        precision=cfg.run.precision,  # type: ignore[arg-type]
        loggers=loggers,
    )


def param_groups(module: nn.Module, lr: float, bridge_scale: float) -> list[dict[str, Any]]:
    """AdamW parameter groups: the bridge (parameters named ``connector.`` at any depth) at
    ``lr * bridge_scale``, every other trainable parameter at ``lr``; empty groups are left
    out."""
    bridge: list[nn.Parameter] = []
    rest: list[nn.Parameter] = []
    for name, p in module.named_parameters():
        if p.requires_grad:
            parts = name.split(".")
            (bridge if "connector" in parts else rest).append(p)
    if bridge_scale == 1.0:
        return [{"params": bridge + rest, "lr": lr}]
    groups = [{"params": bridge, "lr": lr * bridge_scale}, {"params": rest, "lr": lr}]
    return [g for g in groups if g["params"]]


def _restore(
    out_dir: Path, module: nn.Module, optimizer: Any, scheduler: Any, rank: int
) -> TrainPosition:
    """Load the latest checkpoint of ``out_dir`` into the module, optimiser, scheduler and RNGs;
    returns its position."""
    ckpt_dir = latest_checkpoint(out_dir)
    if ckpt_dir is None:
        raise EdtError(f"--resume: no checkpoint under {out_dir / 'checkpoints'}")
    ckpt = load_checkpoint(ckpt_dir)
    load_trainable_state(module, ckpt.trainable, f"--resume: checkpoint {ckpt_dir}")
    optimizer.load_state_dict(ckpt.optimizer_state)
    scheduler.load_state_dict({**ckpt.scheduler_state, "lr_lambdas": [None]})
    restore_rng(ckpt, rank)
    logger.info("resumed from %s (step %d)", ckpt_dir, ckpt.position.step)
    return ckpt.position


def _accumulate(
    fabric: Any,
    wrapped: Any,
    batches: Iterator[tuple[int, int, list[int]]],
    dataset: Sequence[Any],
    collate: Callable[[list[Any]], Any],
    grad_accum: int,
    position: TrainPosition,
    max_batch_tokens: int = 0,
) -> tuple[dict[str, float], int]:
    """Forward + backward of ``grad_accum`` micro-batches (gradients summed, no optimiser step);
    advances ``position`` past them. A micro-batch above ``max_batch_tokens`` padded tokens runs
    as smaller pieces (:func:`_within_budget`), each loss weighted by its share of the samples.
    Returns the mean of each scalar output and the samples used."""
    logs: dict[str, float] = {}
    samples = 0
    for micro in range(grad_accum):
        epoch, b, idx = next(batches)
        items = [dataset[i] for i in idx]
        pieces = _within_budget(items, collate(items), collate, max_batch_tokens)
        samples += len(idx)
        for k, (batch, n) in enumerate(pieces):
            weight = n / len(items) / grad_accum
            last = micro == grad_accum - 1 and k == len(pieces) - 1
            with fabric.no_backward_sync(wrapped, enabled=not last):
                out = wrapped(batch)
                fabric.backward(out["loss"] * weight)
            for key, v in out.items():
                if isinstance(v, torch.Tensor) and v.numel() == 1:
                    logs[key] = logs.get(key, 0.0) + float(v.detach()) * weight
        position.epoch, position.batch_in_epoch = epoch, b + 1
    return logs, samples


def _batch_tokens(batch: Any) -> int:
    """Padded prompt tokens of a collated batch (0 when it has no ``input_ids``)."""
    ids = getattr(batch, "input_ids", None)
    if ids is None and isinstance(batch, dict):
        ids = batch.get("input_ids")
    return int(ids.numel()) if isinstance(ids, torch.Tensor) else 0


def _within_budget(
    items: list[Any], batch: Any, collate: Callable[[list[Any]], Any], max_tokens: int
) -> list[tuple[Any, int]]:
    """``[(batch, n samples)]``: the collated ``batch`` itself when it has at most
    ``max_tokens`` padded tokens (or ``max_tokens`` is 0), else ``items`` halved (recursively)
    and each half collated on its own; a single sample is never split.

    An over-budget batch is collated once to be measured and again in pieces: padded length is
    known only after collation (prompts carry sheets cut per question), such batches are rare
    and logged, and one extra tokenisation of a few prompts costs far less than the step."""
    tokens = _batch_tokens(batch)
    if max_tokens <= 0 or tokens <= max_tokens or len(items) == 1:
        return [(batch, len(items))]
    logger.info(
        "a batch of %d samples has %d padded tokens (> optim.max_batch_tokens=%d): run in pieces",
        len(items), tokens, max_tokens,
    )  # fmt: skip
    half = len(items) // 2
    out: list[tuple[Any, int]] = []
    for part in (items[:half], items[half:]):
        out += _within_budget(part, collate(part), collate, max_tokens)
    return out


def fit(
    fabric: Any,
    cfg: TrainConfig,
    module: nn.Module,
    dataset: Sequence[Any],
    collate: Callable[[list[Any]], Any],
    resume: bool = False,
    on_final: Callable[[nn.Module, Path], object] | None = None,
    progress: bool = True,
    on_step: Callable[[int, int, nn.Module], object] | None = None,
    hooks: FitHooks | None = None,
) -> FitResult:
    """Train ``module`` for ``cfg.optim.max_steps`` optimizer steps.

    Args:
        fabric: a launched ``lightning.fabric.Fabric``.
        cfg: the run configuration (``out_dir``, steps, optimiser, checkpoint cadence).
        module: forward(batch) -> {"loss": scalar, ...other scalars to log}.
        dataset: indexable training samples.
        collate: list of samples -> batch accepted by ``module``.
        resume: continue from ``out_dir``'s latest checkpoint (error if none and the folder has runs).
        on_final: called on rank 0 with the unwrapped module and ``out_dir / "final"`` at the end.
        progress: show a progress bar on rank 0.
        on_step: called on rank 0 after every optimizer step with ``(step, samples seen, module)``
            (e.g. a validation curve); the module is back in train mode afterwards.
        hooks: optional :class:`FitHooks` (checkpoint and end-of-run calls on every rank).
    """
    hooks = hooks or FitHooks()
    cfg.validate()
    out_dir = Path(cfg.run.out_dir)
    world = fabric.world_size
    optimizer, scheduler = _optimizer(module, cfg)
    position = (
        _restore(out_dir, module, optimizer, scheduler, fabric.global_rank)
        if resume
        else TrainPosition()
    )
    resumed_from = position.step if resume else None
    wrapped, optimizer, batches = _setup(fabric, cfg, module, optimizer, len(dataset), position)
    bar = None
    if progress and fabric.is_global_zero:
        bar = tqdm(total=cfg.optim.max_steps, initial=position.step, desc=cfg.stage, unit="step")
    result = FitResult(
        steps=position.step, resumed_from=resumed_from, is_rank_zero=fabric.is_global_zero
    )
    start, samples = time.perf_counter(), 0
    wrapped.train()
    while position.step < cfg.optim.max_steps:
        logs, n = _optimizer_step(
            fabric, cfg, wrapped, optimizer, scheduler, batches, dataset, collate, position
        )
        samples += n
        result.losses.append(logs.get("loss", float("nan")))
        _log_step(fabric, cfg, position.step, logs, scheduler, bar)
        if on_step is not None and fabric.is_global_zero:
            on_step(
                position.step,
                position.step * cfg.optim.batch_size * cfg.optim.grad_accum * world,
                module,
            )
            wrapped.train()
        if position.step % cfg.run.ckpt_every == 0 or position.step == cfg.optim.max_steps:
            _checkpoint(fabric, out_dir, position, module, optimizer, scheduler, cfg)
            if hooks.on_checkpoint is not None:
                hooks.on_checkpoint(position.step)
    if bar is not None:
        bar.close()
    result.seconds = time.perf_counter() - start
    result.samples_per_s = samples * world / max(result.seconds, 1e-9)
    result.steps = position.step
    _finish(fabric, module, hooks, on_final, position.step, out_dir)
    return result


def _optimizer(module: nn.Module, cfg: TrainConfig) -> tuple[Any, Any]:
    """AdamW over :func:`param_groups` and its warm-up + cosine LR schedule."""
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise EdtError("nothing to train: the module has no parameter with requires_grad")
    optimizer = torch.optim.AdamW(
        param_groups(module, cfg.optim.lr, cfg.optim.bridge_lr_scale),
        lr=cfg.optim.lr,
        weight_decay=cfg.optim.weight_decay,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        cosine_schedule(cfg.optim.warmup_steps, cfg.optim.max_steps, cfg.optim.min_lr_ratio),
    )
    return optimizer, scheduler


def _setup(
    fabric: Any,
    cfg: TrainConfig,
    module: nn.Module,
    optimizer: Any,
    n_samples: int,
    position: TrainPosition,
) -> tuple[Any, Any, Iterator[tuple[int, int, list[int]]]]:
    """Hand the module and optimiser to Fabric and start this rank's batch order at
    ``position``; rank 0 writes the run's ``config.json``. Returns ``(wrapped, optimizer,
    batches)``."""
    rank, world = fabric.global_rank, fabric.world_size
    set_gather = getattr(module, "set_gather", None)
    if callable(set_gather):
        set_gather(lambda t: fabric.all_gather(t, sync_grads=True), rank)
    wrapped, optimizer = fabric.setup(module, optimizer)
    order = ResumableBatchOrder(n_samples, cfg.optim.batch_size, cfg.run.seed, rank, world)
    batches = order.iterate(position.epoch, position.batch_in_epoch)
    if fabric.is_global_zero:
        atomic_write_json(Path(cfg.run.out_dir) / "config.json", cfg.to_dict())
    return wrapped, optimizer, batches


def _optimizer_step(
    fabric: Any,
    cfg: TrainConfig,
    wrapped: Any,
    optimizer: Any,
    scheduler: Any,
    batches: Iterator[tuple[int, int, list[int]]],
    dataset: Sequence[Any],
    collate: Callable[[list[Any]], Any],
    position: TrainPosition,
) -> tuple[dict[str, float], int]:
    """One optimizer step over ``cfg.optim.grad_accum`` micro-batches (clipped, scheduled);
    advances ``position``. Returns ``(logs, samples seen on this rank)``."""
    optimizer.zero_grad(set_to_none=True)
    logs, n = _accumulate(
        fabric, wrapped, batches, dataset, collate, cfg.optim.grad_accum, position,
        cfg.optim.max_batch_tokens,
    )  # fmt: skip
    if cfg.optim.grad_clip > 0:
        fabric.clip_gradients(
            wrapped, optimizer, max_norm=cfg.optim.grad_clip, error_if_nonfinite=False
        )
    optimizer.step()
    scheduler.step()
    position.step += 1
    return logs, n


def _log_step(
    fabric: Any, cfg: TrainConfig, step: int, logs: dict[str, float], scheduler: Any, bar: Any
) -> None:
    """Log the step's scalars (every ``log_every`` steps and the last) and move the bar."""
    if step % cfg.run.log_every == 0 or step == cfg.optim.max_steps:
        logs["lr"] = float(scheduler.get_last_lr()[0])
        fabric.log_dict(logs, step=step)
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{logs.get('loss', float('nan')):.4f}")


def _finish(
    fabric: Any,
    module: nn.Module,
    hooks: FitHooks,
    on_final: Callable[[nn.Module, Path], object] | None,
    steps: int,
    out_dir: Path,
) -> None:
    """Close the loggers, run the end hooks and (rank 0) save the final model; all ranks meet."""
    for lg in fabric.loggers:
        lg.finalize("success")
    if hooks.on_end is not None:
        hooks.on_end(module, fabric.global_rank)
    if on_final is not None and fabric.is_global_zero:
        if steps == 0:  # unreachable with a validated config; never save an untrained model
            raise EdtError(f"no optimizer step was taken; nothing saved to {out_dir / 'final'}")
        on_final(module, out_dir / "final")
    fabric.barrier()


def _checkpoint(
    fabric: Any,
    out_dir: Path,
    position: TrainPosition,
    module: nn.Module,
    optimizer: Any,
    scheduler: Any,
    cfg: TrainConfig,
) -> None:
    staging = out_dir / "checkpoints" / ".staging"
    if fabric.global_rank != 0:
        staging.mkdir(parents=True, exist_ok=True)
        save_rng(staging, fabric.global_rank)
    fabric.barrier()
    if fabric.is_global_zero:
        extra = sorted(staging.glob("rng-rank*.safetensors")) if staging.exists() else []
        save_checkpoint(
            out_dir,
            TrainPosition(**position.__dict__),
            trainable_state(module),
            optimizer.optimizer if hasattr(optimizer, "optimizer") else optimizer,
            scheduler,
            cfg.to_dict(),
            keep=cfg.run.keep_checkpoints,
            extra_files=extra,
        )
    fabric.barrier()

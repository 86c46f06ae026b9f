"""A toy run of the training engine, used by tests as a subprocess (DDP, kill and resume).

Usage: python toy_train.py OUT_DIR MAX_STEPS DEVICES [resume] [kill-at=STEP]
Writes OUT_DIR/weights-rank{r}.txt with the trained weights after the run. ``kill-at=STEP``
exits the process hard (status 137, like ``kill -9``) right after step STEP's checkpoint,
through the engine's ``FitHooks.on_checkpoint``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
from torch import nn

from edtformer.training.config import OptimSection, RunSection, TrainConfig
from edtformer.training.engine import FitHooks, fit, make_fabric


class Toy(nn.Module):
    """A linear regressor with dropout (so RNG state matters for exact resume)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 1)
        self.drop = nn.Dropout(0.2)
        self.frozen = nn.Linear(4, 4).requires_grad_(False)

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, y = batch
        pred = self.lin(self.drop(self.frozen(x))).squeeze(-1)
        return {"loss": ((pred - y) ** 2).mean()}


def main() -> None:
    out, steps, devices = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    flags = sys.argv[4:]
    resume = "resume" in flags
    kill_at = next((int(f.split("=", 1)[1]) for f in flags if f.startswith("kill-at=")), None)

    def kill_after(step: int) -> None:
        if step == kill_at:
            os._exit(137)  # no cleanup, no final weights: a simulated kill -9

    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(64, 4, generator=g)
    ys = xs @ torch.tensor([1.0, -2.0, 0.5, 3.0])
    data = [(xs[i], ys[i]) for i in range(64)]
    cfg = TrainConfig(
        stage="stage2",
        optim=OptimSection(max_steps=steps, batch_size=8, lr=0.1, warmup_steps=1),
        run=RunSection(
            out_dir=out,
            ckpt_every=3,
            log_every=1,
            devices=devices,
            accelerator="cpu",
            strategy="ddp" if devices > 1 else "auto",
            seed=3,
        ),
    )
    fabric = make_fabric(cfg)
    fabric.launch()
    model = Toy()
    res = fit(
        fabric,
        cfg,
        model,
        data,
        lambda items: (torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])),
        resume=resume,
        progress=False,
        hooks=FitHooks(on_checkpoint=kill_after),
    )
    w = torch.cat([p.detach().flatten() for p in model.lin.parameters()])
    Path(out, f"weights-rank{fabric.global_rank}.txt").write_text(
        " ".join(f"{v:.8e}" for v in w.tolist())
    )
    Path(out, f"losses-rank{fabric.global_rank}.txt").write_text(
        " ".join(f"{v:.6f}" for v in res.losses)
    )


if __name__ == "__main__":
    main()

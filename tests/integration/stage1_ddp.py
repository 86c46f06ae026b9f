"""Stage 1 on two gloo DDP ranks, used by a test as a subprocess (Fabric re-runs this script).

Usage: python stage1_ddp.py LLM_DIR DATA_DIR OUT_DIR DIGEST_DIR
Each rank writes DIGEST_DIR/rank{r}.sha256, the SHA-256 of its trainable weights at the end
(through the engine's ``FitHooks.on_end``).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from edtformer.training.config import build_config
from edtformer.training.engine import FitHooks, weights_digest
from edtformer.training.runner import run_stage1


def main() -> None:
    llm, data, out, digests = sys.argv[1:5]
    torch.set_num_threads(1)
    cfg = build_config("stage1", "tiny")
    cfg = replace(
        cfg,
        model=replace(cfg.model, llm=llm),
        data=replace(cfg.data, dir=data),
        optim=replace(cfg.optim, max_steps=2, batch_size=3),
        run=replace(cfg.run, out_dir=out, devices=2, strategy="ddp", accelerator="cpu"),
    )

    def write_digest(module: nn.Module, rank: int) -> None:
        Path(digests).mkdir(parents=True, exist_ok=True)
        Path(digests, f"rank{rank}.sha256").write_text(weights_digest(module))

    run_stage1(cfg, progress=False, hooks=FitHooks(on_end=write_digest))


if __name__ == "__main__":
    main()

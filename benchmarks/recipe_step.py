"""Speed of one training step: the recipe's (``edt train recipe``) vs the old stage 2, same process.

Both steps train the ``smol`` bridge through the frozen SmolLM2-135M-Instruct on the *same*
batches (drawn from the recipe's question stream, train split):

- ``old``: the first round's stage 2 -- fp32 LLM, question-blind queries, answer loss only;
- ``recipe``: bf16 autocast around the forward (as ``--precision bf16-mixed`` does), instruction-
  aware queries, token norm, answer loss + fact-head loss.

Steps alternate (old, recipe, old, recipe, ...) so that a load change on a shared machine hits
both alike; warm-up steps are not timed; medians are reported with their ratio.

    python benchmarks/recipe_step.py --data data_out --steps 6 --threads 1
    # writes benchmarks/results/recipe_step.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from edtformer.training.config import build_config
from edtformer.training.recipe import (
    RecipeCollator,
    RecipeModule,
    build_recipe_model,
    recipe_stream,
)
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"


def make(data: str, recipe: bool, seed: int) -> tuple[Any, RecipeModule]:
    """``(EDTFormer, module)`` of one variant (connector seeded alike)."""
    cfg = build_config("recipe", "smol")
    cfg = replace(cfg, data=replace(cfg.data, dir=data), run=replace(cfg.run, seed=seed))
    if not recipe:
        cfg.recipe = replace(cfg.recipe, instruction_aware=False, token_norm="0", aux_weight=0.0)
    torch.manual_seed(seed)
    model = build_recipe_model(cfg)
    module = RecipeModule(model, cfg.recipe.aux_weight)
    return model, module


def step(module: RecipeModule, opt: torch.optim.Optimizer, batch: Any, bf16: bool) -> float:
    """One AdamW step; seconds."""
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = module(batch)["loss"]
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
    opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data_out")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "recipe_step.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = build_config("recipe", "smol")
    cfg = replace(
        cfg, data=replace(cfg.data, dir=args.data), optim=replace(cfg.optim, max_steps=100)
    )
    stream = recipe_stream(cfg)
    n = args.warmup + args.steps
    items = [stream[i] for i in range(n * args.batch_size)]
    variants = {}
    for name, recipe in (("old", False), ("recipe", True)):
        model, module = make(args.data, recipe, args.seed)
        collate = RecipeCollator(model)
        batches = [collate(items[i::n]) for i in range(n)]
        opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-3)
        module.train()
        variants[name] = (module, opt, batches, recipe)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for i in range(n):
        for name, (module, opt, batches, bf16) in variants.items():
            dt = step(module, opt, batches[i], bf16)
            if i >= args.warmup:
                times[name].append(dt)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "what": "one training step (forward, backward, clip, AdamW), smol bridge + frozen "
        "SmolLM2-135M-Instruct, batch of recipe questions (train split)",
        "batch_size": args.batch_size,
        "threads": args.threads,
        "seed": args.seed,
        "step_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median_step_s": {k: round(v, 3) for k, v in med.items()},
        "samples_per_s": {k: round(args.batch_size / v, 2) for k, v in med.items()},
        "speedup_recipe_vs_old": round(med["old"] / med["recipe"], 2),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "load_average": os.getloadavg(),
    }
    atomic_write_json(Path(args.out), result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

"""Speed of one training step: the recipe's (``edt train recipe``) in both precisions vs the old
stage 2, same process, with the CPU they ran on.

The steps train the ``smol`` bridge through the frozen SmolLM2-135M-Instruct on the *same*
batches (drawn from the recipe's question stream, train split):

- ``old``: the first round's stage 2 -- fp32 LLM, question-blind queries, answer loss only;
- ``recipe_fp32`` / ``recipe_bf16``: instruction-aware queries, token norm, answer loss, in
  fp32 (``--precision 32-true``) or under bf16 autocast around the forward (as
  ``--precision bf16-mixed`` does); one model, the two precisions alternating. (Results written
  before 0.2 also trained the removed fact heads' loss, ``recipe.aux_weight``.)

Which of the two ``edt train`` picks on this machine (:func:`edtformer.training.precision.
choose_precision`: native bf16 or a timing probe) is recorded beside the times, with the CPU
model, torch's CPU capability and the bf16 flags.

Steps alternate (old, recipe_fp32, recipe_bf16, old, ...) so that a load change on a shared
machine hits all alike; warm-up steps are not timed; medians are reported with their ratios.

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
from edtformer.training.precision import choose_precision, cpu_capability, cpu_name, native_cpu_bf16
from edtformer.training.recipe import RecipeCollator, RecipeModule, recipe_stream
from edtformer.training.runner import build_stage2_model
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"


def make(data: str, recipe: bool, seed: int) -> tuple[Any, RecipeModule]:
    """``(EDTFormer, module)`` of one variant (connector seeded alike)."""
    cfg = build_config("recipe", "smol")
    cfg = replace(cfg, data=replace(cfg.data, dir=data), run=replace(cfg.run, seed=seed))
    if not recipe:
        cfg.bridge = replace(cfg.bridge, instruction_aware=False, token_norm="0")
    torch.manual_seed(seed)
    model = build_stage2_model(cfg)
    module = RecipeModule(model)
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
    ap.add_argument("--no-old", action="store_true", help="time the recipe's two precisions only")
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
    variants: dict[str, tuple[RecipeModule, Any, list[Any], bool]] = {}
    plans = [("recipe", True)] if args.no_old else [("old", False), ("recipe", True)]
    for name, recipe in plans:
        model, module = make(args.data, recipe, args.seed)
        collate = RecipeCollator(model)
        batches = [collate(items[i::n]) for i in range(n)]
        opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-3)
        module.train()
        if recipe:  # one model, both precisions
            variants["recipe_fp32"] = (module, opt, batches, False)
            variants["recipe_bf16"] = (module, opt, batches, True)
        else:
            variants[name] = (module, opt, batches, False)
    times: dict[str, list[float]] = {k: [] for k in variants}
    for i in range(n):
        for name, (module, opt, batches, bf16) in variants.items():
            dt = step(module, opt, batches[i], bf16)
            if i >= args.warmup:
                times[name].append(dt)
    med = {k: statistics.median(v) for k, v in times.items()}
    chosen, reason = choose_precision(None)
    result = {
        "what": "one training step (forward, backward, clip, AdamW), smol bridge + frozen "
        "SmolLM2-135M-Instruct, batch of recipe questions (train split)",
        "batch_size": args.batch_size,
        "threads": args.threads,
        "seed": args.seed,
        "timed_steps": args.steps,
        "step_seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "median_step_s": {k: round(v, 3) for k, v in med.items()},
        "samples_per_s": {k: round(args.batch_size / v, 2) for k, v in med.items()},
        "bf16_vs_fp32_step_time": round(med["recipe_bf16"] / med["recipe_fp32"], 2),
        **(
            {"speedup_recipe_bf16_vs_old": round(med["old"] / med["recipe_bf16"], 2)}
            if "old" in med
            else {}
        ),
        "cpu": cpu_name(),
        "torch_cpu_capability": cpu_capability(),
        "native_bf16": native_cpu_bf16(),
        "edt_train_chooses": {"precision": chosen, "reason": reason},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
        "load_average": os.getloadavg(),
    }
    atomic_write_json(Path(args.out), result)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

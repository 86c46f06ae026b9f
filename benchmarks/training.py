"""Stage-2 training speed and peak memory: bridge only vs LoRA vs full fine-tuning (issue 5).

The paper claims EDT-Former trains ~3.5x faster with half the memory of standard fine-tuning.
This benchmark measures the same ratio for our stage 2 on one machine, in one invocation:

- ``bridge``: the default stage-2 model (:func:`~edtformer.training.runner.build_stage2_model`):
  connector trainable, LLM frozen, prefix KV cache on;
- ``lora``: the same model with LoRA adapters (``LoraSettings()`` defaults: r 8 on q/v; the prefix
  cache turns itself off because LLM parameters train);
- ``full``: standard fine-tuning. The library refuses ``llm_trainable=True`` on purpose, so *this
  benchmark only* builds the bridge model and then calls ``model.llm.requires_grad_(True)``; every
  LLM weight (tied embedding included) goes into the optimizer together with the connector.

Every mode sees the same stage-2 ``train`` records (tasks of ``STAGE2_DEFAULT_TASKS``, shuffled
with the seed), the same batches, the same connector initialisation (seeded), the embedded
SmolLM2-135M-Instruct and the default encoder. Node features come from the on-disk feature cache,
warmed by the parent before any child starts, and every batch is collated *before* timing: the
comparison is about the LLM side. A timed step is ``zero_grad -> forward -> backward -> grad clip
(1.0) -> AdamW step``, as in :func:`edtformer.training.engine.fit`; warm-up steps (which also build
the prefix cache) are not timed; the statistic is the median step time.

Each mode runs in its own child process (this script with ``--mode X``) so that its peak memory
is its own: on CPU the child reports ``ru_maxrss`` (peak RSS of the whole process, model loading
included) and the peak RSS *during training* above the RSS of the loaded model with its collated
batches (``VmHWM`` reset through ``/proc/self/clear_refs`` after loading; ``tracemalloc`` does
not see torch's allocator); on CUDA, ``torch.cuda.max_memory_allocated``. The parent runs the
three children one after the other and reports ratios against ``full``.

    python benchmarks/training.py --data data_out   # writes benchmarks/results/training.{json,md}
    python benchmarks/training.py                   # builds a tiny dataset in a temp dir first
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).resolve().parent / "results"
MODES = ("bridge", "lora", "full")
#: What each mode trains, for the report.
MODE_TEXT = {
    "bridge": "connector only; LLM frozen; prefix KV cache",
    "lora": "connector + LoRA r=8 on q_proj/v_proj; no prefix cache",
    "full": "connector + every LLM weight (benchmark-only); no prefix cache",
}


# -- the pieces a child (and the unit test) runs ------------------------------------------------
def bench_config(
    data_dir: str | Path,
    batch_size: int,
    n_samples: int,
    seed: int = 0,
    llm: str | None = None,
    encoder: str = "minimol",
    preset: str = "smol",
    patch_rule: str = "combine",
    cache_dir: str | Path | None = None,
) -> Any:
    """The :class:`~edtformer.training.config.TrainConfig` of the stage-2 run being measured."""
    from edtformer.llm.loading import DEFAULT_LLM
    from edtformer.training.config import (
        DataSection,
        ModelSection,
        OptimSection,
        RunSection,
        TrainConfig,
    )

    return TrainConfig(
        stage="stage2",
        model=ModelSection(
            preset=preset,
            llm=llm or DEFAULT_LLM,
            encoders=tuple(e for e in encoder.split(",") if e),
            patch_rule=patch_rule,
        ),
        optim=OptimSection(batch_size=batch_size),
        data=DataSection(
            dir=str(data_dir),
            max_train_samples=n_samples,
            cache_dir=str(cache_dir) if cache_dir is not None else None,
        ),
        run=RunSection(seed=seed),
    )


def build_mode(mode: str, cfg: Any) -> Any:
    """The stage-2 :class:`~edtformer.model.EDTFormer` for ``mode`` (connector seeded alike)."""
    from dataclasses import replace

    from edtformer.training.runner import build_stage2_model

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    lora = replace(cfg.lora, r=8) if mode == "lora" else cfg.lora
    torch.manual_seed(cfg.run.seed)
    model = build_stage2_model(replace(cfg, lora=lora))
    if mode == "full":
        # Standard fine-tuning, for this comparison only (TrainableConfig refuses it on purpose).
        model.llm.requires_grad_(True)
    return model


def make_optimizer(model: torch.nn.Module, lr: float = 1e-4) -> torch.optim.AdamW:
    """AdamW over exactly the parameters that require grad (as :func:`~edtformer.training.engine.fit`)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.05)


def train_step(model: Any, optimizer: torch.optim.Optimizer, batch: Any) -> float:
    """One optimizer step on ``batch``: forward, backward, grad clip 1.0, AdamW. Returns the loss."""
    optimizer.zero_grad(set_to_none=True)
    out = model(batch)
    if out.loss is None:
        raise ValueError("stage-2 batch has no assistant tokens to learn from")
    out.loss.backward()
    params = [p for g in optimizer.param_groups for p in g["params"]]
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    return float(out.loss.detach())


def collate_batches(model: Any, cfg: Any, n_batches: int) -> tuple[list[Any], list[float]]:
    """The first ``n_batches`` batches of the seeded train records, and seconds per collate."""
    from edtformer.training.build import load_records
    from edtformer.training.runner import STAGE2_DEFAULT_TASKS
    from edtformer.training.stage2 import Stage2Collator, record_to_sample

    samples = [record_to_sample(r) for r in load_records(cfg, STAGE2_DEFAULT_TASKS, "train")]
    need = n_batches * cfg.optim.batch_size
    if len(samples) < need:
        raise ValueError(f"{cfg.data.dir} has {len(samples)} stage-2 train records; need {need}")
    collate = Stage2Collator(model)
    batches, seconds = [], []
    for i in range(n_batches):
        t0 = time.perf_counter()
        batches.append(collate(samples[i * cfg.optim.batch_size : (i + 1) * cfg.optim.batch_size]))
        seconds.append(time.perf_counter() - t0)
    return batches, seconds


# -- memory -------------------------------------------------------------------------------------
def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (``VmHWM``) of this process; False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _mib(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


# -- one mode (child process) -------------------------------------------------------------------
def run_mode(args: argparse.Namespace) -> dict[str, Any]:
    """Build ``args.mode``'s model, collate, warm up, time ``args.steps`` steps; memory and speed."""
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cfg = bench_config(
        args.data, args.batch_size, (args.warmup + args.steps) * args.batch_size, args.seed
    )
    model = build_mode(args.mode, cfg).to(device)
    batches, collate_s = collate_batches(model, cfg, args.warmup + args.steps)
    optimizer = make_optimizer(model)
    counts = model.parameter_counts()
    n_train = sum(p.numel() for g in optimizer.param_groups for p in g["params"])
    cuda = device.type == "cuda"
    rss_loaded = _status_kb("VmRSS")
    load_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; reset below
    hwm_reset = _reset_peak_rss()
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    model.train()
    torch.manual_seed(args.seed)
    losses, step_s = [], []
    for i, batch in enumerate(batches):
        t0 = time.perf_counter()
        losses.append(train_step(model, optimizer, batch))
        if cuda:
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        if i >= args.warmup:
            step_s.append(dt)
        tag = "timed" if i >= args.warmup else "warm-up"
        print(f"{args.mode} step {i + 1}/{len(batches)} ({tag}): {dt:.1f} s", file=sys.stderr)
    peak_train = _status_kb("VmHWM") if hwm_reset else None
    median = statistics.median(step_s)
    lengths = [int(b.input_ids.shape[1]) for b in batches]
    result: dict[str, Any] = {
        "mode": args.mode,
        "trains": MODE_TEXT[args.mode],
        "optimizer_parameters": n_train,
        "model_parameters": counts.trainable + counts.frozen,
        "prefix_cache": model.prefix_cache.cache is not None,
        "n_prefix_tokens": int(batches[0].n_prefix),
        "padded_lengths": lengths,
        "mean_real_tokens": round(
            statistics.mean(float(b.attention_mask.sum(dim=1).float().mean()) for b in batches), 1
        ),
        "mean_molecule_tokens": round(
            statistics.mean(float(b.mol_counts.float().mean()) for b in batches), 1
        ),
        "step_s": [round(s, 4) for s in step_s],
        "median_step_s": round(median, 4),
        "samples_per_s": round(args.batch_size / median, 3),
        "median_collate_s": round(statistics.median(collate_s), 4),
        "losses": [round(x, 4) for x in losses],
        # the clear_refs reset also lowers ru_maxrss: the whole-process peak is the larger of both
        "peak_rss_mib": _mib(max(load_peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)),
        "load_peak_rss_mib": _mib(load_peak),
        "loaded_rss_mib": _mib(rss_loaded),
        "train_peak_rss_mib": _mib(peak_train),
        "train_rss_delta_mib": (
            _mib(peak_train - rss_loaded) if peak_train is not None and rss_loaded else None
        ),
    }
    if cuda:
        result["cuda_peak_allocated_mib"] = round(
            torch.cuda.max_memory_allocated(device) / 2**20, 1
        )
    return result


# -- the parent: data, warm cache, three children, table ---------------------------------------
def warm_features(data_dir: str, args: argparse.Namespace) -> dict[str, Any]:
    """Fill the node-feature cache for every benchmark molecule and convert the LLM (untimed)."""
    from edtformer.chem import parse_smiles
    from edtformer.llm.loading import resolve_llm
    from edtformer.training.build import build_processor, load_records
    from edtformer.training.runner import STAGE2_DEFAULT_TASKS

    resolve_llm(bench_config(data_dir, 1, 1).model.llm)
    cfg = bench_config(data_dir, args.batch_size, (args.warmup + args.steps) * args.batch_size)
    records = load_records(cfg, STAGE2_DEFAULT_TASKS, "train")
    processor, _ = build_processor(cfg, uses_patches=False)
    t0 = time.perf_counter()
    mols = [parse_smiles(s) for r in records for s in r["smiles"]]
    for enc in processor.encoders:
        enc.cache.encode_many(mols)
    return {
        "records": len(records),
        "molecules": len(mols),
        "tasks": {t: sum(r["task"] == t for r in records) for t in STAGE2_DEFAULT_TASKS},
        "warm_s": round(time.perf_counter() - t0, 2),
    }


def machine() -> dict[str, Any]:
    """nproc, CPU model, torch, platform."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def child(mode: str, data_dir: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Run one mode in a fresh interpreter and read back its JSON."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--mode", mode, "--data", data_dir, "--child-out", str(out),
        "--steps", str(args.steps), "--warmup", str(args.warmup),
        "--batch-size", str(args.batch_size), "--threads", str(args.threads),
        "--device", args.device, "--seed", str(args.seed),
    ]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    result = json.loads(out.read_text())
    result["child_wall_s"] = round(time.perf_counter() - t0, 1)
    print(f"{mode}: {result['samples_per_s']} samples/s, peak RSS {result['peak_rss_mib']} MiB")
    return result


def report(result: dict[str, Any]) -> str:
    """Markdown summary of the three modes with ratios against ``full``."""
    rows, m, a = result["modes"], result["machine"], result["args"]
    r0 = rows["bridge"]
    lines = [
        "# Stage-2 training: bridge only vs LoRA vs full fine-tuning (benchmarks/training.py)",
        "",
        f"{result['llm']} (fp32) + {result['encoder']} features (cached) + `smol` bridge; "
        f"{a['device']}, {a['threads']} torch threads; batch {a['batch_size']}, "
        f"{a['warmup']} warm-up + {a['steps']} timed AdamW steps per mode, median step time; "
        f"seed {a['seed']}; stage-2 `train` records of {result['data']['tasks']} "
        f"from `{result['data']['dir']}`.",
        f"Prompts: {r0['n_prefix_tokens']} constant prefix tokens, on average "
        f"{r0['mean_real_tokens']} real tokens ({r0['mean_molecule_tokens']} molecule tokens) per "
        f"sample, padded batch lengths {min(r0['padded_lengths'])}-{max(r0['padded_lengths'])}.",
        f"Machine: {m['nproc']} CPUs, {m['cpu']}, torch {m['torch']}; load average "
        f"{result['loadavg_before'][0]:.1f} before / {result['loadavg_after'][0]:.1f} after "
        "(shared machine: absolute numbers are contended; the ratios are the result).",
        "",
        "| mode | trains | trained params | samples/s | speed vs full | peak RSS (MiB) "
        "| memory vs full | RSS rise in training (MiB) | rise vs full |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        r = rows[mode]
        lines.append(
            f"| {mode} | {r['trains']} | {r['optimizer_parameters']:,} | {r['samples_per_s']:.2f} "
            f"| {r['speed_vs_full']:.2f}x | {r['peak_rss_mib']:,.0f} | {r['memory_vs_full']:.2f} "
            f"| {r['train_rss_delta_mib'] or 0:,.0f} | {r.get('delta_vs_full') or 0:.2f} |"
        )
    t = result["target"]
    lines += [
        "",
        f"Target (issue 5): bridge-only >= 2x the samples/s of full fine-tuning with <= 60 % of its "
        f"peak memory. Measured: {t['speed_ratio']:.2f}x and {100 * t['memory_ratio']:.0f} % "
        f"-> {'met' if t['met'] else 'missed'}.",
        f"Collating a batch (warm feature cache, entropy patches, tokenising) takes "
        f"{r0['median_collate_s']:.2f} s in every mode and is not in the step time; end to end "
        f"that is {result['end_to_end_samples_per_s']['bridge']:.2f} vs "
        f"{result['end_to_end_samples_per_s']['full']:.2f} samples/s (bridge vs full).",
        f"Under contention the median is noisy; the fastest timed step (least contended) is "
        f"{min(r0['step_s']):.1f} s bridge vs {min(rows['full']['step_s']):.1f} s full "
        f"({min(rows['full']['step_s']) / min(r0['step_s']):.2f}x).",
        "Peak RSS is the child's whole-process `ru_maxrss` (model loading included); the RSS rise "
        "is the peak during the timed loop above the loaded model with its batches. Each mode "
        "runs in its own child process; `full` is benchmark-only (the library refuses "
        "`llm_trainable=True`).",
        "",
    ]
    if "cuda_peak_allocated_mib" in r0:
        cuda = ", ".join(f"{k} {rows[k]['cuda_peak_allocated_mib']:,.0f}" for k in MODES)
        lines.insert(
            -1, f"On CUDA, 'memory vs full' is `torch.cuda.max_memory_allocated` (MiB: {cuda})."
        )
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> None:
    """Parent: data (built if needed), warm cache, one child per mode, results files."""
    from edtformer.utils.io import atomic_write_json, atomic_write_text

    with tempfile.TemporaryDirectory(prefix="edt-train-bench-") as tmp:
        data_dir = args.data
        if data_dir is None:
            from edtformer.data import build_datasets, preset

            data_dir = str(Path(tmp) / "data")
            build_datasets(data_dir, preset("tiny", seed=args.seed))
        warm = warm_features(data_dir, args)
        load_before = os.getloadavg()
        modes = {m: child(m, data_dir, args, Path(tmp) / f"{m}.json") for m in MODES}
        load_after = os.getloadavg()
    full = modes["full"]
    for r in modes.values():
        r["speed_vs_full"] = round(r["samples_per_s"] / full["samples_per_s"], 3)
        r["memory_vs_full"] = round(r["peak_rss_mib"] / full["peak_rss_mib"], 3)
        if r["train_rss_delta_mib"] and full["train_rss_delta_mib"]:
            r["delta_vs_full"] = round(r["train_rss_delta_mib"] / full["train_rss_delta_mib"], 3)
        if "cuda_peak_allocated_mib" in r:
            r["memory_vs_full"] = round(
                r["cuda_peak_allocated_mib"] / full["cuda_peak_allocated_mib"], 3
            )
    bridge = modes["bridge"]
    speed, memory = bridge["speed_vs_full"], bridge["memory_vs_full"]
    from edtformer.llm.loading import DEFAULT_LLM

    result = {
        "benchmark": "training",
        "llm": DEFAULT_LLM,
        "encoder": "minimol",
        "bridge_preset": "smol",
        "patch_rule": "combine",
        "split": "train",
        "data": {"dir": args.data or "tiny preset (temp dir)", **warm},
        "args": {k: v for k, v in vars(args).items() if k not in ("mode", "child_out", "out")},
        "machine": machine(),
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "modes": modes,
        "end_to_end_samples_per_s": {
            m: round(args.batch_size / (r["median_step_s"] + r["median_collate_s"]), 3)
            for m, r in modes.items()
        },
        "target": {
            "speed_ratio": speed,
            "memory_ratio": memory,
            "met": speed >= 2.0 and memory <= 0.6,
            "claim": "bridge-only >= 2x samples/s of full fine-tuning, <= 60 % of its peak memory",
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out.with_suffix(".json"), result)
    text = report(result)
    atomic_write_text(out.with_suffix(".md"), text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="built dataset (default: build tiny in tmp)")
    parser.add_argument("--steps", type=int, default=5, help="timed optimizer steps per mode")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS / "training.json"), help="json; .md beside")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode is None:
        orchestrate(args)
        return
    Path(args.child_out).write_text(json.dumps(run_mode(args)))


if __name__ == "__main__":
    main()

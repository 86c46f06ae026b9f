"""``edt train [stage1|stage2|all]``: train the bridge (encoder and LLM frozen).

Configuration = preset < ``--config FILE.yaml`` (or a shipped recipe's name) < the shortcut flags <
``--set section.key=value`` (the sections and keys: :mod:`edtformer.training.config`;
``--print-config`` shows them). ``recipe`` reads the shipped recipe ``default``
(``src/edtformer/recipes/default.yaml``, what ``make model`` trains) unless ``--config`` names
another or ``--preset`` names a starting point (then the bare stage at that preset). ``all`` runs stage 1, then stage 2 starting from stage 1's final bridge.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Shortcut flags -> TrainConfig options (``section.key``).
_SHORTCUTS = {
    "data": "data.dir",
    "out": "run.out_dir",
    "devices": "run.devices",
    "accelerator": "run.accelerator",
    "strategy": "run.strategy",
    "precision": "run.precision",
    "max_steps": "optim.max_steps",
    "batch_size": "optim.batch_size",
    "lr": "optim.lr",
    "seed": "run.seed",
    "llm": "model.llm",
    "encoder": "model.encoders",
    "connector": "bridge.connector",
    "patch_rule": "model.patch_rule",
    "init_from": "model.init_from",
}


def register(sub: Any) -> None:
    """Add ``edt train``."""
    p = sub.add_parser("train", help="train the bridge: stage 1 (vs text), stage 2 (frozen LLM)")
    p.add_argument(
        "stage",
        nargs="?",
        default="all",
        choices=["stage1", "stage2", "all", "recipe", "export"],
        help="recipe: the shipped default bridge's recipe (--config default: the fact sheet in "
        "every prompt, sheet questions, LoRA r=8); export: write --out's latest stage-2 "
        "checkpoint as a model folder (--to DIR)",
    )
    p.add_argument("--to", help="with export: the model folder to write")
    p.add_argument(
        "--preset",
        default=None,
        help="tiny | smol | paper (default smol); with the recipe stage and no --config, a preset "
        "named here starts from the bare stage at that preset instead of the shipped recipe",
    )
    p.add_argument(
        "--config",
        help="a shipped recipe's name (default; the recipe stage's default) or a YAML file with "
        "TrainConfig sections (the layout --print-config shows)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one option, e.g. optim.lr=3e-4 or bridge.instruction_aware=false",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the resolved config (YAML) of each stage and exit without training",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its latest checkpoint"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--data", help="dataset folder from `edt data build` (default data_out)")
    p.add_argument("--out", help="run folder (default runs/<stage>)")
    p.add_argument("--devices", type=int)
    p.add_argument("--accelerator", help="cpu | gpu | auto")
    p.add_argument(
        "--strategy", help="auto | ddp | fsdp | deepspeed (needs: pip install deepspeed)"
    )
    p.add_argument(
        "--precision",
        help="auto | 32-true | bf16-mixed | 16-mixed ... (default: the preset's; a preset's "
        "bf16-mixed is chosen by the hardware: bf16 only on a GPU with bf16 or a CPU with native "
        "bf16 or where a timing probe finds it faster, else 32-true)",
    )
    p.add_argument("--max-steps")
    p.add_argument("--batch-size")
    p.add_argument("--lr")
    p.add_argument("--seed")
    p.add_argument("--llm", help="frozen LLM: default, hub id or local folder")
    p.add_argument("--encoder", help="frozen encoder name(s), comma-separated to fuse")
    p.add_argument("--connector", help="edt | anchors_only | dynamic_only | mlp | none")
    p.add_argument("--patch-rule", help="quantile | threshold | monotonic | brics | combine")
    p.add_argument("--init-from", help="bridge folder to start from")
    p.set_defaults(func=run)


def _config(args: argparse.Namespace, stage: str, out_default: str) -> Any:
    from edtformer.training.config import build_config
    from edtformer.training.precision import AUTO

    overrides = [f"run.out_dir={out_default}"] if args.out is None else []
    for flag, field in _SHORTCUTS.items():
        value = getattr(args, flag)
        if value is not None:
            overrides.append(f"{field}={value}")
    named = stage == "recipe" and args.config is None and args.preset is None
    config = "default" if named else args.config  # `edt train recipe`: the shipped recipe
    cfg = build_config(stage, args.preset or "smol", config, [*overrides, *args.set])
    if cfg.run.precision == "bf16-mixed" and not _precision_given(args):
        cfg.run.precision = AUTO  # the preset assumed bf16: the hardware decides (make_fabric)
    return cfg


def _precision_given(args: argparse.Namespace) -> bool:
    """Whether the user named the precision (``--precision``, ``--set run.precision=...`` or
    ``run.precision`` in ``--config``): then it is honoured as given."""
    from edtformer.training.config import read_config_file

    if args.precision is not None:
        return True
    if any(item.split("=", 1)[0].strip() == "run.precision" for item in args.set):
        return True
    if args.config:
        run = read_config_file(args.config).get("run") or {}
        return isinstance(run, dict) and run.get("precision") not in (None, "auto")
    return False


def run(args: argparse.Namespace) -> int:
    """Run the requested stage(s); print where the trained bridge went."""
    if args.stage == "export":
        from edtformer.errors import EdtError
        from edtformer.training.runner import export_stage2

        if not args.out or not args.to:
            raise EdtError("export needs --out RUN_DIR (a stage-2 run) and --to MODEL_DIR")
        print(f"model written to {export_stage2(Path(args.out), Path(args.to))}")
        return 0
    base = Path(args.out) if args.out else Path("runs") / (args.preset or "smol")
    stages = ["stage1", "stage2"] if args.stage == "all" else [args.stage]
    configs = []
    for stage in stages:  # every stage's config is checked before any training starts
        out = base / stage if args.stage == "all" else base
        cfg = _config(args, stage, str(out))
        cfg.run.out_dir = str(out)
        if stage == "stage2" and args.stage == "all" and args.init_from is None:
            cfg.model.init_from = str(base / "stage1" / "final")
        configs.append(cfg)
    if args.print_config:
        import yaml

        print("---\n".join(yaml.safe_dump(c.to_dict(), sort_keys=False) for c in configs), end="")
        return 0
    from edtformer.training.recipe import run_recipe
    from edtformer.training.runner import run_stage1

    for stage, cfg in zip(stages, configs, strict=True):
        out = Path(cfg.run.out_dir)
        runner = run_stage1 if stage == "stage1" else run_recipe  # stage2 and recipe: one runner
        result = runner(cfg, resume=args.resume, progress=not args.no_progress)
        previous = out / "final"
        first = result.losses[0] if result.losses else float("nan")
        last = result.losses[-1] if result.losses else float("nan")
        if result.is_rank_zero:
            print(
                f"{stage}: {result.steps} steps, loss {first:.4f} -> {last:.4f}, "
                f"{result.samples_per_s:.1f} samples/s; bridge saved to {previous}"
            )
    return 0

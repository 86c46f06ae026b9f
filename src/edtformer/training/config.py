"""Training configuration: one dataclass, named presets, YAML files and ``key=value`` overrides.

Precedence (lowest to highest): dataclass defaults < preset < YAML file < CLI overrides.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edtformer.errors import EdtError

CONFIG_FORMAT_VERSION = 1


@dataclass
class TrainConfig:
    """Everything a training run needs; saved next to its checkpoints."""

    stage: str = "stage2"
    """Which stage: ``stage1`` (bridge vs text, encoder frozen) or ``stage2`` (frozen LLM attached)."""
    preset: str = "smol"
    """Bridge size preset (``tiny``, ``smol``, ``paper``)."""
    data_dir: str = "data_out"
    """Folder written by ``edt data build``."""
    tasks: list[str] = field(default_factory=list)
    """Task names to train on (empty: every task of the stage)."""
    out_dir: str = "runs/default"
    """Run folder: checkpoints, metrics, the final bridge."""
    init_from: str | None = None
    """A bridge folder to start from (stage 2 starts from a stage-1 checkpoint)."""
    encoder: str = "minimol"
    """Frozen graph encoder name(s), comma-separated for fused streams."""
    llm: str = "smollm2-135m-instruct"
    """Frozen LLM: ``smollm2-135m-instruct`` (embedded default), a hub id or a local folder."""
    connector: str = "edt"
    """Connector variant (``edt``, ``anchors_only``, ``dynamic_only``, ``mlp``, ``none``)."""
    patch_rule: str = "combine"
    """Patching rule for dynamic tokens."""
    max_steps: int = 1000
    """Optimizer steps to run (the run ends there)."""
    batch_size: int = 16
    """Samples per optimizer step per device (before accumulation)."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""
    lr: float = 1e-4
    """Peak learning rate (AdamW)."""
    weight_decay: float = 0.05
    """AdamW weight decay."""
    warmup_steps: int = 50
    """Linear warm-up steps before cosine decay."""
    min_lr_ratio: float = 0.1
    """Cosine decays to ``lr * min_lr_ratio``."""
    grad_clip: float = 1.0
    """Gradient norm clip (0 disables)."""
    seed: int = 0
    """Seed for weights, data order and dropout."""
    devices: int = 1
    """Processes / GPUs."""
    accelerator: str = "auto"
    """``cpu``, ``gpu``/``cuda`` or ``auto``."""
    strategy: str = "auto"
    """``auto``, ``ddp``, ``fsdp`` or ``deepspeed``."""
    precision: str = "32-true"
    """Lightning precision string (``32-true``, ``bf16-mixed``, ``16-mixed``, ...)."""
    log_every: int = 10
    """Log metrics every N steps."""
    ckpt_every: int = 200
    """Write a resumable checkpoint every N steps (and at the end)."""
    keep_checkpoints: int = 2
    """How many step checkpoints to keep."""
    loggers: list[str] = field(default_factory=lambda: ["csv"])
    """Metric loggers: ``csv`` and/or ``tensorboard``."""
    max_train_samples: int | None = None
    """Cap on training samples (after the split), for quick runs."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Stage-specific options (loss weights, temperature, ...)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict with a format version."""
        out = dataclasses.asdict(self)
        out["format_version"] = CONFIG_FORMAT_VERSION
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise an error naming them."""
        data = {k: v for k, v in data.items() if k != "format_version"}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise EdtError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


def _preset_tiny(cfg: TrainConfig) -> None:
    cfg.preset, cfg.batch_size, cfg.max_steps, cfg.warmup_steps = "tiny", 4, 20, 2
    cfg.log_every, cfg.ckpt_every, cfg.encoder = 1, 10, "random"


#: Training stages: ``recipe`` is the default bridge's one-stage recipe (:mod:`.recipe`).
STAGES: tuple[str, ...] = ("stage1", "stage2", "recipe")


def _preset_smol(cfg: TrainConfig) -> None:
    cfg.preset, cfg.batch_size, cfg.warmup_steps = "smol", 16, 30
    cfg.max_steps = 600 if cfg.stage == "stage2" else 1500
    cfg.lr = 3e-4 if cfg.stage == "stage2" else 1e-4
    if cfg.stage == "recipe":  # the shipped default (see README: "The default bridge")
        cfg.batch_size, cfg.lr, cfg.warmup_steps, cfg.max_steps = 8, 1e-3, 50, 1200
        cfg.ckpt_every, cfg.log_every = 100, 10
        # bf16 autocast: the frozen LLM's forward + backward ran 1.7x faster than fp32 on an
        # AVX512-BF16 CPU, gradient cosine to fp32 0.97-0.99; evaluation stays fp32
        cfg.precision = "bf16-mixed"


def _preset_paper(cfg: TrainConfig) -> None:
    # Reference: stage 1 15 epochs lr 1e-4 cosine wd 0.05; stage 2 2 epochs lr 1e-4.
    cfg.preset, cfg.batch_size, cfg.lr, cfg.weight_decay = "paper", 32, 1e-4, 0.05
    cfg.precision, cfg.accelerator, cfg.warmup_steps = "bf16-mixed", "gpu", 1000
    cfg.max_steps = 100_000 if cfg.stage == "stage1" else 30_000
    cfg.loggers = ["csv", "tensorboard"]


PRESETS: dict[str, Callable[[TrainConfig], None]] = {
    "tiny": _preset_tiny,
    "smol": _preset_smol,
    "paper": _preset_paper,
}


def coerce_value(name: str, raw: str, current: Any) -> Any:
    """Parse a CLI override value to the type of the field's current value."""
    if isinstance(current, bool):
        if raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if raw.lower() in {"0", "false", "no", "off"}:
            return False
        raise EdtError(f"option {name}: expected true/false, got {raw!r}")
    if isinstance(current, list):
        return [x for x in raw.split(",") if x]
    if isinstance(current, dict):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise EdtError(f"option {name}: expected a JSON object, got {raw!r}") from exc
    try:
        if isinstance(current, int):
            return int(raw)
        if isinstance(current, float):
            return float(raw)
    except ValueError as exc:
        raise EdtError(f"option {name}: expected {type(current).__name__}, got {raw!r}") from exc
    if isinstance(current, str):
        return raw  # a string field keeps "none" (e.g. connector=none, the SMILES-only baseline)
    if raw.lower() in {"none", "null"}:
        return None
    # Optional numeric fields (default None): try int, float, then keep the string.
    for cast in (int, float):
        try:
            return cast(raw)
        except ValueError:
            pass
    return raw


def build_config(
    stage: str,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> TrainConfig:
    """Compose defaults, a preset, an optional YAML file and ``key=value`` overrides.

    Raises:
        EdtError: unknown preset, unreadable file, unknown key or badly typed value.
    """
    cfg = TrainConfig(stage=stage)
    if preset is not None:
        if preset not in PRESETS:
            raise EdtError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        PRESETS[preset](cfg)
    if config_file is not None:
        import yaml

        path = Path(config_file)
        if not path.is_file():
            raise EdtError(f"config file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise EdtError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise EdtError(f"config file {path}: expected a mapping at top level")
        if "preset" in data and data["preset"] in PRESETS:
            PRESETS[data["preset"]](cfg)
        merged = {**cfg.to_dict(), **data, "stage": stage}
        cfg = TrainConfig.from_dict(merged)
    known = {f.name: f for f in fields(TrainConfig)}
    for item in overrides:
        if "=" not in item:
            raise EdtError(f"override {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if key.startswith("extra."):
            cfg.extra[key[len("extra.") :]] = coerce_value(key, raw, None)
            continue
        if key not in known:
            raise EdtError(f"unknown training option {key!r}; known: {sorted(known)}")
        setattr(cfg, key, coerce_value(key, raw, getattr(cfg, key)))
    if cfg.stage not in STAGES:
        raise EdtError(f"stage must be one of {', '.join(STAGES)}, got {cfg.stage!r}")
    return cfg

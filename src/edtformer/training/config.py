"""Training configuration: typed nested sections, named presets, YAML files and dotted overrides.

Precedence (lowest to highest): dataclass defaults < preset < YAML file < CLI overrides.

A :class:`TrainConfig` has one section per concern::

    stage                        stage1 | stage2 | recipe
    model.*    ModelSection      what is built: size preset, encoders, LLM, patch rule, start
    bridge.*   BridgeSection     the bridge's options (BridgeConfig's fields, passed straight on)
    optim.*    OptimSection      steps, batch, AdamW, schedule
    data.*     DataSection       dataset folder, tasks, sample cap, feature cache
    run.*      RunSection        run folder, seed, devices, precision, logging, checkpoints
    stage1.*   Stage1Section     stage 1's text tower and loss weights
    lora.*     LoraSection       LoRA adapters on the frozen LLM (``r = 0``: none)
    recipe.*   RecipeSection     the levers of ``edt train recipe``

``--set section.key=value`` parses ``value`` to the field's declared type (``bool`` takes
true/false/1/0/yes/no/on/off and nothing else) and rejects unknown keys with the list of known
ones; :meth:`TrainConfig.validate` refuses values no run can use (non-positive steps, batch
sizes or learning rates, NaN) before any work.

Why plain dataclasses rather than pydantic or jsonargparse: the field types here are a handful
of scalars, optional scalars, string tuples and one ``dict[str, float]``; the parser for those
is ~60 lines, keeps ``import edtformer`` free of another core dependency (pydantic is not one
today; jsonargparse would also take over the ``edt`` CLI, which is plain argparse with one
sub-command per module), and reads old ``config.json`` files of earlier runs through explicit
tables (:mod:`.compat`: :data:`LEGACY_KEYS`, :data:`MOVED_KEYS`, :data:`RETIRED_KEYS`). The cost
is a small type switch (:mod:`.options`). The sections themselves are in :mod:`.sections`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from edtformer.errors import EdtError
from edtformer.training.compat import (
    LEGACY_EXTRA,
    LEGACY_KEYS,
    MOVED_KEYS,
    RETIRED_KEYS,
    RETIRED_OFF,
    legacy_to_nested,
    move_old_keys,
    retired_off,
    unknown_option,
)
from edtformer.training.options import check_value, parse_text, plain
from edtformer.training.sections import (
    RECIPE_BRIDGE,
    SECTIONS,
    STAGE1_CONNECTORS,
    STAGES,
    BridgeSection,
    DataSection,
    LoraSection,
    ModelSection,
    OptimSection,
    RecipeSection,
    RunSection,
    Stage1Section,
    field_type,
    known_keys,
)

logger = logging.getLogger(__name__)

#: ``recipe.sheet_lines`` values (``edtformer.model.configuration.SHEET_LINE_MODES``, written
#: out so that reading a config does not import the model; a test keeps them equal).
RECIPE_SHEET_LINES = ("question", "facts", "all")

#: 1: flat fields + an untyped ``extra`` dict (read through :data:`LEGACY_KEYS`); 2: sections;
#: 3: the ``bridge`` section (2 is read with :data:`MOVED_KEYS` moved into it).
CONFIG_FORMAT_VERSION = 3

#: Text fields that a YAML or JSON file may give as a number (stored as its text).
_NUMBER_AS_TEXT: tuple[str, ...] = ("bridge.token_norm",)


@dataclass
class TrainConfig:
    """Everything a training run needs; saved next to its checkpoints (``config.json``).

    A ``recipe`` config starts with the bridge options of :data:`RECIPE_BRIDGE` where its
    ``bridge`` section leaves them ``None`` (set the stage when the config is made).
    """

    stage: str = "stage2"
    """Which stage: ``stage1`` (bridge vs text), ``stage2`` (frozen LLM attached) or ``recipe``."""
    model: ModelSection = field(default_factory=ModelSection)
    bridge: BridgeSection = field(default_factory=BridgeSection)
    optim: OptimSection = field(default_factory=OptimSection)
    data: DataSection = field(default_factory=DataSection)
    run: RunSection = field(default_factory=RunSection)
    stage1: Stage1Section = field(default_factory=Stage1Section)
    lora: LoraSection = field(default_factory=LoraSection)
    recipe: RecipeSection = field(default_factory=RecipeSection)

    def __post_init__(self) -> None:
        if self.stage == "recipe":
            for name, value in RECIPE_BRIDGE.items():
                if getattr(self.bridge, name) is None:
                    setattr(self.bridge, name, value)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able nested dict (tuples as lists) with a format version."""
        out = plain(dataclasses.asdict(self))
        out["format_version"] = CONFIG_FORMAT_VERSION
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; also reads format 2 (:data:`MOVED_KEYS` moved into the
        ``bridge`` section) and the flat format 1 of earlier runs.

        Raises:
            EdtError: an unknown key (the message lists the known ones) or a badly typed value.
        """
        data = dict(data)
        version = data.pop("format_version", None)
        if version == 1 or (version is None and not set(data) <= {"stage", *SECTIONS}):
            data = legacy_to_nested(data)
        elif version not in (None, 2, CONFIG_FORMAT_VERSION):
            raise EdtError(
                f"training config format_version {version!r} is not supported "
                f"(this edtformer reads 1 to {CONFIG_FORMAT_VERSION})"
            )
        data = move_old_keys(data)
        cfg = cls(stage=check_value("stage", data.pop("stage", "stage2"), str))
        for key, value in data.items():
            if key not in SECTIONS:
                raise EdtError(f"unknown training config section {key!r}; known: {list(SECTIONS)}")
            if not isinstance(value, Mapping):
                raise EdtError(
                    f"training config section {key!r}: expected a mapping, got {value!r}"
                )
            for sub, item in value.items():
                name = f"{key}.{sub}"
                if _skip_retired(name, item):
                    continue
                if isinstance(item, Mapping) and any(f"{name}.{k}" in RETIRED_KEYS for k in item):
                    # retired items of a dict option (recipe.kind_weights.struct_mc_text)
                    item = {k: v for k, v in item.items() if not _skip_retired(f"{name}.{k}", v)}
                set_option(cfg, name, item)
        return cfg

    def validate(self) -> TrainConfig:
        """Refuse values no run can use, all problems in one line; returns ``self``.

        Raises:
            EdtError: e.g. ``optim.max_steps must be >= 1, got 0``.
        """
        problems = _problems(self)
        if problems:
            raise EdtError("bad training config: " + "; ".join(problems))
        return self


def _skip_retired(key: str, value: Any) -> bool:
    """True if a saved config's ``key`` is retired (:data:`RETIRED_KEYS`): it is then skipped,
    with a warning unless ``value`` is off (:data:`RETIRED_OFF`)."""
    if key not in RETIRED_KEYS:
        return False
    logger.log(
        logging.DEBUG if retired_off(key, value) else logging.WARNING,
        "training config: %s=%r ignored (%s)",
        key, value, RETIRED_KEYS[key],
    )  # fmt: skip
    return True


def _resolve(cfg: TrainConfig, key: str) -> tuple[Any, str, Any, str | None]:
    """``(section object, field name, declared type, dict item or None)`` of a dotted ``key``."""
    hint, item = field_type(key, unknown_option)
    section, name = key.split(".")[:2]
    return getattr(cfg, section), name, hint, item


def _moved(key: str) -> str:
    """``key``, or the key it moved to (:data:`MOVED_KEYS`), with a warning that names it."""
    new = MOVED_KEYS.get(key)
    if new is None:
        return key
    logger.warning("training option %s is now %s (set that one)", key, new)
    return new


def set_option(cfg: TrainConfig, key: str, value: Any, from_text: bool = False) -> None:
    """Set dotted option ``key`` (``section.field`` or ``recipe.kind_weights.KIND``) on ``cfg``.

    ``value`` is type-checked against the field's declared type; with ``from_text`` it is a
    command-line string parsed to that type first.

    A retired switch set off (:data:`RETIRED_OFF`) is accepted and changes nothing; a moved
    option (:data:`MOVED_KEYS`) sets its new key, with a warning.

    Raises:
        EdtError: unknown key (with the known ones; a retired key with why it is gone) or a
            value of the wrong type.
    """
    if key == "stage":
        cfg.stage = str(value)
        return
    if (from_text or not isinstance(value, str)) and retired_off(key, value):
        logger.info("training option %s=%s: nothing to do (%s)", key, value, RETIRED_KEYS[key])
        return
    if key in RETIRED_KEYS:  # also an item of a dict option, which field_type would accept
        raise EdtError(unknown_option(key))
    key = _moved(key)
    obj, name, hint, item = _resolve(cfg, key)
    if item is not None:
        _, value_type = typing.get_args(hint)
        v = parse_text(key, value, value_type) if from_text else check_value(key, value, value_type)
        getattr(obj, name)[item] = v
        return
    if key in _NUMBER_AS_TEXT and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    setattr(obj, name, parse_text(key, value, hint) if from_text else check_value(key, value, hint))


def get_option(cfg: TrainConfig, key: str) -> Any:
    """The value of dotted option ``key``."""
    obj, name, _, item = _resolve(cfg, MOVED_KEYS.get(key, key))
    value = getattr(obj, name)
    return value[item] if item is not None else value


# -- validation ---------------------------------------------------------------------------------

#: ``section.key`` -> smallest allowed value (numbers); NaN and infinities are refused everywhere.
_MINIMUM: dict[str, float] = {
    "optim.max_steps": 1,
    "optim.batch_size": 1,
    "optim.grad_accum": 1,
    "optim.max_batch_tokens": 0,
    "optim.weight_decay": 0,
    "optim.warmup_steps": 0,
    "optim.min_lr_ratio": 0,
    "optim.grad_clip": 0,
    "data.max_train_samples": 1,
    "run.devices": 1,
    "run.log_every": 1,
    "run.ckpt_every": 1,
    "run.keep_checkpoints": 1,
    "stage1.max_text_len": 1,
    "stage1.text_layers": 1,
    "stage1.embed_dim": 1,
    "stage1.w_itc": 0,
    "stage1.w_itm": 0,
    "stage1.w_lm": 0,
    "lora.r": 0,
    "recipe.eval_every": 0,
    "recipe.eval_per_kind": 1,
}


def _problems(cfg: TrainConfig) -> list[str]:
    out: list[str] = []
    if cfg.stage not in STAGES:
        out.append(f"stage must be one of {', '.join(STAGES)}, got {cfg.stage!r}")
    for section in SECTIONS:
        for f in fields(SECTIONS[section]):
            key, value = f"{section}.{f.name}", getattr(getattr(cfg, section), f.name)
            values = value.values() if isinstance(value, dict) else [value]
            for v in values:
                if isinstance(v, float) and not math.isfinite(v):
                    out.append(f"{key} must be a finite number, got {v}")
            low = _MINIMUM.get(key)
            if low is not None and value is not None and value < low:
                out.append(f"{key} must be >= {low:g}, got {value}")
    if math.isfinite(cfg.optim.lr) and not cfg.optim.lr > 0:
        out.append(f"optim.lr must be > 0, got {cfg.optim.lr}")
    if math.isfinite(cfg.optim.bridge_lr_scale) and not cfg.optim.bridge_lr_scale > 0:
        out.append(f"optim.bridge_lr_scale must be > 0, got {cfg.optim.bridge_lr_scale}")
    if not cfg.model.encoders:
        out.append("model.encoders is empty (set model.encoders=NAME[,NAME])")
    bad_loggers = sorted(set(cfg.run.loggers) - {"csv", "tensorboard"})
    if bad_loggers:
        out.append(f"run.loggers: unknown {bad_loggers}; choose csv and/or tensorboard")
    out += _bridge_problems(cfg)
    if cfg.recipe.sheet_lines not in RECIPE_SHEET_LINES:
        out.append(
            f"recipe.sheet_lines must be one of {list(RECIPE_SHEET_LINES)}, "
            f"got {cfg.recipe.sheet_lines!r}"
        )
    if not 0.0 <= cfg.recipe.sheet_full_rate <= 1.0:
        out.append(f"recipe.sheet_full_rate must be in [0, 1], got {cfg.recipe.sheet_full_rate}")
    if cfg.recipe.answer_loss not in ("token", "answer"):
        out.append(
            f"recipe.answer_loss must be 'token' or 'answer', got {cfg.recipe.answer_loss!r}"
        )
    targets = cfg.recipe.bbbp_targets
    if targets not in ("labels", "soft"):
        out.append(f"recipe.bbbp_targets must be 'labels' or 'soft', got {targets!r}")
    elif targets != "labels" and not cfg.recipe.fact_sheet:
        out.append(f"recipe.bbbp_targets={targets} needs recipe.fact_sheet")
    strategies = ("auto", "ddp", "ddp_spawn", "fsdp", "deepspeed")
    if cfg.run.strategy not in strategies:
        out.append(f"run.strategy must be one of {', '.join(strategies)}, got {cfg.run.strategy!r}")
    elif cfg.run.strategy == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        out.append("run.strategy=deepspeed needs the deepspeed package (pip install deepspeed)")
    return out


def _bridge_problems(cfg: TrainConfig) -> list[str]:
    """What :class:`~edtformer.bridge.BridgeConfig` would refuse of the ``bridge`` section, and
    what the stage cannot build, said before any work."""
    out: list[str] = []
    bridge = cfg.bridge
    norm = bridge.token_norm
    if norm not in (None, "auto"):
        try:
            ok = math.isfinite(float(norm)) and float(norm) >= 0
        except ValueError:
            ok = False
        if not ok:
            out.append(f"bridge.token_norm must be 'auto' or a number >= 0, got {norm!r}")
    has_queries = bridge.connector in STAGE1_CONNECTORS
    if bridge.instruction_aware and not has_queries:
        out.append(
            f"bridge.instruction_aware needs a query transformer; connector {bridge.connector!r} "
            f"has none (set bridge.instruction_aware=false, or use one of "
            f"{', '.join(STAGE1_CONNECTORS)})"
        )
    if cfg.stage == "stage1" and not has_queries:
        out.append(
            f"stage 1 trains a query transformer; connector {bridge.connector!r} has none "
            f"(use one of {', '.join(STAGE1_CONNECTORS)}, or train {bridge.connector!r} "
            "with stage2 / recipe)"
        )
    if cfg.stage == "stage1" and norm == "auto":
        out.append("bridge.token_norm=auto needs the frozen LLM, which stage 1 does not load; "
                   "give a number")  # fmt: skip
    return out


# -- presets and composition -----------------------------------------------------------------------


def _preset_tiny(cfg: TrainConfig) -> None:
    cfg.model.preset, cfg.model.encoders = "tiny", ("random",)
    cfg.optim.batch_size, cfg.optim.max_steps, cfg.optim.warmup_steps = 4, 20, 2
    cfg.run.log_every, cfg.run.ckpt_every = 1, 10


def _preset_smol(cfg: TrainConfig) -> None:
    cfg.model.preset, cfg.optim.batch_size, cfg.optim.warmup_steps = "smol", 16, 30
    cfg.optim.max_steps = 600 if cfg.stage == "stage2" else 1500
    cfg.optim.lr = 3e-4 if cfg.stage == "stage2" else 1e-4
    if cfg.stage == "recipe":  # the shipped default (see README: "The default bridge")
        cfg.optim.batch_size, cfg.optim.lr = 8, 1e-3
        cfg.optim.warmup_steps, cfg.optim.max_steps = 50, 1200
        cfg.run.ckpt_every, cfg.run.log_every = 100, 10
        # bf16 autocast: the frozen LLM's forward + backward ran 1.7x faster than fp32 on an
        # AVX512-BF16 CPU, gradient cosine to fp32 0.97-0.99; evaluation stays fp32
        cfg.run.precision = "bf16-mixed"


def _preset_paper(cfg: TrainConfig) -> None:
    # Reference: stage 1 15 epochs lr 1e-4 cosine wd 0.05; stage 2 2 epochs lr 1e-4.
    cfg.model.preset, cfg.optim.batch_size, cfg.optim.lr = "paper", 32, 1e-4
    cfg.optim.weight_decay, cfg.optim.warmup_steps = 0.05, 1000
    cfg.run.precision, cfg.run.accelerator = "bf16-mixed", "gpu"
    cfg.optim.max_steps = 100_000 if cfg.stage == "stage1" else 30_000
    cfg.run.loggers = ("csv", "tensorboard")


PRESETS: dict[str, Callable[[TrainConfig], None]] = {
    "tiny": _preset_tiny,
    "smol": _preset_smol,
    "paper": _preset_paper,
}


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and key != "kind_weights":
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


#: Folder of the named recipes shipped in the package (``edt train recipe --config default``).
RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"


def named_recipes() -> list[str]:
    """Names of the recipes shipped in the package (``default``, ...)."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def recipe_path(name_or_path: str | Path) -> Path:
    """The YAML file of a config: a path to a file, or the name of a shipped recipe.

    Raises:
        EdtError: neither an existing file nor a shipped recipe's name.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    named = RECIPES_DIR / f"{name_or_path}.yaml"
    if isinstance(name_or_path, str) and "/" not in name_or_path and named.is_file():
        return named
    raise EdtError(
        f"config file not found: {path} (nor a shipped recipe; those are {named_recipes()})"
    )


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML config file (or a shipped recipe's name, :func:`recipe_path`) as a nested dict
    (a format-1 flat file is converted; moved keys are moved by :func:`build_config`, which
    knows the stage).

    Raises:
        EdtError: missing file, invalid YAML, not a mapping, unknown key.
    """
    path = recipe_path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise EdtError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise EdtError(f"config file {path}: expected a mapping at top level")
    data.pop("format_version", None)
    data.pop("recipe_version", None)
    if not set(data) <= {"stage", *SECTIONS}:
        data = legacy_to_nested(data)
    return data


def build_config(
    stage: str,
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> TrainConfig:
    """Compose defaults, a preset, an optional YAML file and ``section.key=value`` overrides,
    then :meth:`~TrainConfig.validate`.

    Raises:
        EdtError: unknown preset, unreadable file, unknown key, badly typed or unusable value.
    """
    cfg = TrainConfig(stage=stage)
    if preset is not None:
        if preset not in PRESETS:
            raise EdtError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        PRESETS[preset](cfg)
    if config_file is not None:
        data = read_config_file(config_file)
        file_preset = (data.get("model") or {}).get("preset")
        if file_preset in PRESETS:
            PRESETS[file_preset](cfg)
        merged = _deep_merge(cfg.to_dict(), move_old_keys({**data, "stage": stage}))
        cfg = TrainConfig.from_dict(merged)
    for item in overrides:
        if "=" not in item:
            raise EdtError(f"override {item!r}: expected section.key=value")
        key, raw = item.split("=", 1)
        set_option(cfg, key.strip().replace("-", "_"), raw, from_text=True)
    return cfg.validate()


__all__ = [
    "CONFIG_FORMAT_VERSION",
    "LEGACY_EXTRA",
    "LEGACY_KEYS",
    "MOVED_KEYS",
    "PRESETS",
    "RECIPES_DIR",
    "RECIPE_BRIDGE",
    "RETIRED_KEYS",
    "RETIRED_OFF",
    "SECTIONS",
    "STAGES",
    "BridgeSection",
    "DataSection",
    "LoraSection",
    "ModelSection",
    "OptimSection",
    "RecipeSection",
    "RunSection",
    "Stage1Section",
    "TrainConfig",
    "build_config",
    "get_option",
    "known_keys",
    "legacy_to_nested",
    "move_old_keys",
    "named_recipes",
    "parse_text",
    "read_config_file",
    "recipe_path",
    "retired_off",
    "set_option",
]

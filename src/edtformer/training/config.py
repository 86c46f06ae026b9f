"""Training configuration: typed nested sections, named presets, YAML files and dotted overrides.

Precedence (lowest to highest): dataclass defaults < preset < YAML file < CLI overrides.

A :class:`TrainConfig` has one section per concern::

    stage                        stage1 | stage2 | recipe
    model.*    ModelSection      what is built: preset, encoders, LLM, connector, stereo embedding
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
sub-command per module), and reads old flat ``config.json`` files of earlier runs through one
explicit table (:data:`LEGACY_KEYS`). The cost is this module's small type switch.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import logging
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edtformer.errors import EdtError

logger = logging.getLogger(__name__)

#: 1: flat fields + an untyped ``extra`` dict (read through :data:`LEGACY_KEYS`); 2: sections.
CONFIG_FORMAT_VERSION = 2

#: Options removed because no shipped recipe, bench row or documented experiment set them:
#: read from old run folders with a warning (their runs used the removed option's default).
RETIRED_KEYS: dict[str, str] = {
    "recipe.warmup_bridge_steps": "the LLM-free bridge warm-up was removed in 0.2",
    "recipe.warmup_bridge_batch": "the LLM-free bridge warm-up was removed in 0.2",
    "recipe.bbbp_decile_draw": "the BBBP decile draw was removed in 0.2",
    "recipe.instruction_queries": "removed in 0.2: set by nothing shipped",
    "recipe.fact_stereo_code": "removed in 0.2: set by nothing shipped",
    "model.train_new_rows": "removed in 0.2: set by nothing shipped",
    "model.n_anchors": "removed in 0.2: set by nothing shipped (model.preset sets it)",
    "model.max_dynamic_tokens": "removed in 0.2: set by nothing shipped (model.preset sets it)",
    "model.n_layers": "removed in 0.2: set by nothing shipped (model.preset sets it)",
    **{
        f"recipe.{name}": "removed in 0.2: the learned fact writer; the RDKit fact sheet "
        "replaced it"
        for name in (
            "aux_weight",
            "fact_group_weight",
            "slot_weight",
            "fact_tokens",
            "fact_stereo",
            "fact_ez_slots",
            "fact_pair",
            "fact_group_tokens",
            "fact_bbb",
            "fact_formula",
            "fact_fit_steps",
        )
    },
}

#: Retired switches at the value that turned their part off, which is what this version does:
#: ``--set`` accepts them as a no-op and config files carry them without a warning (the shipped
#: recipes and the shipped model's recorded command line, ``--set recipe.aux_weight=0
#: --set recipe.slot_weight=0``, set them so). Any other value of a retired key is a named
#: error with ``--set`` and a warning in a config file.
RETIRED_OFF: dict[str, bool | float] = {
    "recipe.aux_weight": 0.0,
    "recipe.slot_weight": 0.0,
    "recipe.fact_tokens": False,
}


def retired_off(key: str, value: Any) -> bool:
    """True if the retired switch ``key`` set to ``value`` (typed, or a command-line string) is
    off (:data:`RETIRED_OFF`): setting it changes nothing."""
    if key not in RETIRED_OFF:
        return False
    off = RETIRED_OFF[key]
    if isinstance(value, str):
        try:
            value = parse_text(key, value, type(off))
        except EdtError:
            return False
    if isinstance(off, bool) or isinstance(value, bool):
        return value is off
    return isinstance(value, int | float) and value == off


#: Training stages: ``recipe`` is the default bridge's one-stage recipe (:mod:`.recipe`).
STAGES: tuple[str, ...] = ("stage1", "stage2", "recipe")

#: Connectors with a query transformer: the only ones stage 1 (bridge vs text) can train.
STAGE1_CONNECTORS: tuple[str, ...] = ("edt", "anchors_only", "dynamic_only")


@dataclass
class ModelSection:
    """What is built: sizes, frozen parts and bridge options."""

    preset: str = "smol"
    """Bridge size preset (``tiny``, ``smol``, ``paper``)."""
    encoders: tuple[str, ...] = ("minimol",)
    """Frozen graph encoder name(s); several are fused streams (``--set model.encoders=a,b``)."""
    llm: str = "smollm2-135m-instruct"
    """Frozen LLM: ``smollm2-135m-instruct`` (embedded default), a hub id or a local folder."""
    connector: str = "edt"
    """Connector variant (``edt``, ``anchors_only``, ``dynamic_only``, ``mlp``, ``none``)."""
    patch_rule: str = "combine"
    """Patching rule for dynamic tokens."""
    init_from: str | None = None
    """A bridge folder to start from (stage 2 starts from a stage-1 checkpoint)."""
    stereo_embedding: bool | None = None
    """Bridge field override: the stereo embedding (``None``: the preset's value)."""


@dataclass
class OptimSection:
    """Optimisation: steps, batch and AdamW with linear warm-up then cosine decay."""

    max_steps: int = 1000
    """Optimizer steps to run (the run ends there)."""
    batch_size: int = 16
    """Samples per optimizer step per device (before accumulation)."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""
    lr: float = 1e-4
    """Peak learning rate (AdamW)."""
    bridge_lr_scale: float = 1.0
    """The bridge's (connector's) learning rate is ``lr`` times this; LoRA adapters and new token
    rows keep ``lr``. Below 1 keeps the bridge closer to its inputs (see README,
    "What training does to the bridge's states")."""
    weight_decay: float = 0.05
    """AdamW weight decay."""
    warmup_steps: int = 50
    """Linear warm-up steps before cosine decay."""
    min_lr_ratio: float = 0.1
    """Cosine decays to ``lr * min_lr_ratio``."""
    grad_clip: float = 1.0
    """Gradient norm clip (0 disables)."""


@dataclass
class DataSection:
    """Where the training samples come from."""

    dir: str = "data_out"
    """Folder written by ``edt data build``."""
    tasks: tuple[str, ...] = ()
    """Task names to train on (empty: every task of the stage)."""
    max_train_samples: int | None = None
    """Cap on training samples (after the split), for quick runs."""
    cache_dir: str | None = None
    """Frozen node-feature cache (``None``: ``$EDT_CACHE/features``)."""


@dataclass
class RunSection:
    """Where and how the run executes: folder, seed, devices, logging, checkpoints."""

    out_dir: str = "runs/default"
    """Run folder: checkpoints, metrics, the final bridge."""
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
    loggers: tuple[str, ...] = ("csv",)
    """Metric loggers: ``csv`` and/or ``tensorboard``."""


@dataclass
class Stage1Section:
    """Stage 1 (bridge vs text): the small text tower and the weights of its three losses."""

    max_text_len: int = 48
    """Text tokens per caption."""
    text_layers: int = 2
    """Transformer layers of the text tower."""
    embed_dim: int = 128
    """Shared contrastive embedding width."""
    w_itc: float = 1.0
    """Weight of the contrastive (graph-text) loss."""
    w_itm: float = 1.0
    """Weight of the matching loss."""
    w_lm: float = 1.0
    """Weight of the captioning loss."""


@dataclass
class LoraSection:
    """LoRA adapters on the frozen LLM (stage 2 / recipe)."""

    r: int = 0
    """Adapter rank; 0 trains no adapters (bridge only)."""
    targets: str = "q_proj,v_proj"
    """Comma-separated names of the LLM linear layers that get adapters (e.g.
    ``q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj``). A model continued with
    ``--init-from`` keeps its adapters; adapters on layers it lacked start at zero."""


@dataclass
class RecipeSection:
    """The levers of ``edt train recipe`` (each can be turned off for the learning curves)."""

    instruction_aware: bool = True
    """Query transformer reads the question's frozen LLM token embeddings."""
    token_norm: str = "auto"
    """Molecule-token norm: ``auto`` (the LLM's mean input-embedding norm), a number, 0 = off."""
    fact_sheet: bool = False
    """Each molecule's exact RDKit fact sheet is written as text after its tokens
    (``EDTFormerConfig.fact_sheet``), with the learned blood-brain-barrier read-out's estimate on
    it, and the questions come from :class:`~edtformer.training.sheet_stream.SheetStream` (train
    phrasings of every sheet fact, declining off-sheet questions, the dataset's questions);
    ``kind_weights`` then names that stream's kinds."""
    sheet_full_rate: float = 0.0
    """With ``fact_sheet``: share of training batches whose prompts get the whole sheet although
    their questions name some lines (the rest get the named lines only, as at inference). The
    batches that carry off-sheet questions get the whole sheet anyway (about 20 %)."""
    eval_every: int = 200
    """Score the valid curve every N steps (0: never)."""
    eval_per_kind: int = 32
    """Valid questions per scored question kind."""
    eval_at_start: bool = True
    """Score the untrained starting point of the curve."""
    curve_kinds: tuple[str, ...] = ()
    """Question kinds the valid curve scores (``training.curve.CURVE_KIND_TASK``; empty: the
    default ``CURVE_TASKS``)."""
    curve_zero_tokens: bool = False
    """Also score each curve point with the molecule tokens zeroed before the LLM (the
    zero-token control), with the count kinds' paired gap and its standard error."""
    balance_bbbp: bool = False
    """Draw BBBP questions with ``P(yes) = 1/2`` (the train labels are about 3:1 "yes"; drawn at
    that rate the LLM learns to answer "yes" to every molecule)."""
    answer_loss: str = "token"
    """How the answer loss averages: ``"token"`` (the mean over every answer token of a batch: a
    40-token description outweighs twenty one-word answers) or ``"answer"`` (each question's
    mean token loss, averaged over the batch's questions: every question weighs the same)."""
    bbbp_targets: str = "labels"
    """Answers of the BBBP training questions: ``"labels"`` (the train molecules' B3DB labels)
    or ``"soft"`` (with the fact sheet, whose BBB line is the read-out's estimate: the answer's
    first token's loss is the cross-entropy against the frozen blood-brain-barrier read-out's
    (P, 1 - P) over "yes" / "no", so the LLM learns P(yes) as a function of the written
    estimate instead of fitting the labels through the molecule tokens)."""
    mc_text_start: float = 0.3
    """Question kind ``struct_mc_text`` (lettered questions about a molecule given as its
    written facts, text only) writes only the asked-for fact before this share of the run,
    then a growing share of the other facts (``QuestionStream``'s ``text_facts``)."""
    mc_text_full: float = 0.65
    """From this share of the run, ``struct_mc_text`` writes every fact of the molecule."""
    mc_layouts: float = 0.0
    """Share of the multiple-choice questions (``struct_mc``, ``struct_mc_hint``,
    ``struct_mc_text``) asked with their options in another layout ("(A) ...", "A) ...", all on
    one line; ``questions.MC_LAYOUTS``). The shipped model, trained on one layout, scores 0.84 on
    it and 0.31 with the options on one line (valid)."""
    mc_text_batches: bool = True
    """``struct_mc_text`` questions come in batches of their own (the kind's weight share of
    the batches), not one by one among the molecule questions."""
    kind_weights: dict[str, float] = field(default_factory=dict)
    """Question-kind sampling weights overriding ``questions.KIND_WEIGHTS``
    (``--set recipe.kind_weights.has_group=0.3``)."""


#: Section name -> its dataclass, in the order they print.
SECTIONS: dict[str, type] = {
    "model": ModelSection,
    "optim": OptimSection,
    "data": DataSection,
    "run": RunSection,
    "stage1": Stage1Section,
    "lora": LoraSection,
    "recipe": RecipeSection,
}


@dataclass
class TrainConfig:
    """Everything a training run needs; saved next to its checkpoints (``config.json``)."""

    stage: str = "stage2"
    """Which stage: ``stage1`` (bridge vs text), ``stage2`` (frozen LLM attached) or ``recipe``."""
    model: ModelSection = field(default_factory=ModelSection)
    optim: OptimSection = field(default_factory=OptimSection)
    data: DataSection = field(default_factory=DataSection)
    run: RunSection = field(default_factory=RunSection)
    stage1: Stage1Section = field(default_factory=Stage1Section)
    lora: LoraSection = field(default_factory=LoraSection)
    recipe: RecipeSection = field(default_factory=RecipeSection)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able nested dict (tuples as lists) with a format version."""
        out = _plain(dataclasses.asdict(self))
        out["format_version"] = CONFIG_FORMAT_VERSION
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; also reads the flat format 1 of earlier runs.

        Raises:
            EdtError: an unknown key (the message lists the known ones) or a badly typed value.
        """
        data = dict(data)
        version = data.pop("format_version", None)
        if version == 1 or (version is None and not set(data) <= {"stage", *SECTIONS}):
            data = legacy_to_nested(data)
        elif version not in (None, CONFIG_FORMAT_VERSION):
            raise EdtError(
                f"training config format_version {version!r} is not supported "
                f"(this edtformer reads 1 and {CONFIG_FORMAT_VERSION})"
            )
        cfg = cls()
        for key, value in data.items():
            if key == "stage":
                cfg.stage = _check("stage", value, str)
                continue
            if key not in SECTIONS:
                raise EdtError(f"unknown training config section {key!r}; known: {list(SECTIONS)}")
            if not isinstance(value, Mapping):
                raise EdtError(
                    f"training config section {key!r}: expected a mapping, got {value!r}"
                )
            for sub, item in value.items():
                if f"{key}.{sub}" in RETIRED_KEYS:
                    off = retired_off(f"{key}.{sub}", item)
                    logger.log(
                        logging.DEBUG if off else logging.WARNING,
                        "training config: %s.%s=%r ignored (%s)",
                        key, sub, item, RETIRED_KEYS[f"{key}.{sub}"],
                    )  # fmt: skip
                    continue
                set_option(cfg, f"{key}.{sub}", item)
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


def known_keys() -> list[str]:
    """Every ``section.key`` an override may name (``recipe.kind_weights.KIND`` is open)."""
    return ["stage"] + [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls)]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def _unoptional(hint: Any) -> tuple[Any, bool]:
    """``(inner type, accepts None)`` of ``X | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0], True
    return hint, False


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_text(key: str, raw: str, hint: Any) -> Any:
    """Parse a command-line string to the declared type ``hint`` of option ``key``.

    Raises:
        EdtError: ``raw`` is not a value of that type (the message names key, type and value).
    """
    inner, optional = _unoptional(hint)
    if optional:
        if raw.strip().lower() in {"none", "null", ""}:
            return None
        return parse_text(key, raw, inner)
    if inner is bool:
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise EdtError(f"option {key}: expected true/false (or 1/0, yes/no), got {raw!r}")
    if inner in (int, float):
        try:
            return inner(raw.strip())
        except ValueError:
            raise EdtError(f"option {key}: expected {inner.__name__}, got {raw!r}") from None
    if inner is str:
        return (
            raw  # a string field keeps "none" (e.g. model.connector=none, the SMILES-only baseline)
        )
    if typing.get_origin(inner) is tuple:
        return tuple(x.strip() for x in raw.split(",") if x.strip())
    if typing.get_origin(inner) is dict:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise EdtError(f"option {key}: expected a JSON object, got {raw!r}") from None
        return _check(key, value, inner)
    raise EdtError(f"option {key}: cannot parse a {_describe(hint)} from the command line")


def _check(key: str, value: Any, hint: Any) -> Any:
    """``value`` (from YAML/JSON/Python) as the declared type ``hint``, or an error naming ``key``."""
    inner, optional = _unoptional(hint)
    if value is None and optional:
        return None
    ok: Any = None
    if inner is bool:
        ok = value if isinstance(value, bool) else None
    elif inner is int:
        ok = value if isinstance(value, int) and not isinstance(value, bool) else None
    elif inner is float:
        ok = (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )
    elif inner is str:
        ok = value if isinstance(value, str) else None
    elif typing.get_origin(inner) is tuple:
        if isinstance(value, str):  # the format-1 comma string (``encoder: "minimol,rdkit"``)
            value = [x for x in value.split(",") if x.strip()]
        if isinstance(value, list | tuple) and all(isinstance(x, str) for x in value):
            ok = tuple(x.strip() for x in value)
    elif typing.get_origin(inner) is dict:
        _, value_type = typing.get_args(inner)
        if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
            ok = {k: _check(f"{key}.{k}", v, value_type) for k, v in value.items()}
    if ok is None:
        raise EdtError(
            f"option {key}: expected {_describe(hint)}, got {value!r} ({type(value).__name__})"
        )
    return ok


def _resolve(cfg: TrainConfig, key: str) -> tuple[Any, str, Any, str | None]:
    """``(section object, field name, declared type, dict item or None)`` of a dotted ``key``."""
    parts = key.split(".")
    section = parts[0]
    if section not in SECTIONS or len(parts) < 2:
        raise EdtError(_unknown(key))
    obj = getattr(cfg, section)
    hints = _hints(type(obj))
    if parts[1] not in hints:
        raise EdtError(_unknown(key))
    hint = hints[parts[1]]
    if len(parts) == 2:
        return obj, parts[1], hint, None
    if len(parts) == 3 and typing.get_origin(hint) is dict:
        return obj, parts[1], hint, parts[2]
    raise EdtError(_unknown(key))


def _unknown(key: str) -> str:
    hint = f" (did you mean {LEGACY_KEYS[key]}?)" if key in LEGACY_KEYS else ""
    if key in RETIRED_KEYS:
        hint = f" ({RETIRED_KEYS[key]})"
    if key.startswith("extra.") and key[len("extra.") :] in LEGACY_EXTRA:
        target = LEGACY_EXTRA[key[len("extra.") :]]
        why = RETIRED_KEYS.get(target)
        hint = f" ({why})" if why else f" (did you mean {target}?)"
    return f"unknown training option {key!r}{hint}; known: {', '.join(known_keys())}"


def set_option(cfg: TrainConfig, key: str, value: Any, from_text: bool = False) -> None:
    """Set dotted option ``key`` (``section.field`` or ``recipe.kind_weights.KIND``) on ``cfg``.

    ``value`` is type-checked against the field's declared type; with ``from_text`` it is a
    command-line string parsed to that type first.

    A retired switch set off (:data:`RETIRED_OFF`) is accepted and changes nothing.

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
    obj, name, hint, item = _resolve(cfg, key)
    if item is not None:
        _, value_type = typing.get_args(hint)
        v = parse_text(key, value, value_type) if from_text else _check(key, value, value_type)
        getattr(obj, name)[item] = v
        return
    setattr(obj, name, parse_text(key, value, hint) if from_text else _check(key, value, hint))


def get_option(cfg: TrainConfig, key: str) -> Any:
    """The value of dotted option ``key``."""
    obj, name, _, item = _resolve(cfg, key)
    value = getattr(obj, name)
    return value[item] if item is not None else value


# -- validation ---------------------------------------------------------------------------------

#: ``section.key`` -> smallest allowed value (numbers); NaN and infinities are refused everywhere.
_MINIMUM: dict[str, float] = {
    "optim.max_steps": 1,
    "optim.batch_size": 1,
    "optim.grad_accum": 1,
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
    norm = cfg.recipe.token_norm
    if norm != "auto":
        try:
            ok = math.isfinite(float(norm)) and float(norm) >= 0
        except ValueError:
            ok = False
        if not ok:
            out.append(f"recipe.token_norm must be 'auto' or a number >= 0, got {norm!r}")
    if not 0.0 <= cfg.recipe.sheet_full_rate <= 1.0:
        out.append(f"recipe.sheet_full_rate must be in [0, 1], got {cfg.recipe.sheet_full_rate}")
    if not 0.0 <= cfg.recipe.mc_layouts <= 1.0:
        out.append(f"recipe.mc_layouts must be in [0, 1], got {cfg.recipe.mc_layouts}")
    if cfg.recipe.answer_loss not in ("token", "answer"):
        out.append(
            f"recipe.answer_loss must be 'token' or 'answer', got {cfg.recipe.answer_loss!r}"
        )
    targets = cfg.recipe.bbbp_targets
    if targets not in ("labels", "soft"):
        out.append(f"recipe.bbbp_targets must be 'labels' or 'soft', got {targets!r}")
    elif targets != "labels" and not cfg.recipe.fact_sheet:
        out.append(f"recipe.bbbp_targets={targets} needs recipe.fact_sheet")
    start, full = cfg.recipe.mc_text_start, cfg.recipe.mc_text_full
    if not 0.0 <= start <= full <= 1.0:
        out.append(
            "recipe.mc_text_start and recipe.mc_text_full must satisfy 0 <= start <= full <= 1, "
            f"got {start} and {full}"
        )
    strategies = ("auto", "ddp", "ddp_spawn", "fsdp", "deepspeed")
    if cfg.run.strategy not in strategies:
        out.append(f"run.strategy must be one of {', '.join(strategies)}, got {cfg.run.strategy!r}")
    elif cfg.run.strategy == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        out.append("run.strategy=deepspeed needs the deepspeed package (pip install deepspeed)")
    if cfg.stage == "stage1" and cfg.model.connector not in STAGE1_CONNECTORS:
        out.append(
            f"stage 1 trains a query transformer; connector {cfg.model.connector!r} has none "
            f"(use one of {', '.join(STAGE1_CONNECTORS)}, or train {cfg.model.connector!r} "
            "with stage2 / recipe)"
        )
    return out


# -- format 1 (flat fields + ``extra``) ------------------------------------------------------------

#: Format-1 flat field -> its ``section.key``.
LEGACY_KEYS: dict[str, str] = {
    "preset": "model.preset",
    "encoder": "model.encoders",
    "llm": "model.llm",
    "connector": "model.connector",
    "patch_rule": "model.patch_rule",
    "init_from": "model.init_from",
    "max_steps": "optim.max_steps",
    "batch_size": "optim.batch_size",
    "grad_accum": "optim.grad_accum",
    "lr": "optim.lr",
    "weight_decay": "optim.weight_decay",
    "warmup_steps": "optim.warmup_steps",
    "min_lr_ratio": "optim.min_lr_ratio",
    "grad_clip": "optim.grad_clip",
    "data_dir": "data.dir",
    "tasks": "data.tasks",
    "max_train_samples": "data.max_train_samples",
    "out_dir": "run.out_dir",
    "seed": "run.seed",
    "devices": "run.devices",
    "accelerator": "run.accelerator",
    "strategy": "run.strategy",
    "precision": "run.precision",
    "log_every": "run.log_every",
    "ckpt_every": "run.ckpt_every",
    "keep_checkpoints": "run.keep_checkpoints",
    "loggers": "run.loggers",
}

#: Format-1 ``extra`` key -> its ``section.key`` (``w_<kind>`` -> ``recipe.kind_weights.<kind>``,
#: except stage 1's ``w_itc``/``w_itm``/``w_lm``); a key of :data:`RETIRED_KEYS` is read with a
#: warning.
LEGACY_EXTRA: dict[str, str] = {
    "cache_dir": "data.cache_dir",
    "stereo_embedding": "model.stereo_embedding",
    "n_anchors": "model.n_anchors",
    "max_dynamic_tokens": "model.max_dynamic_tokens",
    "n_layers": "model.n_layers",
    "train_new_rows": "model.train_new_rows",
    "lora_r": "lora.r",
    "max_text_len": "stage1.max_text_len",
    "text_layers": "stage1.text_layers",
    "embed_dim": "stage1.embed_dim",
    "w_itc": "stage1.w_itc",
    "w_itm": "stage1.w_itm",
    "w_lm": "stage1.w_lm",
    **{f.name: f"recipe.{f.name}" for f in fields(RecipeSection) if f.name != "kind_weights"},
    **{k[len("recipe.") :]: k for k in RETIRED_KEYS if k.startswith("recipe.")},
}


def legacy_to_nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """A format-1 config dict (flat fields + ``extra``) as a format-2 nested dict.

    ``extra`` values of format 1 were stored as parsed by guess (``"false"`` stayed a string);
    a string for a non-string field is parsed to the field's type here. Format-1 ``extra`` keys
    that no code read (e.g. ``temperature``) are dropped; retired ones (:data:`RETIRED_KEYS`) are
    kept as read, for :meth:`TrainConfig.from_dict` to warn about and skip.
    """
    probe = TrainConfig()
    nested: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if key in RETIRED_KEYS:  # kept as read: TrainConfig.from_dict warns and skips it
            section, name = key.split(".")
            nested.setdefault(section, {})[name] = value
            return
        _, _, hint, item = _resolve(probe, key)
        if item is not None:
            hint = typing.get_args(hint)[1]
        if isinstance(value, str) and _unoptional(hint)[0] is not str:
            value = parse_text(key, value, hint)
        parts = key.split(".")
        target = nested.setdefault(parts[0], {})
        if item is not None:
            target = target.setdefault(parts[1], {})
        target[parts[-1]] = value

    for key, value in flat.items():
        if key == "stage":
            nested["stage"] = value
        elif key == "extra":
            for name, v in (value or {}).items():
                if name in LEGACY_EXTRA:
                    put(LEGACY_EXTRA[name], v)
                elif name.startswith("w_"):
                    put(f"recipe.kind_weights.{name[2:]}", v)
        elif key in LEGACY_KEYS:
            put(LEGACY_KEYS[key], value)
        else:
            raise EdtError(f"unknown training option {key!r}; known: {', '.join(known_keys())}")
    return nested


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
    (a format-1 flat file is converted).

    Raises:
        EdtError: missing file, invalid YAML, not a mapping, unknown key.
    """
    import yaml

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
        merged = _deep_merge(cfg.to_dict(), {**data, "stage": stage})
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
    "PRESETS",
    "RECIPES_DIR",
    "RETIRED_KEYS",
    "RETIRED_OFF",
    "SECTIONS",
    "STAGES",
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
    "named_recipes",
    "parse_text",
    "read_config_file",
    "recipe_path",
    "retired_off",
    "set_option",
]

"""Old training configs: options removed (:data:`RETIRED_KEYS`), options moved to another
section (:data:`MOVED_KEYS`) and the flat format 1 of the first runs (:data:`LEGACY_KEYS`), so
that an old run folder, a shipped ``training.json`` or a recorded command line still reads.
"""

from __future__ import annotations

import logging
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from edtformer.errors import EdtError
from edtformer.training.options import parse_text, unoptional
from edtformer.training.sections import RecipeSection, field_type, known_keys

logger = logging.getLogger(__name__)

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
    **{
        key: "removed in 0.2: the text-only lettered question kinds (struct_mc_text, "
        "struct_mc_hint) and their option layouts, one archived experiment's; set by nothing "
        "shipped"
        for key in (
            "recipe.kind_weights.struct_mc_text",
            "recipe.kind_weights.struct_mc_hint",
            "recipe.mc_text_start",
            "recipe.mc_text_full",
            "recipe.mc_text_batches",
            "recipe.mc_layouts",
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
    # the text-only lettered questions: their kinds at weight 0 (recipes/ablation.yaml and old
    # configs listed every kind), no other layouts, and the curriculum's defaults, which every
    # saved recipe config carries (the shipped training.json too) and which did nothing without
    # struct_mc_text
    "recipe.kind_weights.struct_mc_text": 0.0,
    "recipe.kind_weights.struct_mc_hint": 0.0,
    "recipe.mc_layouts": 0.0,
    "recipe.mc_text_start": 0.3,
    "recipe.mc_text_full": 0.65,
    "recipe.mc_text_batches": True,
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


#: Options moved to the ``bridge`` section (whose fields are :class:`~edtformer.bridge.
#: BridgeConfig`'s): old key -> new key. A saved config (a run's ``config.json``,
#: ``training.json``'s ``config``, a YAML file) is read with them moved by :func:`move_old_keys`;
#: ``--set OLD=VALUE`` sets the new key with a warning that names it.
MOVED_KEYS: dict[str, str] = {
    "model.connector": "bridge.connector",
    "model.stereo_embedding": "bridge.stereo_embedding",
    "recipe.instruction_aware": "bridge.instruction_aware",
    "recipe.token_norm": "bridge.token_norm",
}


def move_old_keys(data: Mapping[str, Any]) -> dict[str, Any]:
    """A nested config dict with the old keys of :data:`MOVED_KEYS` in the ``bridge`` section.

    The ``recipe.*`` ones are moved only in a ``recipe`` config (``data["stage"]``): no other stage
    read them, so a ``stage2`` run's saved ``recipe.instruction_aware: true`` (the old default)
    did not make its bridge instruction-aware, and is dropped.

    Raises:
        EdtError: a file sets an old key and its new key to different values.
    """
    out = {k: dict(v) if isinstance(v, Mapping) else v for k, v in data.items()}
    for old, new in MOVED_KEYS.items():
        section, name = old.split(".")
        if not isinstance(out.get(section), dict) or name not in out[section]:
            continue
        value = out[section].pop(name)
        stage = out.get("stage", "stage2")
        if section == "recipe" and stage != "recipe":
            logger.debug(
                "training config: %s=%r dropped (a %s run never read it)", old, value, stage
            )
            continue
        target = out.setdefault("bridge", {})
        if not isinstance(target, dict):  # TrainConfig.from_dict names the bad section
            continue
        field_name = new.split(".")[1]
        if field_name in target and target[field_name] != value:
            raise EdtError(
                f"training config sets {old}={value!r} and {new}={target[field_name]!r}; "
                f"{old} is now {new}: keep that one"
            )
        target[field_name] = value
    return out


# -- format 1 (flat fields + ``extra``) ------------------------------------------------------------

#: Format-1 flat field -> its ``section.key``.
LEGACY_KEYS: dict[str, str] = {
    "preset": "model.preset",
    "encoder": "model.encoders",
    "llm": "model.llm",
    "connector": "bridge.connector",
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
    "stereo_embedding": "bridge.stereo_embedding",
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
    "instruction_aware": "recipe.instruction_aware",  # moved: see MOVED_KEYS
    "token_norm": "recipe.token_norm",
    **{
        k[len("recipe.") :]: k
        for k in RETIRED_KEYS
        if k.startswith("recipe.") and k.count(".") == 1
    },
}


def legacy_to_nested(flat: Mapping[str, Any]) -> dict[str, Any]:
    """A format-1 config dict (flat fields + ``extra``) as a nested dict (old keys of
    :data:`MOVED_KEYS` kept as read, for :func:`move_old_keys`).

    ``extra`` values of format 1 were stored as parsed by guess (``"false"`` stayed a string);
    a string for a non-string field is parsed to the field's type here. Format-1 ``extra`` keys
    that no code read (e.g. ``temperature``) are dropped; retired ones (:data:`RETIRED_KEYS`) are
    kept as read, for :meth:`TrainConfig.from_dict` to warn about and skip.
    """
    nested: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        if key in RETIRED_KEYS:  # kept as read: TrainConfig.from_dict warns and skips it
            *outer, name = key.split(".")
            target = nested
            for part in outer:
                target = target.setdefault(part, {})
            target[name] = value
            return
        hint, item = field_type(MOVED_KEYS.get(key, key), unknown_option)
        if item is not None:
            hint = typing.get_args(hint)[1]
        if isinstance(value, str) and unoptional(hint)[0] is not str:
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
            raise EdtError(unknown_option(key))
    return nested


def unknown_option(key: str) -> str:
    """The message for an unknown option ``key``: where it went, if it moved, was retired or is
    a format-1 name, and every known key."""
    hint = f" (did you mean {LEGACY_KEYS[key]}?)" if key in LEGACY_KEYS else ""
    if key in RETIRED_KEYS:
        hint = f" ({RETIRED_KEYS[key]})"
    if key in MOVED_KEYS:
        hint = f" (now {MOVED_KEYS[key]})"
    if key.startswith("extra.") and key[len("extra.") :] in LEGACY_EXTRA:
        target = LEGACY_EXTRA[key[len("extra.") :]]
        why = RETIRED_KEYS.get(target)
        hint = f" ({why})" if why else f" (did you mean {MOVED_KEYS.get(target, target)}?)"
    return f"unknown training option {key!r}{hint}; known: {', '.join(known_keys())}"


__all__ = [
    "LEGACY_EXTRA",
    "LEGACY_KEYS",
    "MOVED_KEYS",
    "RETIRED_KEYS",
    "RETIRED_OFF",
    "legacy_to_nested",
    "move_old_keys",
    "retired_off",
    "unknown_option",
]

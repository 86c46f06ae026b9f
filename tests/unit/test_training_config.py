"""The typed nested training config: dotted overrides, YAML, validation, format-1 files."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from edtformer.errors import EdtError
from edtformer.training.config import (
    RETIRED_KEYS,
    TrainConfig,
    build_config,
    known_keys,
    legacy_to_nested,
    set_option,
)


def test_dotted_overrides_parse_to_the_declared_types() -> None:
    cfg = build_config(
        "stage2",
        "tiny",
        overrides=[
            "optim.lr=0.5",
            "data.tasks=a,b",
            "model.encoders=minimol,rdkit",
            "recipe.fact_sheet=false",
            "bridge.stereo_embedding=true",
            "data.max_train_samples=none",
            "recipe.kind_weights.has_group=0.3",
            "bridge.connector=none",
        ],
    )
    assert cfg.optim.lr == 0.5 and cfg.data.tasks == ("a", "b")
    assert cfg.model.encoders == ("minimol", "rdkit")
    assert cfg.recipe.fact_sheet is False  # the string "false" used to be truthy
    assert cfg.bridge.stereo_embedding is True and cfg.data.max_train_samples is None
    assert cfg.recipe.kind_weights == {"has_group": 0.3}
    assert cfg.bridge.connector == "none"  # a string field keeps "none"
    for word, value in [("true", True), ("1", True), ("yes", True), ("no", False), ("0", False)]:
        assert (
            build_config("stage2", overrides=[f"recipe.fact_sheet={word}"]).recipe.fact_sheet
            is value
        )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lr=abc", "unknown training option 'lr' (did you mean optim.lr?)"),
        ("optim.lr=abc", "option optim.lr: expected float, got 'abc'"),
        ("optim.max_steps=many", "option optim.max_steps: expected int"),
        ("optim.max_steps=2.5", "option optim.max_steps: expected int"),
        ("recipe.fact_sheet=maybe", "option recipe.fact_sheet: expected true/false"),
        ("nope.x=1", "known: stage, model.preset"),
        ("optim.nope=1", "unknown training option 'optim.nope'"),
        ("extra.lora_r=8", "did you mean lora.r?"),
        ("optim.lr", "expected section.key=value"),
    ],
)
def test_bad_overrides_fail_with_one_clear_line(override: str, message: str) -> None:
    with pytest.raises(EdtError) as err:
        build_config("stage2", overrides=[override])
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.max_steps=0", "optim.max_steps must be >= 1, got 0"),
        ("optim.batch_size=-4", "optim.batch_size must be >= 1, got -4"),
        ("optim.grad_accum=0", "optim.grad_accum must be >= 1"),
        ("optim.lr=0", "optim.lr must be > 0"),
        ("optim.lr=nan", "optim.lr must be a finite number"),
        ("optim.weight_decay=inf", "optim.weight_decay must be a finite number"),
        ("bridge.token_norm=big", "bridge.token_norm must be 'auto' or a number"),
        ("run.loggers=csv,wandb", "run.loggers: unknown ['wandb']"),
        ("recipe.answer_loss=sum", "recipe.answer_loss must be 'token' or 'answer'"),
        ("recipe.bbbp_targets=guess", "recipe.bbbp_targets must be 'labels' or 'soft'"),
        ("recipe.bbbp_targets=soft", "recipe.bbbp_targets=soft needs recipe.fact_sheet"),
    ],
)
def test_unusable_values_are_refused(override: str, message: str) -> None:
    with pytest.raises(EdtError, match="bad training config") as err:
        build_config("stage2", overrides=[override])
    assert message in str(err.value)


@pytest.mark.parametrize("connector", ["mlp", "none"])
def test_stage1_refuses_a_connector_without_queries(connector: str) -> None:
    with pytest.raises(EdtError, match=f"connector '{connector}' has none"):
        build_config("stage1", overrides=[f"bridge.connector={connector}"])
    assert build_config("stage2", overrides=[f"bridge.connector={connector}"])


def test_presets_and_nested_yaml(tmp_path: Path) -> None:
    assert build_config("recipe", "smol").optim.lr == 1e-3
    assert build_config("stage1", "tiny").model.encoders == ("random",)
    yml = tmp_path / "c.yaml"
    yml.write_text(
        "model:\n  preset: tiny\noptim:\n  batch_size: 7\nrecipe:\n  eval_at_start: false\n"
    )
    cfg = build_config("stage2", config_file=yml, overrides=["optim.lr=0.01"])
    assert cfg.optim.batch_size == 7 and cfg.model.preset == "tiny" and cfg.optim.max_steps == 20
    assert cfg.recipe.eval_at_start is False and cfg.optim.lr == 0.01
    yml.write_text("optim:\n  batch_size: seven\n")
    with pytest.raises(EdtError, match=r"option optim\.batch_size: expected int, got 'seven'"):
        build_config("stage2", config_file=yml)
    yml.write_text("optim:\n  batchsize: 7\n")
    with pytest.raises(EdtError, match=r"unknown training option 'optim\.batchsize'"):
        build_config("stage2", config_file=yml)


def test_round_trip_and_print_layout() -> None:
    cfg = build_config("stage2", "tiny", overrides=["recipe.kind_weights.hbd=2", "lora.r=8"])
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["format_version"] == 3 and data["model"]["encoders"] == ["random"]
    assert TrainConfig.from_dict(data) == cfg
    assert "optim.lr" in known_keys() and "recipe.kind_weights" in known_keys()


def test_format_1_run_config_still_reads(caplog: pytest.LogCaptureFixture) -> None:
    """A ``config.json`` written by the flat format (runs made before the sections) resumes."""
    old = {
        "stage": "recipe", "preset": "smol", "data_dir": "data_out", "tasks": [],
        "out_dir": "runs/default", "init_from": None, "encoder": "minimol,rdkit",
        "llm": "smollm2-135m-instruct", "connector": "edt", "patch_rule": "combine",
        "max_steps": 1200, "batch_size": 8, "grad_accum": 1, "lr": 0.001,
        "weight_decay": 0.05, "warmup_steps": 50, "min_lr_ratio": 0.1, "grad_clip": 1.0,
        "seed": 0, "devices": 1, "accelerator": "auto", "strategy": "auto",
        "precision": "bf16-mixed", "log_every": 10, "ckpt_every": 100, "keep_checkpoints": 2,
        "loggers": ["csv"], "max_train_samples": None,
        "extra": {"train_new_rows": "false", "eval_every": 50, "w_has_group": 0.3,
                  "lora_r": "8", "temperature": 0.1, "token_norm": "auto"},
        "format_version": 1,
    }  # fmt: skip
    with caplog.at_level(logging.WARNING):
        cfg = TrainConfig.from_dict(old)
    assert "model.train_new_rows='false' ignored (removed in 0.2" in caplog.text  # retired
    assert cfg.model.encoders == ("minimol", "rdkit") and cfg.optim.lr == 0.001
    assert cfg.lora.r == 8
    assert cfg.recipe.eval_every == 50 and cfg.recipe.kind_weights == {"has_group": 0.3}
    assert cfg.run.precision == "bf16-mixed" and cfg.validate() is cfg
    assert legacy_to_nested({"batch_size": 3}) == {"optim": {"batch_size": 3}}
    with pytest.raises(EdtError, match="unknown training option 'bogus'"):
        TrainConfig.from_dict({"bogus": 1, "format_version": 1})
    assert not math.isnan(cfg.optim.min_lr_ratio)


def test_training_mode_has_one_wording() -> None:
    from edtformer.llm.trainable import LoraSettings, TrainableConfig

    assert TrainableConfig().describe() == "bridge (frozen LLM)"
    lora = TrainableConfig(lora=LoraSettings(r=8))
    assert lora.describe() == "bridge + LoRA r=8 (alpha 16) on the LLM's q_proj, v_proj"
    assert lora.describe(text_only=True).startswith("LoRA r=8")
    assert TrainableConfig(bridge_trainable=False).describe() == "zero-shot (nothing trained)"


def test_bridge_lr_scale_splits_the_optimizer_groups() -> None:
    import torch
    from torch import nn

    from edtformer.training.engine import param_groups

    class Toy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = nn.Module()
            self.model.connector = nn.Linear(2, 2)
            self.model.llm = nn.Linear(2, 2)
            self.head = nn.Linear(2, 1)
            self.frozen = nn.Linear(2, 2).requires_grad_(False)

    toy = Toy()
    groups = param_groups(toy, 1e-3, 0.3)
    assert [g["lr"] for g in groups] == [pytest.approx(3e-4), 1e-3]
    bridge = {id(p) for p in groups[0]["params"]}
    assert bridge == {id(p) for p in toy.model.connector.parameters()}
    rest = {id(p) for m in (toy.model.llm, toy.head) for p in m.parameters()}
    assert {id(p) for p in groups[1]["params"]} == rest
    one = param_groups(toy, 1e-3, 1.0)
    assert len(one) == 1 and len(one[0]["params"]) == 6  # the frozen layer is left out
    opt = torch.optim.AdamW(groups, lr=1e-3)
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(3e-4), 1e-3]
    with pytest.raises(EdtError, match="bridge_lr_scale"):
        build_config("recipe", "tiny", overrides=["optim.bridge_lr_scale=0"])


def test_retired_options_are_refused_as_overrides_and_skipped_in_old_runs(caplog) -> None:
    """Removed options: a named error for ``--set``, a warning (not a failure) in an old run's
    saved config, so old run folders still load."""
    import logging

    from edtformer.training.config import RETIRED_KEYS, TrainConfig, build_config

    key = next(iter(RETIRED_KEYS))
    with pytest.raises(EdtError, match="removed"):
        build_config("recipe", "tiny", None, [f"{key}=3"])
    old = TrainConfig(stage="recipe").to_dict()
    section, name = key.split(".")
    old[section][name] = 3
    with caplog.at_level(logging.WARNING):
        cfg = TrainConfig.from_dict(old)
    assert cfg.to_dict() == TrainConfig(stage="recipe").to_dict()
    assert key in caplog.text


#: Options removed in 0.2 because nothing shipped set them, with a value an old file carries.
REMOVED_IN_0_2 = {
    "recipe.instruction_queries": True,
    "recipe.fact_stereo_code": False,
    "model.train_new_rows": False,
    "model.n_anchors": 16,
    "model.max_dynamic_tokens": 32,
    "model.n_layers": 2,
}


FACT_WRITER = "removed in 0.2: the learned fact writer; the RDKit fact sheet replaced it"

#: The learned fact writer's options (removed in 0.2), each with a value that used the writer.
FACT_WRITER_KEYS = {
    "recipe.aux_weight": 0.5,
    "recipe.fact_group_weight": 8.0,
    "recipe.slot_weight": 1.0,
    "recipe.fact_tokens": True,
    "recipe.fact_stereo": True,
    "recipe.fact_ez_slots": 8,
    "recipe.fact_pair": True,
    "recipe.fact_group_tokens": 24,
    "recipe.fact_bbb": True,
    "recipe.fact_formula": True,
    "recipe.fact_fit_steps": 1500,
}


TEXT_MC = "removed in 0.2: the text-only lettered question kinds (struct_mc_text, struct_mc_hint)"

#: The options of the text-only lettered questions (removed in 0.2, issue 32), each with a value
#: an archived run set (experiments/records/recipe_runs).
TEXT_MC_KEYS = {
    "recipe.mc_text_start": 0.33,
    "recipe.mc_text_full": 0.7,
    "recipe.mc_text_batches": False,
    "recipe.mc_layouts": 0.3,
}


#: Every option removed in 0.2, with a value an old file carries and the reason it names.
RETIRED_CASES = [
    *((k, v, "removed in 0.2: set by nothing shipped") for k, v in REMOVED_IN_0_2.items()),
    *((k, v, FACT_WRITER) for k, v in FACT_WRITER_KEYS.items()),
    *((k, v, TEXT_MC) for k, v in TEXT_MC_KEYS.items()),
]


@pytest.mark.parametrize(("key", "value", "reason"), sorted(RETIRED_CASES))
def test_options_removed_in_0_2_are_named_errors_when_set_and_warnings_when_read(
    key: str, value: object, reason: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert RETIRED_KEYS[key].startswith(reason) and key not in known_keys()
    # --set and set_option: one line that names the key and why it is gone
    with pytest.raises(EdtError) as err:
        build_config("recipe", "tiny", overrides=[f"{key}={str(value).lower()}"])
    message = str(err.value)
    assert f"unknown training option {key!r} ({reason}" in message and "\n" not in message
    with pytest.raises(EdtError, match=r"removed in 0\.2"):
        set_option(TrainConfig(stage="recipe"), key, value)
    # a run folder's config.json (format 2) and a YAML config file: a warning, then the defaults
    section, name = key.split(".")
    old = TrainConfig(stage="recipe").to_dict()
    old[section][name] = value
    with caplog.at_level(logging.WARNING):
        cfg = TrainConfig.from_dict(json.loads(json.dumps(old)))
    assert cfg.to_dict() == TrainConfig(stage="recipe").to_dict()
    assert f"{key}={value!r} ignored ({reason}" in caplog.text
    caplog.clear()
    yml = tmp_path / "old.yaml"
    yml.write_text(f"{section}:\n  {name}: {json.dumps(value)}\n")
    with caplog.at_level(logging.WARNING):
        from_file = build_config("recipe", "tiny", config_file=yml)
    assert from_file.to_dict() == build_config("recipe", "tiny").to_dict()
    assert f"{key}={value!r} ignored" in caplog.text
    # format 1 (flat fields + extra): read with the same warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        flat = TrainConfig.from_dict({"stage": "recipe", "extra": {name: str(value)}})
    assert flat.to_dict() == TrainConfig(stage="recipe").to_dict()
    assert f"{key}=" in caplog.text and "ignored (removed in 0.2" in caplog.text
    with pytest.raises(EdtError, match=r"removed in 0\.2"):
        build_config("recipe", overrides=[f"extra.{name}=1"])


def test_fact_writer_switches_set_off_change_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``recipe.aux_weight=0``, ``recipe.slot_weight=0`` and ``recipe.fact_tokens=false`` ask for
    what this version does: ``--set`` accepts them and files carry them without a warning (the
    shipped recipes and the shipped model's recorded command line set them)."""
    from edtformer.training.config import RETIRED_OFF, named_recipes, retired_off

    assert set(RETIRED_OFF) == {
        "recipe.aux_weight", "recipe.slot_weight", "recipe.fact_tokens",
        *TEXT_MC_KEYS, "recipe.kind_weights.struct_mc_text", "recipe.kind_weights.struct_mc_hint",
    }  # fmt: skip
    base = build_config("recipe", "tiny").to_dict()
    off = ["recipe.aux_weight=0", "recipe.slot_weight=0.0", "recipe.fact_tokens=false"]
    with caplog.at_level(logging.WARNING):
        assert build_config("recipe", "tiny", overrides=off).to_dict() == base
        yml = tmp_path / "off.yaml"
        yml.write_text("recipe:\n  aux_weight: 0.0\n  slot_weight: 0\n  fact_tokens: false\n")
        assert build_config("recipe", "tiny", config_file=yml).to_dict() == base
        for name in named_recipes():  # recipes/default.yaml and ablation.yaml set them so
            build_config("recipe", config_file=name)
        flat = TrainConfig.from_dict({"stage": "recipe", "extra": {"aux_weight": "0"}})
    assert flat.to_dict() == TrainConfig(stage="recipe").to_dict()
    assert not caplog.records, caplog.text
    assert retired_off("recipe.aux_weight", 0) and retired_off("recipe.fact_tokens", "no")
    assert not retired_off("recipe.fact_tokens", 0)  # a bool switch wants a bool
    assert not retired_off("recipe.aux_weight", "zero") and not retired_off("lora.r", 0)
    with pytest.raises(EdtError, match="the learned fact writer"):  # a typed call takes no text
        set_option(TrainConfig(stage="recipe"), "recipe.fact_tokens", "false")


@pytest.mark.parametrize("kind", ["struct_mc_text", "struct_mc_hint"])
def test_retired_text_mc_kinds_are_accepted_at_weight_0_and_refused_above(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``recipe.kind_weights.struct_mc_text`` / ``struct_mc_hint`` (removed in 0.2, issue 32):
    at weight 0 (what recipes/ablation.yaml and the old configs that listed every kind set)
    accepted and dropped without a warning; any other weight a named error with ``--set`` and a
    warning in a saved config, which then loads without it."""
    key = f"recipe.kind_weights.{kind}"
    assert RETIRED_KEYS[key].startswith(TEXT_MC) and key not in known_keys()
    with caplog.at_level(logging.WARNING):
        cfg = build_config("recipe", "tiny", overrides=[f"{key}=0", "recipe.kind_weights.hbd=0.2"])
    assert cfg.recipe.kind_weights == {"hbd": 0.2} and not caplog.records, caplog.text
    with pytest.raises(EdtError) as err:
        build_config("recipe", "tiny", overrides=[f"{key}=1.8"])
    message = str(err.value)
    assert f"unknown training option {key!r} ({TEXT_MC}" in message and "\n" not in message
    with pytest.raises(EdtError, match=r"removed in 0\.2"):
        set_option(TrainConfig(stage="recipe"), key, 0.3)
    # a run folder's config.json: a weight above 0 is a warning, then dropped
    old = TrainConfig(stage="recipe").to_dict()
    old["recipe"]["kind_weights"] = {kind: 1.8, "hbd": 0.2}
    with caplog.at_level(logging.WARNING):
        cfg = TrainConfig.from_dict(json.loads(json.dumps(old)))
    assert cfg.recipe.kind_weights == {"hbd": 0.2}
    assert f"{key}=1.8 ignored ({TEXT_MC}" in caplog.text
    caplog.clear()
    # weight 0 in a YAML file, a saved config and format 1's ``w_<kind>``: no warning
    yml = tmp_path / "old.yaml"
    yml.write_text(f"recipe:\n  kind_weights:\n    {kind}: 0.0\n    hbd: 0.2\n")
    old["recipe"]["kind_weights"] = {kind: 0.0, "hbd": 0.2}
    with caplog.at_level(logging.WARNING):
        assert build_config("recipe", "tiny", config_file=yml).recipe.kind_weights == {"hbd": 0.2}
        assert TrainConfig.from_dict(old).recipe.kind_weights == {"hbd": 0.2}
        flat = TrainConfig.from_dict(
            {"stage": "recipe", "extra": {f"w_{kind}": "0", "w_hbd": "0.2"}}
        )
    assert flat.recipe.kind_weights == {"hbd": 0.2}
    assert not caplog.records, caplog.text


def test_shipped_configs_read_without_a_warning_after_the_text_mc_options_went(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The shipped model's ``training.json`` (whose config carries the text-MC options at
    their defaults) reads without a warning about them (the fact writer's switches it also
    carries are warned about) and the shipped recipes without any; the ablation recipe's kind
    weights are its non-zero ones, as its stream used them."""
    from edtformer.training.config import named_recipes
    from edtformer.training.record import training_extra

    shipped = Path(__file__).resolve().parents[2] / "src/edtformer/assets/bridge/default"
    record = json.loads((shipped / "training.json").read_text())
    with caplog.at_level(logging.WARNING):
        cfg = TrainConfig.from_dict(record["config"])
    assert "mc_" not in caplog.text and TEXT_MC not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        recipes = {name: build_config("recipe", config_file=name) for name in named_recipes()}
    assert not caplog.records, caplog.text
    assert cfg.recipe.fact_sheet and not {"mc_text_start", "mc_layouts"} & set(training_extra(cfg))
    weights = recipes["ablation"].recipe.kind_weights
    assert not {"struct_mc_text", "struct_mc_hint"} & set(weights)
    assert {k for k, w in weights.items() if w > 0} == {
        "has_group", "n_rings", "n_aromatic_rings", "hbd", "hba", "n_stereocentres",
        "same_stereoisomer", "bbbp", "solubility",
    }  # fmt: skip


def test_recipe_sheet_lines_checked_and_passed_to_the_model() -> None:
    from edtformer.model.configuration import SHEET_LINE_MODES
    from edtformer.training.config import RECIPE_SHEET_LINES

    assert set(RECIPE_SHEET_LINES) == set(SHEET_LINE_MODES)
    cfg = build_config("recipe", "tiny", overrides=["recipe.sheet_lines=facts"])
    assert cfg.recipe.sheet_lines == "facts"
    with pytest.raises(EdtError, match=r"recipe\.sheet_lines must be one of"):
        build_config("recipe", "tiny", overrides=["recipe.sheet_lines=lines"]).validate()

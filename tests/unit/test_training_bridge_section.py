"""The training config's ``bridge`` section: ``BridgeConfig``'s fields passed straight through,
the recipe's defaults, and the old keys (``model.connector``, ``model.stereo_embedding``,
``recipe.instruction_aware``, ``recipe.token_norm``) read from saved files and command lines."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from edtformer.bridge import bridge_preset
from edtformer.errors import EdtError
from edtformer.training.build import bridge_config
from edtformer.training.config import BridgeSection, TrainConfig, build_config

ASSETS = Path(__file__).resolve().parents[2] / "src" / "edtformer" / "assets" / "bridge" / "default"


def _llm(norm: float, rows: int = 4, width: int = 8) -> SimpleNamespace:
    """A stand-in LLM whose input embeddings all have L2 norm ``norm``."""
    weight = torch.zeros(rows, width)
    weight[:, 0] = norm
    emb = torch.nn.Embedding.from_pretrained(weight)
    return SimpleNamespace(get_input_embeddings=lambda: emb)


def _without_run_folders(cfg: TrainConfig) -> dict:
    d = cfg.to_dict()
    for section, key in (("run", "out_dir"), ("run", "precision"), ("data", "dir")):
        d[section].pop(key)
    return d


def test_the_shipped_training_json_reads_as_the_default_recipe() -> None:
    """The shipped model's recorded config (format 2 with ``recipe.instruction_aware``,
    ``model.connector``, ..., or format 3) reads as what ``edt train recipe --config default``
    resolves to."""
    shipped = json.loads((ASSETS / "training.json").read_text())["config"]
    if "bridge" not in shipped:  # a format-2 record: the bridge fields sat in recipe / model
        assert shipped["recipe"]["instruction_aware"] is True
    old = TrainConfig.from_dict(shipped)
    new = build_config("recipe", "smol", "default")
    assert _without_run_folders(old) == _without_run_folders(new)
    assert asdict(new.bridge) == {
        "connector": "edt", "stereo_embedding": None, "instruction_aware": True,
        "token_norm": "auto",
    }  # fmt: skip


def test_the_default_recipe_builds_the_shipped_bridge() -> None:
    """Every bridge field of the shipped model follows from the default recipe's config (the
    token norm from the LLM; the widths from the encoders and the LLM)."""
    saved = json.loads((ASSETS / "config.json").read_text())["config"]["bridge"]
    cfg = build_config("recipe", "smol", "default")
    built = asdict(bridge_config(cfg, llm=_llm(saved["token_norm"])))
    for key in ("encoder_widths", "llm_width"):
        built.pop(key)
    assert built == {k: pytest.approx(saved[k]) for k in built}


@pytest.mark.parametrize(("stage", "preset"), [("stage2", "tiny"), ("stage2", "smol"),
                                               ("stage1", "tiny"), ("stage2", "paper")])  # fmt: skip
def test_stage1_and_stage2_build_the_presets_bridge(stage: str, preset: str) -> None:
    cfg = build_config(stage, preset)
    assert asdict(cfg.bridge) == asdict(BridgeSection())  # nothing set: the preset decides
    assert bridge_config(cfg) == bridge_preset(preset)


def test_fields_pass_straight_through() -> None:
    cfg = build_config(
        "recipe", "tiny", None,
        ["bridge.connector=anchors_only", "bridge.stereo_embedding=true", "bridge.token_norm=2.5"],
    )  # fmt: skip
    assert bridge_config(cfg, llm=_llm(9.0)) == bridge_preset(
        "tiny", connector="anchors_only", stereo_embedding=True, instruction_aware=True,
        token_norm=2.5,
    )  # fmt: skip
    auto = build_config("recipe", "tiny")
    assert bridge_config(auto, llm=_llm(3.0)).token_norm == pytest.approx(3.0)
    with pytest.raises(EdtError, match="needs the frozen LLM"):
        bridge_config(auto)


def test_old_keys_of_a_saved_config_move_to_the_bridge_section() -> None:
    """A format-2 ``config.json``: ``model.*`` options move; ``recipe.*`` ones only in a recipe
    run (a stage-2 run never read them: its bridge was not instruction-aware)."""
    old = TrainConfig(stage="stage2").to_dict()
    old["format_version"] = 2
    del old["bridge"]
    old["model"].update(connector="mlp", stereo_embedding=False)
    old["recipe"].update(instruction_aware=True, token_norm="auto")
    stage2 = TrainConfig.from_dict(json.loads(json.dumps(old)))
    assert asdict(stage2.bridge) == asdict(BridgeSection(connector="mlp", stereo_embedding=False))
    recipe = {**old, "stage": "recipe", "model": {"connector": "edt"}}
    recipe["recipe"] = {"instruction_aware": False, "token_norm": "0"}
    cfg = TrainConfig.from_dict(recipe)
    assert (cfg.bridge.instruction_aware, cfg.bridge.token_norm) == (False, "0")
    flat = TrainConfig.from_dict(
        {"stage": "recipe", "connector": "edt", "extra": {"instruction_aware": "false"}}
    )  # format 1: extra values were stored as text
    assert flat.bridge.instruction_aware is False and flat.bridge.token_norm == "auto"


def test_old_keys_in_a_yaml_file(tmp_path: Path) -> None:
    yml = tmp_path / "old.yaml"
    yml.write_text("model:\n  connector: anchors_only\nrecipe:\n  instruction_aware: false\n")
    recipe = build_config("recipe", "tiny", yml)
    assert (recipe.bridge.connector, recipe.bridge.instruction_aware) == ("anchors_only", False)
    assert build_config("stage2", "tiny", yml).bridge.instruction_aware is None
    yml.write_text("bridge:\n  instruction_aware: true\nrecipe:\n  instruction_aware: false\n")
    with pytest.raises(
        EdtError, match=r"recipe\.instruction_aware is now bridge\.instruction_aware"
    ):
        build_config("recipe", "tiny", yml)
    yml.write_text("bridge:\n  token_norm: 3.5\n")  # a number in a file is read as its text
    assert build_config("recipe", "tiny", yml).bridge.token_norm == "3.5"


def test_old_keys_on_the_command_line_set_the_new_ones(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = build_config(
            "recipe", "tiny", None, ["recipe.instruction_aware=false", "model.connector=mlp"]
        )
    assert (cfg.bridge.instruction_aware, cfg.bridge.connector) == (False, "mlp")
    assert "recipe.instruction_aware is now bridge.instruction_aware" in caplog.text
    assert "model.connector is now bridge.connector" in caplog.text


@pytest.mark.parametrize(
    ("stage", "overrides", "message"),
    [
        ("recipe", ["bridge.connector=mlp"], "bridge.instruction_aware needs a query transformer"),
        ("stage1", ["bridge.token_norm=auto"], "bridge.token_norm=auto needs the frozen LLM"),
        ("stage2", ["bridge.token_norm=-1"], "bridge.token_norm must be 'auto' or a number >= 0"),
    ],
)
def test_what_the_bridge_would_refuse_is_refused_first(
    stage: str, overrides: list[str], message: str
) -> None:
    with pytest.raises(EdtError, match="bad training config") as err:
        build_config(stage, "tiny", None, overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_print_config_of_the_shipped_recipe_has_the_bridge_section(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import yaml

    from edtformer.cli.main import main

    assert main(["train", "recipe", "--config", "default", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["bridge"] == {
        "connector": "edt", "stereo_embedding": None, "instruction_aware": True,
        "token_norm": "auto",
    }  # fmt: skip
    assert "instruction_aware" not in printed["recipe"] and "connector" not in printed["model"]

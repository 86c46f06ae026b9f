"""A model folder written before the model/ package move loads and gives the same outputs.

``tests/fixtures/model_v1`` was written by ``make_model_v1.py`` there with the pre-move code (bridge
saved by ``save_pretrained``: ``config.json`` + ``model.safetensors``, an instruction-aware,
token-normed bridge on the ``random`` + ``rdkit`` encoders). The frozen tiny LLM is rebuilt
from its seed; only the saved folder's path to it differs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "model_v1"
sys.path.insert(0, str(FIXTURE))
from make_model_v1 import outputs  # noqa: E402
from tests.fixtures.llm.tiny import make_tiny_llm  # noqa: E402

from edtformer.llm.loading import load_llm  # noqa: E402
from edtformer.model import EDTFormer  # noqa: E402


def test_pre_move_model_folder_loads_with_identical_outputs(tmp_path: Path) -> None:
    llm, tokenizer = load_llm(str(make_tiny_llm(tmp_path / "tiny-llama", seed=0)))
    model = EDTFormer.from_pretrained(FIXTURE / "model", llm=llm, tokenizer=tokenizer)
    assert model.config.encoders == ("random", "rdkit")
    assert model.config.bridge.instruction_aware and model.config.bridge.token_norm == 1.5
    got, expected = outputs(model), load_file(str(FIXTURE / "expected.safetensors"))
    assert got.keys() == expected.keys()
    for key in expected:
        assert torch.allclose(got[key].float(), expected[key].float(), atol=1e-5), key


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("bridge", "n_anchors"), "8", "n_anchors = '8' is not a valid int"),
        (("bridge", "stereo_embedding"), "no", "stereo_embedding = 'no' is not a valid bool"),
        (("boundary_tokens",), "no", "boundary_tokens = 'no' is not a valid bool"),
        (("patch_rule",), "sideways", "patch_rule 'sideways' is not one of"),
        (("bridge",), "edt", "must be JSON objects"),
    ],
)
def test_wrong_types_in_a_saved_config_are_refused(
    tmp_path: Path, path: tuple[str, ...], value: object, message: str
) -> None:
    import json
    import shutil

    from edtformer.errors import EdtError

    folder = tmp_path / "model"
    shutil.copytree(FIXTURE / "model", folder)
    meta = json.loads((folder / "config.json").read_text())
    target = meta["config"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(EdtError, match=re.escape(message)):
        EDTFormer.from_pretrained(folder)


@pytest.mark.parametrize("key", ["instruction_queries", "fact_stereo_code"])
def test_a_saved_model_with_a_bridge_option_removed_in_0_2(tmp_path: Path, key: str) -> None:
    """Folders written before 0.2 carry ``instruction_queries`` / ``fact_stereo_code``: off,
    they load with identical outputs; on, loading names the key (the bridge cannot be rebuilt)."""
    import json
    import shutil

    from edtformer.errors import EdtError

    folder = tmp_path / "model"
    shutil.copytree(FIXTURE / "model", folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["bridge"][key] = False
    (folder / "config.json").write_text(json.dumps(meta))
    llm, tokenizer = load_llm(str(make_tiny_llm(tmp_path / "tiny-llama", seed=0)))
    model = EDTFormer.from_pretrained(folder, llm=llm, tokenizer=tokenizer)
    got, expected = outputs(model), load_file(str(FIXTURE / "expected.safetensors"))
    assert all(torch.allclose(got[k].float(), expected[k].float(), atol=1e-5) for k in expected)
    meta["config"]["bridge"][key] = True
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(EdtError, match=re.escape(f"bridge config: {key} = True is no longer")):
        EDTFormer.from_pretrained(folder, llm=llm, tokenizer=tokenizer)


def test_a_saved_model_of_the_fact_writer_era(tmp_path: Path) -> None:
    """Model folders saved before 0.2 carry the learned fact writer's bridge keys (the shipped
    default bridge's ``config.json`` among them): switched off they load with identical outputs;
    a model whose bridge wrote fact tokens is refused with a message that says why."""
    import json
    import shutil

    from edtformer.errors import EdtError

    folder = tmp_path / "model"
    shutil.copytree(FIXTURE / "model", folder)
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["bridge"].update(
        fact_tokens=False, fact_stereo=False, fact_ez_slots=3, fact_pair=False,
        fact_group_tokens=0, fact_bbb=False, fact_formula=False, fact_groups=[],
    )  # fmt: skip
    (folder / "config.json").write_text(json.dumps(meta))
    llm, tokenizer = load_llm(str(make_tiny_llm(tmp_path / "tiny-llama", seed=0)))
    model = EDTFormer.from_pretrained(folder, llm=llm, tokenizer=tokenizer)
    assert not any(k.startswith("fact_") for k in model.config.bridge.to_dict())
    got, expected = outputs(model), load_file(str(FIXTURE / "expected.safetensors"))
    assert got.keys() == expected.keys()
    assert all(torch.allclose(got[k].float(), expected[k].float(), atol=1e-5) for k in expected)
    meta["config"]["bridge"].update(fact_tokens=True, fact_stereo=True)
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(EdtError) as err:
        EDTFormer.from_pretrained(folder, llm=llm, tokenizer=tokenizer)
    message = str(err.value)
    assert "bridge config: fact_tokens = True is no longer supported" in message
    assert "the learned fact writer; the RDKit fact sheet replaced it" in message


def test_the_shipped_bridge_config_loads_without_the_fact_writer_keys() -> None:
    """A bridge config saved before 0.2 (the default bridge shipped until 2026-12-06) carries
    the fact writer's keys, off: it loads, the keys dropped. The shipped config itself loads."""
    import json

    from edtformer.model import EDTFormerConfig
    from edtformer.model.checkpoint import default_bridge_dir

    meta = json.loads((default_bridge_dir() / "config.json").read_text())
    old = json.loads(json.dumps(meta["config"]))
    old["bridge"].update(  # as the bridge shipped before 2026-12-06 saved them
        fact_bbb=False, fact_ez_slots=3, fact_formula=False, fact_group_tokens=0, fact_groups=[],
        fact_pair=False, fact_stereo=False, fact_stereo_code=False, fact_tokens=False,
    )  # fmt: skip
    for cfg in (meta["config"], old):
        config = EDTFormerConfig.from_dict(cfg)
        assert config.fact_sheet and config.bbb_readout
        assert not any(k.startswith("fact_") for k in config.bridge.to_dict())

"""`edt train` end to end on CPU with tiny models: stage 1, then stage 2 from stage 1's bridge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "llm"))
from tiny import make_tiny_llm


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    make_tiny_llm(root / "llm")
    _edt(root, "data", "build", "--out", str(root / "data"), "--size", "tiny")
    return root


def _edt(root: Path, *args: str, rc: int = 0, **env_extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``edt ARGS`` in a subprocess with its cache under ``root``; check the exit code."""
    env = {**os.environ, "EDT_CACHE": str(root / "cache"), "OMP_NUM_THREADS": "1", **env_extra}
    proc = subprocess.run(
        [sys.executable, "-m", "edtformer.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == rc, proc.stderr[-4000:]
    return proc


def _losses(run: Path) -> list[float]:
    lines = (run / "metrics" / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("loss")
    return [float(row.split(",")[col]) for row in lines[1:] if row.split(",")[col]]


@pytest.mark.slow
def test_stage1_then_stage2_through_cli(workdir: Path) -> None:
    common = ["--preset", "tiny", "--llm", str(workdir / "llm"), "--data", str(workdir / "data")]
    repeat = ["--batch-size", "4", "--set", "data.max_train_samples=4", "--lr", "0.003"]
    s1 = workdir / "s1"
    _edt(
        workdir,
        "train",
        "stage1",
        *common,
        *repeat,
        "--out",
        str(s1),
        "--max-steps",
        "12",
        "--no-progress",
    )
    losses = _losses(s1)
    assert len(losses) == 12 and sum(losses[-3:]) < sum(losses[:3])
    meta = json.loads((s1 / "final" / "bridge_config.json").read_text())
    assert meta["stage"] == "stage1" and meta["encoders"] == ["random"]
    assert (s1 / "checkpoints" / "latest").read_text().strip() == "step-0000012"

    s2 = workdir / "s2"
    out = _edt(
        workdir,
        "train",
        "stage2",
        *common,
        *repeat,
        "--out",
        str(s2),
        "--max-steps",
        "12",
        "--init-from",
        str(s1 / "final"),
        "--no-progress",
    )
    assert "stage2: 12 steps" in out.stdout
    losses = _losses(s2)
    assert sum(losses[-3:]) < sum(losses[:3])
    cfg = json.loads((s2 / "final" / "config.json").read_text())
    assert cfg["format_version"] >= 1
    assert (s2 / "final" / "model.safetensors").is_file()

    # the latest checkpoint (step 12 = the end) exports to the same trained tensors
    _edt(workdir, "train", "export", "--out", str(s2), "--to", str(workdir / "exported"))
    from safetensors.torch import load_file

    final = load_file(s2 / "final" / "model.safetensors")
    exported = load_file(workdir / "exported" / "model.safetensors")
    assert final.keys() == exported.keys()
    assert all(torch.equal(final[k], exported[k]) for k in final)


def test_train_reports_missing_dataset(tmp_path: Path) -> None:
    proc = _edt(tmp_path, "train", "stage1", "--preset", "tiny", "--data", str(tmp_path / "nope"),
                "--out", str(tmp_path / "o"), rc=2)  # fmt: skip
    assert "edt data build" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_stage1_ddp_two_ranks_identical(workdir: Path, tmp_path: Path) -> None:
    """Two gloo DDP processes (contrastive features gathered across ranks) end with equal weights."""
    digests = tmp_path / "digests"
    script = Path(__file__).resolve().parents[1] / "integration" / "stage1_ddp.py"
    env = {**os.environ, "EDT_CACHE": str(workdir / "cache"), "OMP_NUM_THREADS": "1"}
    args = [str(workdir / "llm"), str(workdir / "data"), str(tmp_path / "ddp"), str(digests)]
    proc = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    a, b = (digests / "rank0.sha256").read_text(), (digests / "rank1.sha256").read_text()
    assert a == b


def test_recipe_runs_end_to_end_at_tiny_preset(workdir: Path) -> None:
    """`edt train recipe` at --preset tiny: trains, writes the valid curve and a loadable model."""
    run = workdir / "recipe"
    common = ["--preset", "tiny", "--llm", str(workdir / "llm"), "--data", str(workdir / "data")]
    out = _edt(
        workdir, "train", "recipe", *common, "--out", str(run), "--max-steps", "7",
        "--set", "recipe.eval_every=3", "--set", "recipe.eval_per_kind=2", "--no-progress",
    )  # fmt: skip
    assert "recipe: 7 steps" in out.stdout
    rows = [json.loads(line) for line in (run / "curve.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 3, 6, 7]  # every 3 steps and at the end
    assert [r["samples"] for r in rows] == [0, 12, 24, 28]
    assert {"struct_text", "stereo", "struct_mc", "bbbp"} <= set(rows[-1]["metrics"])
    cfg = json.loads((run / "final" / "config.json").read_text())["config"]
    assert cfg["bridge"]["instruction_aware"] is True and cfg["bridge"]["token_norm"] > 0
    header = (run / "metrics" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "answer_loss" in header  # the answer loss is the whole loss
    assert not {"fact_loss", "writer_loss", "slot_loss"} & set(header)
    losses = _losses(run)
    assert len(losses) == 7 and all(x == x for x in losses)  # finite, logged every step
    assert not (run / "bridge_warmup.json").exists()
    record = json.loads((run / "final" / "training.json").read_text())
    assert record["seed"] == 0 and record["samples"] == 28
    assert record["training_mode"] == "bridge (frozen LLM), frozen graph encoder(s)"
    assert "recipe" in record["command"]


def test_recipe_continues_a_lora_model(workdir: Path) -> None:
    """`--init-from` a model folder loads its bridge *and* LoRA adapters (adapters on layers it
    lacked start at zero); the retired fact-writer switches set off replay as no-ops; another
    rank is refused. (The tiny LLM's 512 positions do not hold a fact sheet: the recipe's
    blood-brain-barrier read-out fit is ``tests/unit/test_bbb_readout.py``'s.)"""
    from safetensors.torch import load_file

    common = ["--preset", "tiny", "--llm", str(workdir / "llm"), "--data", str(workdir / "data"),
              "--no-progress", "--set", "recipe.eval_every=0"]  # fmt: skip
    first, second = workdir / "lora_a", workdir / "lora_b"
    _edt(workdir, "train", "recipe", *common, "--out", str(first), "--max-steps", "2",
         "--set", "lora.r=2")  # fmt: skip
    proc = _edt(
        workdir, "-v", "train", "recipe", *common, "--out", str(second),
        "--init-from", str(first / "final"), "--set", "lora.r=2", "--lr", "1e-9",
        "--set", "recipe.balance_bbbp=true", "--set", "recipe.kind_weights.weight=0.1",
        "--set", "recipe.aux_weight=0", "--set", "recipe.slot_weight=0",  # retired, off: no-ops
        "--set", "lora.targets=q_proj,v_proj,o_proj", "--max-steps", "2",
        "--set", "recipe.kind_weights.struct_mc_text=0",  # retired (issue 32), off: a no-op
    )  # fmt: skip
    assert "LoRA tensors in" in proc.stderr
    assert "recipe.aux_weight=0: nothing to do" in proc.stderr
    assert not (second / "fact_writer.json").exists()
    assert not (second / "bbb_head.json").exists()  # no fact sheet, no read-out
    record = json.loads((second / "final" / "training.json").read_text())
    assert record["extra"]["balance_bbbp"] is True and "mc_text_full" not in record["extra"]
    assert "struct_mc_text" not in record["kind_weights"]
    assert not any(k.startswith(("aux_", "slot_", "fact_t")) for k in record["extra"])
    assert all(x == x for x in _losses(second))
    first_record = json.loads((first / "final" / "training.json").read_text())
    assert record["continues"][0]["command"] == first_record["command"]
    assert record["total"]["samples"] == record["samples"] + first_record["samples"]
    card = (second / "final" / "README.md").read_text()
    assert "continues training stage 1" in card and "fact tokens" not in card
    a = load_file(first / "final" / "model.safetensors")
    b = load_file(second / "final" / "model.safetensors")
    lora = [k for k in a if "lora_" in k]
    assert lora and all(torch.allclose(a[k], b[k], atol=1e-6) for k in lora)  # loaded, kept
    assert not any("o_proj.lora_" in k for k in a) and any("o_proj.lora_" in k for k in b)
    assert not any(".facts." in k or ".bbb" in k for k in b)
    proc = _edt(
        workdir, "train", "recipe", *common, "--out", str(workdir / "lora_c"), "--max-steps", "1",
        "--init-from", str(first / "final"), "--set", "lora.r=4", rc=2,
    )  # fmt: skip
    assert "LoRA adapters do not fit this model" in proc.stderr


def test_print_config_shows_the_resolved_nested_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from edtformer.cli.main import main
    from edtformer.training.config import TrainConfig

    rc = main(["train", "recipe", "--preset", "tiny", "--out", str(tmp_path / "r"), "--lr", "0.01",
               "--set", "bridge.instruction_aware=false", "--print-config"])  # fmt: skip
    assert rc == 0 and not (tmp_path / "r").exists()
    cfg = TrainConfig.from_dict(yaml.safe_load(capsys.readouterr().out))
    assert cfg.stage == "recipe" and cfg.optim.lr == 0.01 and cfg.bridge.instruction_aware is False
    assert cfg.run.out_dir == str(tmp_path / "r") and cfg.model.preset == "tiny"
    rc = main(["train", "all", "--preset", "tiny", "--out", str(tmp_path / "a"), "--print-config"])
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert rc == 0 and [d["stage"] for d in docs] == ["stage1", "stage2"]
    assert docs[1]["model"]["init_from"] == str(tmp_path / "a" / "stage1" / "final")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "lr=abc"], "did you mean optim.lr?"),
        (["--set", "optim.lr=abc"], "option optim.lr: expected float, got 'abc'"),
        (["--max-steps", "0"], "optim.max_steps must be >= 1, got 0"),
        (["--batch-size", "-4"], "optim.batch_size must be >= 1, got -4"),
        (["--set", "optim.grad_accum=0"], "optim.grad_accum must be >= 1"),
        (["--lr", "nan"], "optim.lr must be a finite number"),
        (["--set", "recipe.fact_sheet=maybe"], "expected true/false"),
        (["--set", "model.n_anchors=16"], "removed in 0.2: set by nothing shipped"),
        (["--set", "recipe.fact_tokens=true"], "removed in 0.2: the learned fact writer"),
        (["--set", "recipe.aux_weight=0.5"], "removed in 0.2: the learned fact writer"),
        (["--connector", "mlp"], "connector 'mlp' has none"),
    ],
)
def test_nonsense_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    from edtformer.cli.main import main

    out = tmp_path / "run"
    rc = main(
        ["train", "all", "--preset", "tiny", "--data", str(tmp_path), "--out", str(out), *args]
    )
    err = capsys.readouterr().err
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing trained, nothing saved

"""The training precision is chosen by the hardware: bf16 only where it runs natively (or a
timing probe finds it faster), an explicit precision is honoured as given."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from edtformer.training import precision
from edtformer.training.precision import choose_precision


@pytest.fixture
def avx2_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CPU without native bf16: torch says AVX2, /proc/cpuinfo has no bf16 flag, no GPU."""
    monkeypatch.setattr(precision, "cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx2", "fma", "sse4_2"})
    monkeypatch.setattr(precision.torch.cuda, "is_available", lambda: False)


def test_fp32_when_the_cpu_has_no_native_bf16(avx2_cpu: None) -> None:
    slow_bf16 = lambda: (1.09, 25.05)  # noqa: E731  # the issue's AVX2 EPYC step times
    chosen, reason = choose_precision(None, "cpu", probe=slow_bf16)
    assert chosen == "32-true" and "no native bf16" in reason and "AVX2" in reason
    assert choose_precision("auto", "auto", probe=None)[0] == "32-true"


def test_bf16_where_native_or_where_the_probe_finds_it_faster(
    avx2_cpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert choose_precision(None, probe=lambda: (1.0, 0.5))[0] == "bf16-mixed"
    monkeypatch.setattr(precision, "cpu_flags", lambda: {"avx512f", "avx512_bf16"})
    chosen, reason = choose_precision(None, probe=lambda: (1.0, 99.0))  # the flag wins
    assert chosen == "bf16-mixed" and "avx512_bf16" in reason
    monkeypatch.setattr(precision, "cpu_flags", set)
    monkeypatch.setattr(precision, "cpu_capability", lambda: "AMX")
    assert choose_precision(None, probe=None)[0] == "bf16-mixed"


@pytest.mark.parametrize("requested", ["bf16-mixed", "32-true", "16-mixed", "bf16-true"])
def test_an_explicit_precision_is_honoured(avx2_cpu: None, requested: str) -> None:
    assert choose_precision(requested, probe=lambda: (1.0, 99.0)) == (requested, "requested")


def test_the_probe_times_both_precisions() -> None:
    fp32_s, bf16_s = precision.bf16_probe(steps=3, tokens=4, width=8, hidden=16)
    assert fp32_s > 0 and bf16_s > 0


def test_a_probe_within_noise_keeps_fp32(avx2_cpu: None) -> None:
    """A busy CPU without native bf16 once timed bf16 at 28.6 ms and fp32 at 33.5 ms: within
    the margin, so fp32 stays; bf16 must be clearly faster."""
    assert choose_precision(None, probe=lambda: (0.0335, 0.0286))[0] == "32-true"
    assert choose_precision(None, probe=lambda: (1.0, 1.0 / precision.PROBE_MARGIN))[0] == (
        "bf16-mixed"
    )


def test_a_resumed_run_keeps_its_checkpoints_precision(
    avx2_cpu: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import json

    monkeypatch.setattr(precision, "bf16_probe", lambda: (1.0, 0.1))  # bf16 "much faster"
    ckpt = tmp_path / "checkpoints" / "step-0000200"
    ckpt.mkdir(parents=True)
    (ckpt / "state.json").write_text(json.dumps({"config": {"run": {"precision": "32-true"}}}))
    (tmp_path / "checkpoints" / "latest").write_text("step-0000200\n")
    assert precision.resolve_precision("auto", "cpu", resume_from=tmp_path) == "32-true"
    assert precision.resolve_precision("auto", "cpu") == "bf16-mixed"  # a fresh run probes
    assert precision.resolve_precision("bf16-true", "cpu", resume_from=tmp_path) == "bf16-true"
    assert precision.checkpoint_precision(tmp_path / "none") is None


def test_make_fabric_resolves_auto(
    avx2_cpu: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("lightning")
    from edtformer.training.config import build_config
    from edtformer.training.engine import make_fabric

    monkeypatch.setattr(precision, "bf16_probe", lambda: (1.0, 0.5))  # bf16 "faster"
    cfg = build_config(
        "stage2", "tiny", overrides=["run.precision=auto", f"run.out_dir={tmp_path}"]
    )
    make_fabric(cfg)
    assert cfg.run.precision == "bf16-mixed"  # the probe decided; config.json records it
    monkeypatch.setattr(precision, "bf16_probe", lambda: (1.0, 25.0))
    cfg.run.precision = "auto"
    make_fabric(cfg)
    assert cfg.run.precision == "32-true"


def _args(*argv: str) -> argparse.Namespace:
    from edtformer.cli.main import build_parser

    return build_parser().parse_args(["train", "recipe", *argv])


def test_cli_turns_the_presets_bf16_into_a_choice_unless_asked(tmp_path: Path) -> None:
    from edtformer.cli.train import _config

    assert _config(_args(), "recipe", str(tmp_path)).run.precision == "auto"
    assert _config(_args("--precision", "bf16-mixed"), "recipe", str(tmp_path)).run.precision == (
        "bf16-mixed"
    )
    explicit = _args("--set", "run.precision=bf16-mixed")
    assert _config(explicit, "recipe", str(tmp_path)).run.precision == "bf16-mixed"
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("run:\n  precision: bf16-mixed\n")
    from_file = _args("--config", str(yaml_file))
    assert _config(from_file, "recipe", str(tmp_path)).run.precision == "bf16-mixed"
    tiny = _args("--preset", "tiny")  # a preset that asks for fp32 keeps it
    assert _config(tiny, "recipe", str(tmp_path)).run.precision == "32-true"

"""The training precision, chosen by the hardware rather than assumed.

bf16 autocast pays off only where bf16 matrix products run natively: on a CPU with AVX512-BF16
or AMX one LoRA step of SmolLM2-135M ran 1.7x faster than fp32, while on an AVX2-only CPU of
the same machine kind it ran 23x *slower* (25.05 s vs 1.09 s, batch 2 x 64 tokens, 1 thread:
oneDNN emulates the bf16 products). :func:`choose_precision` therefore picks

- the requested precision when one is given (``--precision``, ``run.precision``);
- on a CUDA GPU: ``bf16-mixed`` where the GPU supports bf16, else ``32-true``;
- on a CPU: ``bf16-mixed`` when the CPU has native bf16 (torch's CPU capability reports
  AVX512_BF16 or AMX, or ``/proc/cpuinfo`` lists ``avx512_bf16`` / ``amx_bf16``), or when a
  timing probe (:func:`bf16_probe`, median of alternating steps) finds bf16 autocast clearly
  faster than fp32 (by :data:`PROBE_MARGIN`: on a busy CPU without native bf16 a single pair
  of timings once read 28.6 ms bf16 vs 33.5 ms fp32 and would have switched a resumed fp32 run
  to bf16); else ``32-true``.

``"auto"`` (or ``None``) asks for the choice; any other value is honoured as given. A resumed
run keeps the precision its checkpoint was trained with (:func:`checkpoint_precision`).
"""

from __future__ import annotations

import json
import logging
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch

from edtformer.training.checkpoint import latest_checkpoint

logger = logging.getLogger(__name__)

#: The value of ``run.precision`` that asks :func:`choose_precision` to decide.
AUTO = "auto"
#: torch CPU capabilities (``torch.backends.cpu.get_cpu_capability()``) with native bf16.
NATIVE_BF16_CAPABILITIES = ("AVX512_BF16", "AMX")
#: ``/proc/cpuinfo`` flags of native bf16 matrix products.
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
#: Without native bf16, the probe must find bf16 autocast at least this much faster (fp32 time
#: over bf16 time) before training switches to it.
PROBE_MARGIN = 1.25


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """torch's CPU capability (``AVX2``, ``AVX512``, ...; ``unknown`` if torch cannot say)."""
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # pragma: no cover - very old torch
        return "unknown"


def cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_cpu_bf16() -> str | None:
    """Why this CPU runs bf16 natively (``"torch CPU capability AMX"``, ``"CPU flag
    avx512_bf16"``), or ``None`` when it does not."""
    capability = cpu_capability()
    if any(c in capability.upper() for c in NATIVE_BF16_CAPABILITIES):
        return f"torch CPU capability {capability}"
    flags = cpu_flags() & set(NATIVE_BF16_FLAGS)
    if flags:
        return "CPU flag " + ", ".join(sorted(flags))
    return None


def bf16_probe(
    steps: int = 6, tokens: int = 128, width: int = 576, hidden: int = 1536
) -> tuple[float, float]:
    """Seconds of a small forward + backward in fp32 and under bf16 autocast: one MLP block of
    SmolLM2-135M's shape (``width`` -> ``hidden`` -> ``width``) on ``tokens`` tokens (a batch of
    2 x 64), ``steps`` steps of each, alternating; the first of each warms the kernels up and
    the median of the rest is returned. Returns ``(fp32_s, bf16_s)``."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(tokens, width, generator=gen)
    w1 = torch.randn(width, hidden, generator=gen).div_(width**0.5).requires_grad_()
    w2 = torch.randn(hidden, width, generator=gen).div_(hidden**0.5).requires_grad_()
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(max(steps, 2)):
        for bf16 in (False, True):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = ((x @ w1).relu() @ w2).float().square().mean()
            loss.backward()
            times[bf16].append(time.perf_counter() - t0)
    return statistics.median(times[False][1:]), statistics.median(times[True][1:])


def checkpoint_precision(run_dir: str | Path) -> str | None:
    """The precision the latest checkpoint of ``run_dir`` was trained with (its saved config's
    ``run.precision``), or ``None`` when there is no checkpoint or it does not say."""
    folder = latest_checkpoint(Path(run_dir))
    if folder is None:
        return None
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return None
    run = (state.get("config") or {}).get("run") or {}
    precision = run.get("precision")
    return str(precision) if precision not in (None, AUTO) else None


def choose_precision(
    requested: str | None,
    accelerator: str = "cpu",
    probe: Callable[[], tuple[float, float]] | Literal["default"] | None = "default",
) -> tuple[str, str]:
    """The Lightning precision to train with, and why.

    Args:
        requested: a Lightning precision string (honoured as given), or ``None`` / ``"auto"``
            to choose by the hardware.
        accelerator: ``cpu``, ``gpu``/``cuda`` or ``auto`` (a visible CUDA GPU counts).
        probe: the timing probe run on a CPU without native bf16 (``"default"``:
            :func:`bf16_probe`; ``None``: no probe, fp32).

    Returns:
        ``(precision, reason)``, e.g. ``("32-true", "CPU without native bf16 (...)")``.
    """
    if requested not in (None, AUTO):
        return str(requested), "requested"
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if on_gpu:
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return "bf16-mixed", f"CUDA GPU with bf16 ({torch.cuda.get_device_name(0)})"
        return "32-true", "GPU without bf16 support"
    native = native_cpu_bf16()
    where = f"{cpu_name()}, torch CPU capability {cpu_capability()}"
    if native is not None:
        return "bf16-mixed", f"native bf16 on this CPU ({native}; {where})"
    if probe == "default":
        probe = bf16_probe
    if probe is not None:
        fp32_s, bf16_s = probe()
        timing = f"probe step fp32 {1000 * fp32_s:.1f} ms, bf16 autocast {1000 * bf16_s:.1f} ms"
        if bf16_s * PROBE_MARGIN <= fp32_s:
            return "bf16-mixed", f"no native bf16 flag, but bf16 is faster here ({timing}; {where})"
        return "32-true", f"no native bf16 on this CPU ({timing}; {where})"
    return "32-true", f"no native bf16 on this CPU ({where})"


def resolve_precision(
    requested: str | None, accelerator: str = "cpu", resume_from: str | Path | None = None
) -> str:
    """:func:`choose_precision`, logged (the hook where the Fabric precision is set); with
    ``resume_from`` (a run folder being resumed) and ``"auto"``, the checkpoint's precision."""
    if requested in (None, AUTO) and resume_from is not None:
        saved = checkpoint_precision(resume_from)
        if saved is not None:
            logger.info("training precision %s: the resumed checkpoint's", saved)
            return saved
    precision, reason = choose_precision(requested, accelerator)
    logger.info("training precision %s: %s", precision, reason)
    return precision


__all__ = [
    "AUTO",
    "PROBE_MARGIN",
    "bf16_probe",
    "checkpoint_precision",
    "choose_precision",
    "cpu_capability",
    "cpu_name",
    "native_cpu_bf16",
    "resolve_precision",
]

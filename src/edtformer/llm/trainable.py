"""What trains and what stays frozen: explicit flags (torchtune-style), LoRA, parameter counts."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from edtformer.errors import EdtError, require

logger = logging.getLogger(__name__)


@dataclass
class LoraSettings:
    """LoRA adapters on the LLM (for downstream fine-tuning; always report that a result used it)."""

    r: int = 8
    """Adapter rank."""
    alpha: int = 16
    """Scaling numerator (``alpha / r``)."""
    dropout: float = 0.05
    """Dropout on the adapter input (training only)."""
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    """Names of the LLM linear layers that get adapters."""


@dataclass
class TrainableConfig:
    """Which parts train. Default: the bridge only; graph encoder and LLM frozen."""

    bridge_trainable: bool = True
    """Connector (anchors, dynamic-token projection, query layers, LLM projection)."""
    encoder_trainable: bool = False
    """Graph encoders. Must stay False: encoders are frozen by design (their features are cached)."""
    llm_trainable: bool = False
    """Every LLM weight. Must stay False; use ``lora`` or ``new_token_rows_trainable`` instead."""
    new_token_rows_trainable: bool = False
    """Only the embedding rows of the added tokens (``<mol_start>``, ``<mol_end>``)."""
    lora: LoraSettings | None = None
    """LoRA adapters on the LLM (``None``: no adapters)."""

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):
            lora = dict(self.lora)
            lora["target_modules"] = tuple(lora.get("target_modules", LoraSettings.target_modules))
            self.lora = LoraSettings(**lora)
        if self.encoder_trainable:
            raise EdtError(
                "encoder_trainable=True is not supported: graph encoders are frozen and cached"
            )
        if self.llm_trainable:
            raise EdtError(
                "llm_trainable=True (full fine-tuning) is not supported; use lora=LoraSettings() "
                "or new_token_rows_trainable=True"
            )

    @property
    def mode(self) -> str:
        """Short name of the training mode, for reports (e.g. ``bridge+lora``)."""
        parts = ["bridge"] if self.bridge_trainable else []
        if self.new_token_rows_trainable:
            parts.append("token_rows")
        if self.lora is not None:
            parts.append("lora")
        return "+".join(parts) or "frozen"

    def describe(self, text_only: bool = False) -> str:
        """The training mode in words, the one wording every report uses: ``bridge (frozen
        LLM)``, ``bridge + LoRA r=8 (alpha 16) on the LLM's q_proj, v_proj``, ``LoRA r=8 ...``
        for a SMILES-only model (``text_only``: no bridge reaches the LLM), ``zero-shot``."""
        parts = []
        if self.bridge_trainable and not text_only:
            parts.append("bridge")
        if self.new_token_rows_trainable:
            parts.append("new token rows")
        if self.lora is not None:
            targets = ", ".join(self.lora.target_modules)
            parts.append(f"LoRA r={self.lora.r} (alpha {self.lora.alpha}) on the LLM's {targets}")
        if not parts:
            return "zero-shot (nothing trained)"
        text = " + ".join(parts)
        return text if self.lora is not None else f"{text} (frozen LLM)"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        d = asdict(self)
        if self.lora is not None:
            d["lora"]["target_modules"] = list(self.lora.target_modules)
        return d


def add_lora(llm: nn.Module, settings: LoraSettings) -> None:
    """Inject LoRA adapters into ``llm`` in place (module names keep their paths); only they train."""
    peft = require("peft", "llm")
    config = peft.LoraConfig(  # type: ignore[attr-defined]
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
    )
    peft.inject_adapter_in_model(config, llm)  # type: ignore[attr-defined]
    n = 0
    for name, p in llm.named_parameters():
        p.requires_grad_("lora_" in name)
        n += int("lora_" in name)
    if n == 0:
        raise EdtError(f"LoRA target modules {settings.target_modules} matched no layer of the LLM")


@dataclass
class ParameterCounts:
    """Parameter counts of a model, by part."""

    trainable: int
    frozen: int
    by_part: dict[str, tuple[int, int]] = field(default_factory=dict)
    """``part -> (trainable, frozen)``."""

    @property
    def trainable_share(self) -> float:
        """Trainable parameters / all parameters."""
        total = self.trainable + self.frozen
        return self.trainable / total if total else 0.0

    def summary(self) -> str:
        """One line for logs."""
        parts = ", ".join(f"{k} {t:,}/{t + f:,}" for k, (t, f) in self.by_part.items())
        return (
            f"trainable {self.trainable:,} / {self.trainable + self.frozen:,} parameters "
            f"({100 * self.trainable_share:.2f} %); by part (trainable/total): {parts}"
        )


def count_parameters(parts: dict[str, nn.Module]) -> ParameterCounts:
    """Count trainable / frozen parameters of each named part (shared tensors counted once)."""
    seen: set[int] = set()
    by_part: dict[str, tuple[int, int]] = {}
    for name, module in parts.items():
        t = f = 0
        for p in module.parameters():
            if id(p) in seen:
                continue
            seen.add(id(p))
            if p.requires_grad:
                t += p.numel()
            else:
                f += p.numel()
        by_part[name] = (t, f)
    return ParameterCounts(
        trainable=sum(t for t, _ in by_part.values()),
        frozen=sum(f for _, f in by_part.values()),
        by_part=by_part,
    )

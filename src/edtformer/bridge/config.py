"""Bridge configuration: connector kind, Dynamic Query Transformer sizes, named presets.

The bridge sits between the frozen graph encoder(s) and the frozen LLM. Its input widths
(``encoder_widths``) and output width (``llm_width``) are *derived* by the parent
:class:`~edtformer.model.EDTFormerConfig` from the encoders and the LLM it is attached to; a
preset only fixes the bridge's own sizes.

Presets:
    - ``tiny``: for tests (2 layers, width 32, 4 anchors, <= 8 dynamic tokens).
    - ``smol``: the CPU default (4 layers, width 256, 8 anchors, <= 24 dynamic tokens).
    - ``paper``: the reference BLIP-2 Q-Former size (12 layers, width 768, 12 heads,
      32 anchors, <= 64 dynamic tokens).
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

from edtformer.errors import EdtError

#: Connector variants. ``edt``: anchors + dynamic tokens (EDT-Former); ``anchors_only``: static
#: BLIP-2 Q-Former; ``dynamic_only``: entropy-guided dynamic tokens without anchors; ``mlp``: a
#: LLaVA/InstructMol-style projector giving one token per atom; ``none``: no molecule tokens,
#: the SMILES text goes into the prompt instead.
ConnectorKind = Literal["edt", "anchors_only", "dynamic_only", "mlp", "none"]
CONNECTOR_KINDS: tuple[str, ...] = ("edt", "anchors_only", "dynamic_only", "mlp", "none")

_FACT_WRITER = "removed in 0.2: the learned fact writer; the RDKit fact sheet replaced it"

#: Bridge options removed in 0.2: key -> why. A saved ``config.json`` that carries one switched
#: off (``false`` / ``0`` / ``null`` / ``[]``, the old default) loads with the key dropped; one
#: switched on is refused by :meth:`BridgeConfig.from_dict`: its bridge had parts this version
#: cannot rebuild. The learned fact writer's keys (``fact_*``) were written by every bridge
#: saved before 0.2, switched off unless the bridge wrote fact tokens.
RETIRED_KEYS: dict[str, str] = {
    "instruction_queries": "removed in 0.2: set by nothing shipped (the question's words "
    "joining the queries)",
    "fact_stereo_code": "removed in 0.2: set by nothing shipped (the fact writer's one-letter "
    "stereo code)",
    "fact_tokens": _FACT_WRITER,
    "fact_stereo": _FACT_WRITER,
    "fact_ez_slots": _FACT_WRITER,
    "fact_pair": _FACT_WRITER,
    "fact_group_tokens": _FACT_WRITER,
    "fact_bbb": _FACT_WRITER,
    "fact_formula": _FACT_WRITER,
    "fact_groups": _FACT_WRITER,
}

#: Retired keys that sized a part rather than switched one on: dropped whatever their value
#: (``fact_ez_slots``, the writer's E/Z list length, was saved as 3 or more by bridges without a
#: writer too).
_RETIRED_SIZES = frozenset({"fact_ez_slots"})


def _retired_off(key: str, value: Any) -> bool:
    """True if the retired ``key`` saved as ``value`` leaves this version's bridge unchanged."""
    if key in _RETIRED_SIZES:
        return True
    return value is None or value is False or value == 0 or value == [] or value == ()


@dataclass
class BridgeConfig:
    """Sizes and options of the bridge (one of the :data:`CONNECTOR_KINDS`)."""

    connector: str = "edt"
    """Connector variant, one of :data:`CONNECTOR_KINDS`."""
    n_anchors: int = 8
    """K: learned modality anchors (query tokens), initialised N(0, 0.02). Ignored by ``dynamic_only``."""
    max_dynamic_tokens: int = 24
    """Cap on P, the dynamic tokens per molecule (patch means). Dropped patches are counted and logged."""
    n_layers: int = 4
    """L: query-transformer layers (self-attention among queries + cross-attention to nodes + MLP)."""
    width: int = 256
    """Hidden width of the query transformer."""
    n_heads: int = 4
    """Attention heads (``width`` must be divisible by it)."""
    mlp_ratio: float = 4.0
    """MLP hidden width = ``mlp_ratio * width``."""
    dropout: float = 0.0
    """Dropout on attention outputs and MLPs (training only)."""
    stereo_embedding: bool = False
    """Add a trainable embedding of our own stereo features (chirality tag, E/Z) to the nodes."""
    n_blend_layers: int = 1
    """Layers of the stream-blending block (used only when several encoder streams are fused)."""
    instruction_aware: bool = False
    """Queries also read the question (InstructBLIP-style): the question's frozen LLM token
    embeddings are projected to the bridge width, their mean is added to every query and they
    join the node features as cross-attention keys, so the tokens can carry the asked-for fact.
    Off in the paper preset (the paper's queries see only the molecule)."""
    token_norm: float = 0.0
    """If > 0, every molecule token is rescaled to this L2 norm times one learned scalar gain
    (set it to the LLM's mean input-embedding norm so soft tokens sit at the scale the frozen
    LLM expects). 0: unscaled (the paper's linear projection)."""
    encoder_widths: tuple[int, ...] = (64,)
    """Node-feature width of each encoder stream. Derived by the parent config."""
    llm_width: int = 576
    """Hidden width of the LLM the molecule tokens are projected to. Derived by the parent config."""

    def __post_init__(self) -> None:
        self.encoder_widths = tuple(int(w) for w in self.encoder_widths)
        self.validate()

    def validate(self) -> None:
        """Raise :class:`EdtError` on an inconsistent configuration."""
        if self.connector not in CONNECTOR_KINDS:
            raise EdtError(
                f"unknown connector {self.connector!r}; expected one of {', '.join(CONNECTOR_KINDS)}"
            )
        if self.width % self.n_heads:
            raise EdtError(f"bridge width {self.width} is not divisible by n_heads {self.n_heads}")
        if not self.encoder_widths or min(self.encoder_widths) <= 0:
            raise EdtError(f"encoder_widths must be positive widths, got {self.encoder_widths}")
        if self.connector == "edt" and (self.n_anchors < 1 or self.max_dynamic_tokens < 1):
            raise EdtError("connector 'edt' needs n_anchors >= 1 and max_dynamic_tokens >= 1")
        if self.connector == "anchors_only" and self.n_anchors < 1:
            raise EdtError("connector 'anchors_only' needs n_anchors >= 1")
        if self.instruction_aware and self.connector not in ("edt", "anchors_only", "dynamic_only"):
            raise EdtError(
                f"instruction_aware needs a query-transformer connector, not {self.connector!r}"
            )
        if self.token_norm < 0:
            raise EdtError(f"token_norm must be >= 0 (0 = off), got {self.token_norm}")
        if self.connector == "dynamic_only" and self.max_dynamic_tokens < 1:
            raise EdtError("connector 'dynamic_only' needs max_dynamic_tokens >= 1")

    @property
    def uses_anchors(self) -> bool:
        """True if the connector has learned anchor queries."""
        return self.connector in ("edt", "anchors_only")

    @property
    def uses_dynamic(self) -> bool:
        """True if the connector turns patches into dynamic query tokens."""
        return self.connector in ("edt", "dynamic_only")

    @property
    def anchors(self) -> int:
        """Number of anchor tokens the LLM sees per molecule (0 for connectors without anchors)."""
        return self.n_anchors if self.uses_anchors else 0

    @property
    def n_streams(self) -> int:
        """Number of fused encoder streams."""
        return len(self.encoder_widths)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists)."""
        d = asdict(self)
        d["encoder_widths"] = list(self.encoder_widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BridgeConfig:
        """Inverse of :meth:`to_dict`; unknown keys or values of the wrong JSON type (a string
        for ``n_anchors``, ``"no"`` for a flag) raise :class:`EdtError`. A key of
        :data:`RETIRED_KEYS` is dropped when it is off (``false`` / ``0`` / ``null`` / ``[]``)
        and raises :class:`EdtError` when it is on."""
        d = dict(d)
        for key, why in RETIRED_KEYS.items():
            if key in d and not _retired_off(key, d[key]):
                raise EdtError(
                    f"bridge config: {key} = {d[key]!r} is no longer supported ({why}); "
                    "this model cannot be rebuilt by this version of edtformer"
                )
            d.pop(key, None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise EdtError(f"unknown bridge config keys {unknown}; known: {sorted(known)}")
        check_json_types(cls, d, "bridge config")
        return cls(**d)


def _json_type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_json_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple or hint is tuple:
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return isinstance(value, list | tuple) and all(
            _json_type_ok(v, args[0]) if args else True for v in value
        )
    if origin is Literal:
        return value in typing.get_args(hint)
    return True  # nested configs check themselves


def check_json_types(cls: type, d: dict[str, Any], what: str) -> None:
    """Refuse config values whose JSON type does not match the dataclass field's type."""
    hints = typing.get_type_hints(cls)
    for key, value in d.items():
        hint = hints.get(key)
        if hint is not None and not _json_type_ok(value, hint):
            shown = hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")
            raise EdtError(f"{what}: {key} = {value!r} is not a valid {shown}")


def tiny(**overrides: Any) -> BridgeConfig:
    """Test preset: 2 layers, width 32, 4 heads, 4 anchors, <= 8 dynamic tokens."""
    base = BridgeConfig(n_anchors=4, max_dynamic_tokens=8, n_layers=2, width=32, n_heads=4)
    return replace(base, **overrides)


def smol(**overrides: Any) -> BridgeConfig:
    """CPU default: 4 layers, width 256, 4 heads, 8 anchors, <= 24 dynamic tokens, stereo embedding."""
    base = BridgeConfig(
        n_anchors=8,
        max_dynamic_tokens=24,
        n_layers=4,
        width=256,
        n_heads=4,
        stereo_embedding=True,
    )
    return replace(base, **overrides)


def paper(**overrides: Any) -> BridgeConfig:
    """Reference size: 12 layers, width 768, 12 heads, 32 anchors, <= 64 dynamic tokens."""
    base = BridgeConfig(n_anchors=32, max_dynamic_tokens=64, n_layers=12, width=768, n_heads=12)
    return replace(base, **overrides)


PRESETS: dict[str, Callable[..., BridgeConfig]] = {"tiny": tiny, "smol": smol, "paper": paper}


def bridge_preset(name: str, **overrides: Any) -> BridgeConfig:
    """The named preset (``tiny``, ``smol``, ``paper``) with ``overrides`` applied."""
    try:
        return PRESETS[name](**overrides)
    except KeyError:
        raise EdtError(f"unknown bridge preset {name!r}; known: {', '.join(PRESETS)}") from None


__all__ = [
    "CONNECTOR_KINDS",
    "PRESETS",
    "RETIRED_KEYS",
    "BridgeConfig",
    "ConnectorKind",
    "bridge_preset",
    "paper",
    "smol",
    "tiny",
]

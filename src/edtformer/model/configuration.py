"""The whole model's config, :class:`EDTFormerConfig` (transformers' ``configuration_*`` file).

It is the parent config: :meth:`EDTFormer.build <edtformer.model.EDTFormer.build>` derives the
bridge's ``encoder_widths`` and ``llm_width`` from the loaded encoders and LLM, so a config
written by hand names the parts and the saved one (``config.json``) records the derived widths.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from edtformer.bridge import BridgeConfig, smol
from edtformer.bridge.config import check_json_types
from edtformer.errors import EdtError
from edtformer.llm.loading import DEFAULT_LLM
from edtformer.llm.trainable import TrainableConfig
from edtformer.patching import RULES

#: ``EDTFormerConfig.sheet_lines`` values: the whole sheet, the lines a question names, or
#: those lines cut to the single facts it names.
SHEET_LINE_MODES = ("question", "facts", "all")


@dataclass
class EDTFormerConfig:
    """The whole model. The bridge's input/output widths are derived from the encoders and the LLM."""

    encoders: tuple[str, ...] = ("minimol",)
    """Registry names of the frozen graph encoders; more than one = fused streams."""
    llm: str = DEFAULT_LLM
    """The frozen causal LLM: ``smollm2-135m-instruct`` (embedded), a hub id or a local folder."""
    bridge: BridgeConfig = field(default_factory=smol)
    """Connector kind and sizes (preset ``smol``; ``encoder_widths``/``llm_width`` derived)."""
    patch_rule: str = "combine"
    """Patching rule of :mod:`edtformer.patching` for the dynamic tokens."""
    system_prompt: str | None = None
    """System message; ``None`` keeps the chat template's default."""
    boundary_tokens: bool = True
    """Wrap each molecule's tokens in ``<mol_start>`` / ``<mol_end>``."""
    trainable: TrainableConfig = field(default_factory=TrainableConfig)
    """What trains (default: bridge only)."""
    fact_sheet: bool = False
    """Write each molecule's exact RDKit fact sheet (:func:`edtformer.facts.render_sheet`) as
    text right after its molecule tokens, for the LLM to read."""
    sheet_lines: str = "question"
    """With ``fact_sheet``: ``question`` writes only the sheet lines the question names
    (:func:`edtformer.facts.select.lines_for`; the whole sheet when it names none), ``facts``
    also cuts those lines to the single facts it names (:func:`edtformer.facts.select.narrow`:
    "weight per mole" reads ``molecular weight`` only), ``all`` the whole sheet always."""
    sheet_asked: bool = True
    """With ``fact_sheet``: also write each element and functional group the question names as
    its own fact (``chlorine atoms: 2``, ``ester: no``; :func:`edtformer.facts.select.asked_facts`),
    so an absent one is a written 0 / no."""
    answer_prefix: bool = True
    """Start the generated answer of a question that asks for JSON under a named key with
    ``{"key":`` (:func:`edtformer.llm.formats.answer_prefix`), so the asked key is the one
    written."""
    constrain_lists: bool = True
    """With ``fact_sheet``: a generated answer whose one asked fact is the functional-group list
    lists only distinct names of the molecule's groups, chosen and ordered by the LLM
    (:class:`edtformer.llm.constrained.NameListConstraint`): no repeated, invented or
    question-word names; one asking the largest fragment is one of the molecule's fragments
    (canonical SMILES)."""
    decline_unnamed: bool = False
    """With ``fact_sheet``: a generated answer to a question that names no fact of the sheet
    (:func:`edtformer.facts.select.lines_for` finds no line: melting point, dose, price, ...)
    is begun with "I can't tell", as the bridge was trained to answer such questions, instead
    of letting a small LLM guess from a sheet that does not hold the answer."""
    bbb_readout: bool = False
    """Keep a learned blood-brain-barrier read-out of the pooled frozen streams
    (:class:`~edtformer.bridge.readout.BBBReadout`); with ``fact_sheet`` its P(BBB+) is written
    on the sheet as a labelled estimate."""

    def __post_init__(self) -> None:
        """Normalise the fields a JSON file gives as plain values, in place: ``encoders`` (a
        list) becomes a tuple, ``bridge`` and ``trainable`` (dicts) become
        :class:`BridgeConfig` / :class:`TrainableConfig`. Nothing else is rewritten; an unknown
        ``sheet_lines`` raises :class:`EdtError`."""
        self.encoders = tuple(self.encoders)
        if self.sheet_lines not in SHEET_LINE_MODES:
            raise EdtError(
                f"sheet_lines must be one of {list(SHEET_LINE_MODES)}, got {self.sheet_lines!r}"
            )
        if isinstance(self.bridge, dict):
            self.bridge = BridgeConfig.from_dict(self.bridge)
        if isinstance(self.trainable, dict):
            self.trainable = TrainableConfig(**self.trainable)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the ``config`` entry of a model folder's ``config.json``)."""
        return {
            "encoders": list(self.encoders),
            "llm": self.llm,
            "bridge": self.bridge.to_dict(),
            "patch_rule": self.patch_rule,
            "system_prompt": self.system_prompt,
            "boundary_tokens": self.boundary_tokens,
            "trainable": self.trainable.to_dict(),
            "fact_sheet": self.fact_sheet,
            "sheet_lines": self.sheet_lines,
            "sheet_asked": self.sheet_asked,
            "answer_prefix": self.answer_prefix,
            "constrain_lists": self.constrain_lists,
            "decline_unnamed": self.decline_unnamed,
            "bbb_readout": self.bbb_readout,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EDTFormerConfig:
        """Inverse of :meth:`to_dict`; unknown keys, values of the wrong JSON type and unknown
        patch rules raise :class:`EdtError`."""
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise EdtError(f"unknown model config keys {unknown}")
        check_json_types(cls, {k: v for k, v in d.items() if k not in ("bridge", "trainable")},
                         "model config")  # fmt: skip
        if "patch_rule" in d and d["patch_rule"] not in (*RULES, "none"):
            raise EdtError(
                f"model config: patch_rule {d['patch_rule']!r} is not one of {[*RULES, 'none']}"
            )
        if not isinstance(d.get("bridge", {}), dict) or not isinstance(
            d.get("trainable", {}), dict
        ):
            raise EdtError("model config: bridge and trainable must be JSON objects")
        return cls(**d)


__all__ = ["SHEET_LINE_MODES", "EDTFormerConfig"]

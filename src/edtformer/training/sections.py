"""The sections of a :class:`~edtformer.training.config.TrainConfig`: one dataclass per concern,
one docstring per field (``edt train ... --print-config`` prints them in :data:`SECTIONS` order).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from edtformer.errors import EdtError

#: Training stages: ``recipe`` is the default bridge's one-stage recipe (:mod:`.recipe`).
STAGES: tuple[str, ...] = ("stage1", "stage2", "recipe")

#: Connectors with a query transformer: the only ones stage 1 (bridge vs text) can train.
STAGE1_CONNECTORS: tuple[str, ...] = ("edt", "anchors_only", "dynamic_only")


@dataclass
class ModelSection:
    """What is built: sizes, frozen parts, patching (the bridge's own options: ``bridge``)."""

    preset: str = "smol"
    """Bridge size preset (``tiny``, ``smol``, ``paper``: ``edtformer.bridge.bridge_preset``)."""
    encoders: tuple[str, ...] = ("minimol",)
    """Frozen graph encoder name(s); several are fused streams (``--set model.encoders=a,b``)."""
    llm: str = "smollm2-135m-instruct"
    """Frozen LLM: ``smollm2-135m-instruct`` (embedded default), a hub id or a local folder."""
    patch_rule: str = "combine"
    """Patching rule for dynamic tokens."""
    init_from: str | None = None
    """A bridge folder to start from (stage 2 starts from a stage-1 checkpoint)."""


@dataclass
class BridgeSection:
    """The bridge's options: fields of :class:`~edtformer.bridge.BridgeConfig` under the same
    names, passed straight through to ``bridge_preset(model.preset, ...)``; ``None`` keeps the
    preset's value. The sizes are the preset's (``model.preset``); ``encoder_widths`` and
    ``llm_width`` are derived from the encoders and the LLM. A ``recipe`` config starts with
    :data:`RECIPE_BRIDGE` (instruction-aware queries, tokens at the LLM's scale)."""

    connector: str = "edt"
    """Connector variant (``edt``, ``anchors_only``, ``dynamic_only``, ``mlp``, ``none``)."""
    stereo_embedding: bool | None = None
    """A trainable embedding of the stereo features (chirality tag, E/Z) added to the nodes."""
    instruction_aware: bool | None = None
    """The query transformer reads the question's frozen LLM token embeddings (InstructBLIP's
    Q-Former reads the instruction), so the tokens can carry the asked-for fact."""
    token_norm: str | None = None
    """Every molecule token rescaled to this L2 norm times a learned gain: a number (0 = off) or
    ``auto``, the frozen LLM's mean input-embedding norm (text, so that ``auto`` can be written;
    resolved to a number when the model is built)."""


#: The ``bridge`` fields a ``recipe`` config starts with (where the section leaves them ``None``).
RECIPE_BRIDGE: dict[str, Any] = {"instruction_aware": True, "token_norm": "auto"}


@dataclass
class OptimSection:
    """Optimisation: steps, batch and AdamW with linear warm-up then cosine decay."""

    max_steps: int = 1000
    """Optimizer steps to run (the run ends there)."""
    batch_size: int = 16
    """Samples per optimizer step per device (before accumulation)."""
    grad_accum: int = 1
    """Micro-batches accumulated per optimizer step."""
    lr: float = 1e-4
    """Peak learning rate (AdamW)."""
    bridge_lr_scale: float = 1.0
    """The bridge's (connector's) learning rate is ``lr`` times this; LoRA adapters and new token
    rows keep ``lr``. Below 1 keeps the bridge closer to its inputs (see README,
    "What training does to the bridge's states")."""
    weight_decay: float = 0.05
    """AdamW weight decay."""
    warmup_steps: int = 50
    """Linear warm-up steps before cosine decay."""
    min_lr_ratio: float = 0.1
    """Cosine decays to ``lr * min_lr_ratio``."""
    grad_clip: float = 1.0
    """Gradient norm clip (0 disables)."""
    max_batch_tokens: int = 4096
    """A collated batch with more (padded) prompt tokens than this is run as smaller pieces,
    each piece's loss weighted by its share of the batch's samples, gradients summed (0: never
    split). Batches under it are untouched; it bounds training memory where one batch of huge
    molecules with whole fact sheets would not fit (a shipped-recipe run was OOM-killed twice
    at the same step, 23 GB)."""


@dataclass
class DataSection:
    """Where the training samples come from."""

    dir: str = "data_out"
    """Folder written by ``edt data build``."""
    tasks: tuple[str, ...] = ()
    """Task names to train on (empty: every task of the stage)."""
    max_train_samples: int | None = None
    """Cap on training samples (after the split), for quick runs."""
    cache_dir: str | None = None
    """Frozen node-feature cache (``None``: ``$EDT_CACHE/features``)."""


@dataclass
class RunSection:
    """Where and how the run executes: folder, seed, devices, logging, checkpoints."""

    out_dir: str = "runs/default"
    """Run folder: checkpoints, metrics, the final bridge."""
    seed: int = 0
    """Seed for weights, data order and dropout."""
    devices: int = 1
    """Processes / GPUs."""
    accelerator: str = "auto"
    """``cpu``, ``gpu``/``cuda`` or ``auto``."""
    strategy: str = "auto"
    """``auto``, ``ddp``, ``fsdp`` or ``deepspeed``."""
    precision: str = "32-true"
    """Lightning precision string (``32-true``, ``bf16-mixed``, ``16-mixed``, ...)."""
    log_every: int = 10
    """Log metrics every N steps."""
    ckpt_every: int = 200
    """Write a resumable checkpoint every N steps (and at the end)."""
    keep_checkpoints: int = 2
    """How many step checkpoints to keep."""
    loggers: tuple[str, ...] = ("csv",)
    """Metric loggers: ``csv`` and/or ``tensorboard``."""


@dataclass
class Stage1Section:
    """Stage 1 (bridge vs text): the small text tower and the weights of its three losses."""

    max_text_len: int = 48
    """Text tokens per caption."""
    text_layers: int = 2
    """Transformer layers of the text tower."""
    embed_dim: int = 128
    """Shared contrastive embedding width."""
    w_itc: float = 1.0
    """Weight of the contrastive (graph-text) loss."""
    w_itm: float = 1.0
    """Weight of the matching loss."""
    w_lm: float = 1.0
    """Weight of the captioning loss."""


@dataclass
class LoraSection:
    """LoRA adapters on the frozen LLM (stage 2 / recipe)."""

    r: int = 0
    """Adapter rank; 0 trains no adapters (bridge only)."""
    targets: str = "q_proj,v_proj"
    """Comma-separated names of the LLM linear layers that get adapters (e.g.
    ``q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj``). A model continued with
    ``--init-from`` keeps its adapters; adapters on layers it lacked start at zero."""


@dataclass
class RecipeSection:
    """The levers of ``edt train recipe`` (each can be turned off for the learning curves); read
    by the ``recipe`` stage only (``stage2`` trains on the dataset's records and ignores them)."""

    fact_sheet: bool = False
    """Each molecule's exact RDKit fact sheet is written as text after its tokens
    (``EDTFormerConfig.fact_sheet``), with the learned blood-brain-barrier read-out's estimate on
    it, and the questions come from :class:`~edtformer.training.sheet_stream.SheetStream` (train
    phrasings of every sheet fact, declining off-sheet questions, the dataset's questions);
    ``kind_weights`` then names that stream's kinds."""
    sheet_full_rate: float = 0.0
    """With ``fact_sheet``: share of training batches whose prompts get the whole sheet although
    their questions name some lines (the rest get the named lines only, as at inference). The
    batches that carry off-sheet questions get the whole sheet anyway (about 20 %)."""
    sheet_lines: str = "question"
    """With ``fact_sheet``: what of the sheet a prompt reads, in training and in the saved
    model (``EDTFormerConfig.sheet_lines``: ``question`` the lines a question names, ``facts``
    those lines cut to the single facts it names, ``all`` the whole sheet)."""
    decline_unnamed: bool = False
    """With ``fact_sheet``: the saved model begins its answer to a question that names no sheet
    fact with "I can't tell" (``EDTFormerConfig.decline_unnamed``; training answers such
    questions with the decline anyway)."""
    eval_every: int = 200
    """Score the valid curve every N steps (0: never)."""
    eval_per_kind: int = 32
    """Valid questions per scored question kind."""
    eval_at_start: bool = True
    """Score the untrained starting point of the curve."""
    curve_kinds: tuple[str, ...] = ()
    """Question kinds the valid curve scores (``training.curve.CURVE_KIND_TASK``; empty: the
    default ``CURVE_TASKS``)."""
    curve_zero_tokens: bool = False
    """Also score each curve point with the molecule tokens zeroed before the LLM (the
    zero-token control), with the count kinds' paired gap and its standard error."""
    balance_bbbp: bool = False
    """Draw BBBP questions with ``P(yes) = 1/2`` (the train labels are about 3:1 "yes"; drawn at
    that rate the LLM learns to answer "yes" to every molecule)."""
    answer_loss: str = "token"
    """How the answer loss averages: ``"token"`` (the mean over every answer token of a batch: a
    40-token description outweighs twenty one-word answers) or ``"answer"`` (each question's
    mean token loss, averaged over the batch's questions: every question weighs the same)."""
    bbbp_targets: str = "labels"
    """Answers of the BBBP training questions: ``"labels"`` (the train molecules' B3DB labels)
    or ``"soft"`` (with the fact sheet, whose BBB line is the read-out's estimate: the answer's
    first token's loss is the cross-entropy against the frozen blood-brain-barrier read-out's
    (P, 1 - P) over "yes" / "no", so the LLM learns P(yes) as a function of the written
    estimate instead of fitting the labels through the molecule tokens)."""
    kind_weights: dict[str, float] = field(default_factory=dict)
    """Question-kind sampling weights overriding ``questions.KIND_WEIGHTS``
    (``--set recipe.kind_weights.has_group=0.3``)."""


#: Section name -> its dataclass, in the order they print.
SECTIONS: dict[str, type] = {
    "model": ModelSection,
    "bridge": BridgeSection,
    "optim": OptimSection,
    "data": DataSection,
    "run": RunSection,
    "stage1": Stage1Section,
    "lora": LoraSection,
    "recipe": RecipeSection,
}


def known_keys() -> list[str]:
    """Every ``section.key`` an override may name (``recipe.kind_weights.KIND`` is open)."""
    return ["stage"] + [f"{s}.{f.name}" for s, cls in SECTIONS.items() for f in fields(cls)]


def field_type(key: str, unknown: Callable[[str], str]) -> tuple[Any, str | None]:
    """``(declared type, dict item or None)`` of the dotted option ``key`` (``section.field`` or
    ``section.dict_field.ITEM``).

    Raises:
        EdtError: no such option (``unknown(key)`` is the message).
    """
    parts = key.split(".")
    cls = SECTIONS.get(parts[0])
    hints = typing.get_type_hints(cls) if cls is not None else {}
    if len(parts) < 2 or parts[1] not in hints:
        raise EdtError(unknown(key))
    hint = hints[parts[1]]
    if len(parts) == 2:
        return hint, None
    if len(parts) == 3 and typing.get_origin(hint) is dict:
        return hint, parts[2]
    raise EdtError(unknown(key))


__all__ = [
    "RECIPE_BRIDGE",
    "SECTIONS",
    "STAGE1_CONNECTORS",
    "STAGES",
    "BridgeSection",
    "DataSection",
    "LoraSection",
    "ModelSection",
    "OptimSection",
    "RecipeSection",
    "RunSection",
    "Stage1Section",
    "field_type",
    "known_keys",
]

"""The rows and budgets of ``edt bench``'s ablation table: the variants (what differs between two
rows), the budgets (what every row shares) and the training config of one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from edtformer.errors import EdtError


@dataclass(frozen=True)
class Variant:
    """One row of the ablation table (everything else is the budget's and identical across rows)."""

    name: str
    connector: str
    """``edt``, ``anchors_only``, ``dynamic_only``, ``mlp`` or ``none`` (SMILES text only)."""
    patch_rule: str = "combine"
    fused: bool = False
    """Use the budget's fused encoder pair instead of its single encoder."""
    stereo_embedding: bool | None = None
    """Override the bridge preset's trainable stereo embedding (``None``: preset default)."""
    lora_r: int | None = None
    """LoRA rank on the LLM (marks the row as *not* frozen-LLM)."""
    train: bool = True
    """``False``: evaluate the built model untrained (zero-shot)."""
    description: str = ""

    def training_mode(self) -> str:
        """What trains in this row (:meth:`TrainableConfig.describe`)."""
        # heavy: llm/ imports torch; 'edt bench --help' reads the budgets
        from edtformer.llm.trainable import LoraSettings, TrainableConfig

        if not self.train:
            return TrainableConfig(bridge_trainable=False).describe()
        lora = LoraSettings(r=self.lora_r) if self.lora_r else None
        return TrainableConfig(lora=lora).describe(text_only=self.connector == "none")


#: The ablation rows, in table order.
VARIANTS: tuple[Variant, ...] = (
    Variant("full", "edt", "combine", description="anchors + entropy and BRICS dynamic tokens"),
    Variant("entropy_only", "edt", "quantile", description="dynamic tokens from entropy patches"),
    Variant("brics_only", "edt", "brics", description="dynamic tokens from BRICS (no entropy)"),
    Variant("anchors_only", "anchors_only", description="static Q-Former: anchors only"),
    Variant("dynamic_only", "dynamic_only", description="dynamic tokens only, no anchors"),
    Variant("mlp", "mlp", description="MLP projector, one token per atom"),
    Variant("smiles_lora", "none", lora_r=8, description="SMILES in the prompt, LoRA on the LLM"),
    Variant(
        "smiles_zeroshot", "none", train=False, description="SMILES in the prompt, no training"
    ),
    Variant("no_stereo_emb", "edt", stereo_embedding=False, description="full without stereo emb."),
    Variant("fused", "edt", fused=True, description="full on two fused encoders"),
)
VARIANT_NAMES: tuple[str, ...] = tuple(v.name for v in VARIANTS)


#: Question kinds of the learnable setting (answers written nowhere in the prompt).
LEARN_KINDS: tuple[str, ...] = (
    "has_group",
    "n_rings",
    "n_aromatic_rings",
    "hbd",
    "hba",
    "n_stereocentres",
    "same_stereoisomer",
    "bbbp",
    "solubility",
)


@dataclass(frozen=True)
class Budget:
    """Training and evaluation settings shared by every row."""

    name: str
    preset: str
    max_steps: int
    batch_size: int
    lr: float
    warmup_steps: int
    eval_limit: int | None
    """Test records scored per task (a fixed seeded subset; ``None``: all)."""
    encoder: str
    fused_encoder: str
    train_tasks: tuple[str, ...] = ("struct_mc", "stereo")
    eval_tasks: tuple[str, ...] = ("struct_mc", "stereo")
    max_new_tokens: int | None = None
    eval_batch_size: int = 8
    accelerator: str = "cpu"
    precision: str = "32-true"
    recipe: str | None = None
    """A named recipe config (``src/edtformer/recipes/<name>.yaml``): every row is a ``recipe``
    run of that file (its question stream, LoRA, valid curve) instead of a bare ``stage2`` run on
    ``train_tasks``; ``lr`` is then the recipe's."""
    eval_kinds: tuple[str, ...] = ()
    """With ``recipe``: the question kinds scored on test, ``eval_limit`` seeded questions each
    (``training.curve.CURVE_KIND_TASK``; whole-task kinds get twice as many)."""
    zero_tokens: bool = False
    """Score every trained row a second time with its molecule tokens zeroed before the LLM."""
    curve_every: int | None = None
    """With ``recipe``: score the valid curve every N steps (``None``: the recipe's)."""
    overrides: tuple[str, ...] = ()
    """Further ``section.key=value`` settings of every row (on top of the recipe)."""


BUDGETS: dict[str, Budget] = {
    # Tests: the tiny random LLM given by --llm, random encoder, seconds per run.
    "tiny": Budget("tiny", "tiny", 4, 4, 3e-3, 1, 12, "random", "random,random", max_new_tokens=4),
    # 2-core CPU with SmolLM2-135M, one thread per run: ~4-7 s per step of 8 -> 9-14 min
    # training and ~1-2 min scoring per run (SMILES + LoRA ~30 min); all variants x 2 seeds in
    # about 2.5 h with --jobs 2 (measured 2026-11-26).
    "cpu": Budget("cpu", "smol", 120, 8, 3e-4, 8, 100, "minimol", "minimol,chemprop"),
    # The learnable setting (recipes/ablation.yaml): LoRA r=8, no fact sheet, per-atom streams,
    # the balanced stream of count / group / stereo / BBBP / solubility questions, scored with
    # and without the molecule tokens. The step count is the smallest at which the full model's
    # valid curve beat its zero-token control by > 3 SE on the count kinds: step 600, gap +0.050,
    # SE 0.016 (benchmarks/results/ablation_curve_long.md). Valid curve at 200 / 400 / 600.
    "learn": Budget(
        "learn",
        "smol",
        600,
        8,
        1e-3,
        50,
        60,
        "minimol,rdkit_atoms",
        "minimol,rdkit_atoms",
        recipe="ablation",
        eval_kinds=LEARN_KINDS,
        zero_tokens=True,
        precision="auto",
        curve_every=200,
        overrides=("recipe.eval_at_start=false",),
    ),
    # The learnable setting at test size: the tiny LLM of --llm, random encoder, seconds per row.
    "tiny_learn": Budget(
        "tiny_learn",
        "tiny",
        3,
        4,
        3e-3,
        1,
        2,
        "random",
        "random,random",
        max_new_tokens=4,
        recipe="ablation",
        eval_kinds=LEARN_KINDS,
        zero_tokens=True,
        curve_every=3,
        overrides=("recipe.eval_per_kind=2", "recipe.eval_at_start=false"),
    ),
    # GPU scale (a config change, not run here).
    "paper": Budget(
        "paper",
        "paper",
        3000,
        32,
        1e-4,
        100,
        None,
        "minimol",
        "minimol,chemprop",
        eval_batch_size=32,
        accelerator="gpu",
        precision="bf16-mixed",
    ),
}


def get_variants(names: Sequence[str] | None) -> list[Variant]:
    """The variants named (all of them for ``None``), in table order; unknown names raise."""
    if not names:
        return list(VARIANTS)
    unknown = [n for n in names if n not in VARIANT_NAMES]
    if unknown:
        raise EdtError(f"unknown bench variant(s) {unknown}; choose from {list(VARIANT_NAMES)}")
    return [v for v in VARIANTS if v.name in names]


#: Connectors with a query transformer (the only ones that can read the question's words).
QUERY_CONNECTORS: tuple[str, ...] = ("edt", "anchors_only", "dynamic_only")


def train_config(
    variant: Variant, budget: Budget, seed: int, data_dir: str, out: Path, llm: str | None
) -> Any:
    """The :class:`~edtformer.training.config.TrainConfig` of one run: the budget's preset (and
    recipe, if it names one) with the budget's and the variant's fields put in with
    :func:`dataclasses.replace`; nothing else differs between two rows."""
    # light: 'edt bench --help' imports this module; the config reader (and YAML) load here
    from edtformer.training.config import build_config

    if budget.recipe is not None:
        base = build_config("recipe", budget.preset, budget.recipe, budget.overrides)
    else:
        base = build_config("stage2", budget.preset, None, budget.overrides)
    encoders = budget.fused_encoder if variant.fused else budget.encoder
    model = replace(
        base.model,
        patch_rule=variant.patch_rule,
        encoders=tuple(e for e in encoders.split(",") if e),
        llm=llm if llm is not None else base.model.llm,
    )
    bridge = replace(
        base.bridge, connector=variant.connector, stereo_embedding=variant.stereo_embedding
    )
    if budget.recipe is not None and variant.connector not in QUERY_CONNECTORS:
        bridge = replace(bridge, instruction_aware=False)  # nothing there reads the question
    optim = replace(
        base.optim,
        max_steps=budget.max_steps,
        batch_size=budget.batch_size,
        warmup_steps=budget.warmup_steps,
    )
    cfg = replace(
        base,
        model=model,
        bridge=bridge,
        optim=optim if budget.recipe is not None else replace(optim, lr=budget.lr),
        data=replace(base.data, dir=str(data_dir), tasks=tuple(budget.train_tasks)),
        run=replace(
            base.run,
            out_dir=str(out),
            seed=seed,
            accelerator=budget.accelerator,
            precision=budget.precision,
            ckpt_every=min(base.run.ckpt_every, budget.max_steps),
            keep_checkpoints=1,
        ),
        lora=base.lora if budget.recipe is not None else replace(base.lora, r=variant.lora_r or 0),
    )
    if budget.recipe is not None and budget.curve_every is not None:
        cfg = replace(cfg, recipe=replace(cfg.recipe, eval_every=budget.curve_every))
    return cfg.validate()


@lru_cache(maxsize=8)
def _recipe_lora_r(preset: str, recipe: str, overrides: tuple[str, ...]) -> int:
    """The LoRA rank of a recipe budget's rows (the recipe file is read once per process)."""
    # light: 'edt bench --help' imports this module; the config reader (and YAML) load here
    from edtformer.training.config import build_config

    return build_config("recipe", preset, recipe, overrides).lora.r


def row_mode(variant: Variant, budget: Budget) -> str:
    """What trains in ``variant``'s row under ``budget`` (the recipe's LoRA for every trained
    row of a recipe budget)."""
    if budget.recipe is None or not variant.train:
        return variant.training_mode()
    # heavy: llm/ imports torch; 'edt bench --help' reads the budgets
    from edtformer.llm.trainable import LoraSettings, TrainableConfig

    r = _recipe_lora_r(budget.preset, budget.recipe, budget.overrides)
    lora = LoraSettings(r=r) if r else None
    return TrainableConfig(lora=lora).describe(text_only=variant.connector == "none")


__all__ = [
    "BUDGETS",
    "LEARN_KINDS",
    "QUERY_CONNECTORS",
    "VARIANTS",
    "VARIANT_NAMES",
    "Budget",
    "Variant",
    "get_variants",
    "row_mode",
    "train_config",
]

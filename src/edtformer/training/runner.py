"""Stage 1 (bridge vs text), the model every stage-2 run trains (:func:`build_stage2_model`) and
the export of a stage-2 run's checkpoint. Stage 2 itself (``edt train stage2`` and ``edt train
recipe``) runs through :func:`edtformer.training.recipe.run_recipe`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from edtformer.bridge import build_connector
from edtformer.errors import CheckpointError, EdtError
from edtformer.llm.loading import load_llm
from edtformer.llm.trainable import LoraSettings, TrainableConfig
from edtformer.model import EDTFormer, EDTFormerConfig
from edtformer.model.checkpoint import load_adapter_weights, load_connector_weights, save_bridge
from edtformer.training.build import (
    STAGE1_TASKS,
    bridge_config,
    build_processor,
    llm_width,
    load_records,
    load_tokenizer,
    warm_feature_cache,
)
from edtformer.training.checkpoint import latest_checkpoint, load_checkpoint
from edtformer.training.config import TrainConfig
from edtformer.training.engine import FitHooks, FitResult, fit, load_trainable_state, make_fabric
from edtformer.training.stage1 import Stage1Collator, Stage1Model, TextVocab
from edtformer.training.stage2 import Stage2Module

logger = logging.getLogger(__name__)


def run_stage1(
    cfg: TrainConfig, resume: bool = False, progress: bool = True, hooks: FitHooks | None = None
) -> FitResult:
    """Stage 1: the bridge learns against text (contrastive, matching, captioning), encoder frozen."""
    cfg.validate()  # refuses, among others, a connector stage 1 cannot train (mlp, none)
    fabric = make_fabric(cfg, resume)
    fabric.launch()
    fabric.seed_everything(cfg.run.seed)
    tasks = tuple(cfg.data.tasks) or STAGE1_TASKS
    records = load_records(cfg, tasks, "train")
    pairs = [(r["smiles"][0], r["answer"]) for r in records]
    connector_kind = cfg.bridge.connector
    processor, rule = build_processor(cfg, uses_patches=connector_kind != "anchors_only")
    bridge_cfg = bridge_config(
        cfg, encoder_widths=processor.widths, llm_width=llm_width(cfg.model.llm)
    )
    connector = build_connector(bridge_cfg)
    if cfg.model.init_from:
        load_connector_weights(connector, Path(cfg.model.init_from))
    bad = warm_feature_cache(processor, [s for s, _ in pairs], progress=progress)
    pairs = [(s, t) for s, t in pairs if s not in bad]
    s1 = cfg.stage1
    vocab = TextVocab(load_tokenizer(cfg.model.llm), [t for _, t in pairs], s1.max_text_len)
    model = Stage1Model(
        connector,
        vocab_size=len(vocab),
        n_text_layers=s1.text_layers,
        embed_dim=s1.embed_dim,
        max_text_len=s1.max_text_len,
        loss_weights=(s1.w_itc, s1.w_itm, s1.w_lm),
    )
    n_train = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if fabric.is_global_zero:
        logger.info(
            "stage 1: %d pairs, bridge %s (%s, rule %s), %d trainable parameters (bridge %d)",
            len(pairs), cfg.model.preset, connector_kind, rule, n_train,
            sum(p.numel() for p in connector.parameters()),
        )  # fmt: skip
    meta = {
        "stage": "stage1",
        "encoders": list(processor.encoder_names),
        "patch_rule": rule,
        "llm": cfg.model.llm,
        "preset": cfg.model.preset,
        "seed": cfg.run.seed,
    }
    torch.manual_seed(cfg.run.seed)
    return fit(
        fabric,
        cfg,
        model,
        pairs,
        Stage1Collator(processor, vocab),
        resume=resume,
        on_final=lambda m, out: save_bridge(model.connector, out, meta),
        progress=progress,
        hooks=hooks,
    )


#: Stage-2 tasks used when ``cfg.data.tasks`` is empty: the instruction tasks of ``edt data build``.
STAGE2_DEFAULT_TASKS: tuple[str, ...] = ("struct_mc", "struct_text", "stereo", "bbbp")


def build_stage2_model(cfg: TrainConfig) -> Any:
    """The :class:`~edtformer.model.EDTFormer` a stage-2 or recipe run trains (encoders cached,
    LLM frozen): the bridge of :func:`~edtformer.training.build.bridge_config`, LoRA adapters of
    the ``lora`` section, and in a ``recipe`` run with ``recipe.fact_sheet`` the RDKit fact sheet
    and the blood-brain-barrier read-out; ``model.init_from`` loads a bridge (and its LoRA
    adapters) to start from.
    """
    llm, tokenizer = load_llm(cfg.model.llm)
    bridge = bridge_config(cfg, llm=llm)
    processor, rule = build_processor(cfg, uses_patches=bridge.uses_dynamic)
    lora = None
    if cfg.lora.r > 0:
        targets = tuple(t.strip() for t in cfg.lora.targets.split(",") if t.strip())
        if not targets:
            raise EdtError("lora.targets names no LLM layer (e.g. 'q_proj,v_proj')")
        lora = LoraSettings(r=cfg.lora.r, target_modules=targets)
    trainable = TrainableConfig(lora=lora)
    sheet: dict[str, Any] = {}
    if cfg.stage == "recipe" and cfg.recipe.fact_sheet:
        sheet = {
            "fact_sheet": True,
            "bbb_readout": True,
            "sheet_lines": cfg.recipe.sheet_lines,
            "decline_unnamed": cfg.recipe.decline_unnamed,
        }
    config = EDTFormerConfig(
        encoders=processor.encoder_names,
        llm=cfg.model.llm,
        bridge=bridge,
        patch_rule=rule,
        trainable=trainable,
        **sheet,
    )
    model = EDTFormer.build(config, processor=processor, llm=llm, tokenizer=tokenizer)
    if cfg.model.init_from:
        init = Path(cfg.model.init_from)
        load_connector_weights(model.connector, init)
        n = load_adapter_weights(model, init) if trainable.lora is not None else 0
        logger.info(
            "stage 2 starts from the bridge%s in %s", f" and {n} LoRA tensors" * bool(n), init
        )
    return model


def export_stage2(run_dir: Path, out: Path) -> Path:
    """Turn a stage-2 run's latest checkpoint into a model folder (for interrupted or long runs).

    Rebuilds the model from the run's ``config.json`` (frozen parts from their ids), loads the
    checkpoint's trained tensors and writes ``out`` with :meth:`EDTFormer.save_pretrained`.
    """
    cfg_path = Path(run_dir) / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{run_dir} is not a training run (no config.json)")
    cfg = TrainConfig.from_dict(json.loads(cfg_path.read_text()))
    if cfg.stage != "stage2":
        raise CheckpointError(f"{run_dir} is a {cfg.stage} run; only stage-2 runs export a model")
    ckpt_dir = latest_checkpoint(Path(run_dir))
    if ckpt_dir is None:
        raise CheckpointError(f"{run_dir} has no checkpoint yet")
    ckpt = load_checkpoint(ckpt_dir)
    cfg.model.init_from = None
    module = Stage2Module(build_stage2_model(cfg))
    load_trainable_state(module, ckpt.trainable, f"checkpoint {ckpt_dir}")
    module.model.save_pretrained(out)  # type: ignore[operator]
    logger.info("exported %s (step %d) to %s", ckpt_dir.name, ckpt.position.step, out)
    return Path(out)

"""Build a stage's pieces from a :class:`TrainConfig`: frozen encoders (cached), patcher, data.

Kept apart from the stage modules so that the objectives (``stage1.py``, ``stage2.py``) read
without any file or registry plumbing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from edtformer.errors import DataError, EdtError
from edtformer.training.config import TrainConfig

logger = logging.getLogger(__name__)

#: Stage-1 graph-text pair tasks of ``edt data build``.
STAGE1_TASKS: tuple[str, ...] = ("text_iupac", "text_description")


def feature_cache_dir(cfg: TrainConfig) -> Path:
    """Where frozen node features are cached (``extra.cache_dir`` or ``$EDT_CACHE/features``)."""
    from edtformer.llm.loading import cache_root

    return Path(cfg.extra.get("cache_dir") or cache_root() / "features")


def build_processor(cfg: TrainConfig, uses_patches: bool) -> tuple[Any, str]:
    """Frozen (cached) encoders + the patcher for ``cfg.patch_rule``.

    Returns:
        ``(MoleculeProcessor, patch rule actually used)``.
    """
    from edtformer.bridge.processor import MoleculeProcessor, default_patcher
    from edtformer.encoders import get_encoder
    from edtformer.encoders.cache import CachedEncoder

    names = [n.strip() for n in cfg.encoder.split(",") if n.strip()]
    if not names:
        raise EdtError("no encoder given (set encoder=NAME[,NAME])")
    cache = feature_cache_dir(cfg)
    encoders = [CachedEncoder(get_encoder(n), cache) for n in names]
    patcher, rule = (None, "none")
    if uses_patches:
        patcher, rule = default_patcher(cfg.patch_rule)
    return MoleculeProcessor(encoders, patcher), rule


def load_records(cfg: TrainConfig, tasks: tuple[str, ...] | list[str], split: str) -> list[dict]:
    """Records of ``tasks`` (all of them if empty) for ``split`` from ``cfg.data_dir``."""
    from edtformer.data import list_tasks, load_task

    root = Path(cfg.data_dir)
    if not (root / "manifest.json").is_file():
        raise DataError(
            f"no dataset at {root} (manifest.json missing); build it with: edt data build --out {root}"
        )
    available = list_tasks(root)
    missing = [t for t in tasks if t not in available]
    if missing:
        raise DataError(f"tasks {missing} are not in {root}; available: {available}")
    out: list[dict] = []
    for task in tasks:
        out.extend(dict(r) for r in load_task(root, task, split))
    if cfg.max_train_samples is not None and split == "train":
        import random

        random.Random(cfg.seed).shuffle(out)
        out = out[: cfg.max_train_samples]
    logger.info("loaded %d %s records from %s", len(out), split, list(tasks))
    return out


def llm_width(name_or_path: str) -> int:
    """Hidden width of an LLM from its config alone (no weights loaded)."""
    from transformers import AutoConfig

    from edtformer.llm.loading import resolve_llm

    config = AutoConfig.from_pretrained(resolve_llm(name_or_path))
    return int(config.hidden_size)


def load_tokenizer(name_or_path: str) -> Any:
    """The LLM's tokenizer (stage 1 tokenises its texts with it)."""
    from transformers import AutoTokenizer

    from edtformer.llm.loading import resolve_llm

    return AutoTokenizer.from_pretrained(resolve_llm(name_or_path))

"""Build a stage's pieces from a :class:`TrainConfig`: frozen encoders (cached), patcher, data.

Kept apart from the stage modules so that the objectives (``stage1.py``, ``stage2.py``) read
without any file or registry plumbing.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from edtformer.bridge import bridge_preset
from edtformer.chem import parse_smiles
from edtformer.data import list_tasks, load_task
from edtformer.encoders.cache import CachedEncoder
from edtformer.errors import DataError, EdtError
from edtformer.llm.loading import cache_root, resolve_llm
from edtformer.model.processing import build_processor as build_molecule_processor
from edtformer.training.config import TrainConfig

logger = logging.getLogger(__name__)

#: Stage-1 graph-text pair tasks of ``edt data build``.
STAGE1_TASKS: tuple[str, ...] = ("text_iupac", "text_description")


def feature_cache_dir(cfg: TrainConfig) -> Path:
    """Where frozen node features are cached (``data.cache_dir`` or ``$EDT_CACHE/features``)."""
    return Path(cfg.data.cache_dir or cache_root() / "features")


def build_processor(cfg: TrainConfig, uses_patches: bool) -> tuple[Any, str]:
    """Frozen (cached) encoders + the patcher for ``cfg.model.patch_rule``.

    Returns:
        ``(MoleculeProcessor, patch rule actually used)``.
    """
    return build_molecule_processor(
        cfg.model.encoders, cfg.model.patch_rule, uses_patches, feature_cache_dir(cfg)
    )


def bridge_config(cfg: TrainConfig, llm: Any = None, **derived: Any) -> Any:
    """The :class:`~edtformer.bridge.BridgeConfig` of ``cfg``: the size preset ``model.preset``
    with the ``bridge`` section's fields passed straight through (``None``: the preset's value).

    ``bridge.token_norm`` is a number, or ``auto``: the mean input-embedding norm of ``llm``, the
    frozen LLM. ``derived``: ``encoder_widths`` / ``llm_width`` where the caller knows them
    (otherwise :meth:`EDTFormer.build` derives them).

    Raises:
        EdtError: ``auto`` without an LLM, or a combination the bridge refuses.
    """
    fields = {k: v for k, v in dataclasses.asdict(cfg.bridge).items() if v is not None}
    if fields.get("token_norm") == "auto":
        if llm is None:
            raise EdtError("bridge.token_norm=auto needs the frozen LLM; give a number")
        fields["token_norm"] = float(llm.get_input_embeddings().weight.norm(dim=-1).mean())
    elif "token_norm" in fields:
        fields["token_norm"] = float(fields["token_norm"])
    return bridge_preset(cfg.model.preset, **fields, **derived)


def load_records(cfg: TrainConfig, tasks: tuple[str, ...] | list[str], split: str) -> list[dict]:
    """Records of ``tasks`` (all of them if empty) for ``split`` from ``cfg.data.dir``."""
    root = Path(cfg.data.dir)
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
    if cfg.data.max_train_samples is not None and split == "train":
        random.Random(cfg.run.seed).shuffle(out)
        out = out[: cfg.data.max_train_samples]
    logger.info("loaded %d %s records from %s", len(out), split, list(tasks))
    return out


def llm_width(name_or_path: str) -> int:
    """Hidden width of an LLM from its config alone (no weights loaded)."""
    # heavy: transformers loads with the first model, not with this module
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(resolve_llm(name_or_path))
    return int(config.hidden_size)


def load_tokenizer(name_or_path: str) -> Any:
    """The LLM's tokenizer (stage 1 tokenises its texts with it)."""
    # heavy: transformers loads with the first model, not with this module
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_llm(name_or_path))


def warm_feature_cache(
    processor: Any, smiles: list[str], batch_size: int = 64, progress: bool = True
) -> set[str]:
    """Compute and cache the frozen node features of every molecule once, before training.

    Each molecule is encoded at most once per encoder (the encoders are frozen), and molecules an
    encoder cannot handle are found *before* the run instead of crashing it mid-way.

    Returns:
        The SMILES that failed (parse error or unsupported by an encoder); drop their samples.
    """
    unique = sorted(set(smiles))
    bad: set[str] = set()
    records = []
    for s in unique:
        try:
            records.append(parse_smiles(s))
        except EdtError as exc:
            logger.warning("skipping %s", exc)
            bad.add(s)
    for enc in processor.encoders:
        if not isinstance(enc, CachedEncoder):
            continue
        chunks = range(0, len(records), batch_size)
        if progress:
            chunks = tqdm(chunks, desc=f"node features ({enc.name})", unit="batch")
        for start in chunks:
            chunk = records[start : start + batch_size]
            for rec, out in zip(chunk, enc.cache.encode_many(chunk), strict=True):
                if isinstance(out, EdtError):
                    logger.warning("skipping %s", out)
                    bad.add(rec.smiles)
    if bad:
        logger.warning("%d of %d molecules cannot be used and are dropped", len(bad), len(unique))
    return bad

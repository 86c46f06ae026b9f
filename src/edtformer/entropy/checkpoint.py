"""Save and load a Next-Atom Predictor: ``model.safetensors`` + ``config.json`` (never pickle).

``config.json`` holds ``format_version``, the model config, the vocabulary (token strings in id
order) and free-form ``metadata`` (training command, data, held-out bits per atom, ...).
Folders are written atomically: a crash leaves the previous checkpoint intact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edtformer.entropy.model import NextAtomConfig, NextAtomPredictor
from edtformer.entropy.tokens import AtomVocab
from edtformer.errors import CheckpointError
from edtformer.utils.io import (
    atomic_dir,
    atomic_write_json,
    load_tensors,
    read_checkpoint_config,
    save_tensors,
)

FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
_TIED = ("head.weight",)  # equals tok_emb.weight; stored once


@dataclass
class EntropyCheckpoint:
    """A loaded model with its vocabulary and metadata."""

    model: NextAtomPredictor
    vocab: AtomVocab
    metadata: dict[str, Any] = field(default_factory=dict)


def save_entropy_model(
    folder: str | Path,
    model: NextAtomPredictor,
    vocab: AtomVocab,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` + ``vocab`` to ``folder`` atomically and return the folder."""
    if len(vocab) != model.cfg.vocab_size:
        raise CheckpointError(
            f"vocabulary has {len(vocab)} tokens but the model expects {model.cfg.vocab_size}"
        )
    tensors = {
        k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if k not in _TIED
    }
    config = {
        "format_version": FORMAT_VERSION,
        "kind": "edtformer.entropy.NextAtomPredictor",
        "model": model.cfg.to_dict(),
        "vocab": list(vocab.tokens),
        "metadata": metadata or {},
    }
    with atomic_dir(folder) as tmp:
        save_tensors(tmp / WEIGHTS, tensors, {"format_version": str(FORMAT_VERSION)})
        atomic_write_json(tmp / CONFIG, config)
    return Path(folder)


def load_entropy_model(folder: str | Path) -> EntropyCheckpoint:
    """Load a folder written by :func:`save_entropy_model` (model in eval mode, on CPU).

    Raises:
        CheckpointError: missing files, unknown format version, or mismatched tensors.
    """
    folder = Path(folder)
    cfg_path, w_path = folder / CONFIG, folder / WEIGHTS
    config = read_checkpoint_config(
        folder, CONFIG, WEIGHTS, FORMAT_VERSION, "entropy-model checkpoint"
    )
    try:
        cfg = NextAtomConfig.from_dict(config["model"])
        vocab = AtomVocab(list(config["vocab"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{cfg_path}: malformed config ({exc})") from exc
    model = NextAtomPredictor(cfg)
    state = load_tensors(w_path, "entropy-model weights")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in _TIED]
    if missing or unexpected:
        raise CheckpointError(
            f"{w_path}: tensors do not match the config (missing {missing}, unexpected {unexpected})"
        )
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return EntropyCheckpoint(model=model, vocab=vocab, metadata=dict(config.get("metadata", {})))


def checkpoint_size_bytes(folder: str | Path) -> int:
    """Total size of the checkpoint files in bytes."""
    return sum((Path(folder) / n).stat().st_size for n in (CONFIG, WEIGHTS))

"""Save / load a trained EDT-Former: only what was trained, plus the ids of the frozen parts.

A checkpoint folder holds

- ``config.json``: ``format_version``, the full :class:`~edtformer.model.EDTFormerConfig`
  (with the derived bridge widths), the frozen encoders' :class:`EncoderInfo` and the LLM id,
  the training mode and parameter counts;
- ``model.safetensors``: the connector, the added token rows and (if used) the LoRA adapters.

Loading rebuilds the frozen encoders and LLM from their ids and checks that they still have
the widths the bridge was trained for. Both files are written inside one atomic folder move.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from edtformer import __version__
from edtformer.errors import CheckpointError
from edtformer.model.card import write_model_card
from edtformer.utils.io import (
    atomic_dir,
    atomic_write_json,
    load_tensors,
    read_checkpoint_config,
    save_tensors,
)

if TYPE_CHECKING:
    from edtformer.model.modeling import EDTFormer
    from edtformer.model.processing import MoleculeProcessor

logger = logging.getLogger(__name__)

#: Bumped on any incompatible change of the folder layout or tensor names.
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


def _encoder_info(encoder: Any) -> dict[str, Any]:
    info = getattr(encoder, "info", None)
    return (
        dict(info.to_dict()) if info is not None else {"name": str(getattr(encoder, "name", "?"))}
    )


def save_model(
    model: EDTFormer, path: str | os.PathLike[str], dtype: torch.dtype | None = None
) -> Path:
    """Write ``model``'s trained tensors and config to the folder ``path`` (atomically);
    floating-point tensors in ``dtype`` when given (``config.json`` records it)."""

    counts = model.parameter_counts()
    meta: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "edtformer_version": __version__,
        "config": model.config.to_dict(),
        "frozen": {
            "llm": model.config.llm,
            "encoders": [_encoder_info(e) for e in model.encoders],
        },
        "training_mode": model.config.trainable.mode,
        "parameters": {"trainable": counts.trainable, "frozen": counts.frozen},
    }
    tensors = model.trained_state_dict()
    if dtype is not None:
        tensors = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
        meta["stored_dtype"] = str(dtype).removeprefix("torch.")
    with atomic_dir(path) as tmp:
        save_tensors(tmp / WEIGHTS_FILE, tensors, {"format_version": str(FORMAT_VERSION)})
        atomic_write_json(tmp / CONFIG_FILE, meta)
        write_model_card(tmp, name=Path(path).name)
    return Path(path)


def read_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``config.json`` of a checkpoint folder, checked for a known format version."""

    return read_checkpoint_config(
        path, CONFIG_FILE, WEIGHTS_FILE, FORMAT_VERSION, "edtformer model"
    )


#: Where the shipped default bridge lives inside the installed package.
DEFAULT_BRIDGE_SUBDIR = "assets/bridge/default"


def default_bridge_dir() -> Path:
    """Folder of the shipped default bridge (may not exist yet)."""
    return Path(str(resources.files("edtformer").joinpath(DEFAULT_BRIDGE_SUBDIR)))


#: A Hugging Face hub model id (``owner/name``, optionally ``@revision``).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}(@[\w./-]+)?$")


def resolve_model_path(path: str | os.PathLike[str]) -> Path:
    """A local folder for ``path``: ``"default"`` (the shipped bridge), an existing folder, or a
    Hugging Face hub id ``owner/name[@revision]`` (downloaded once into the hub cache; only the
    model's own small files, the frozen LLM and encoders come from their own ids).

    Raises:
        CheckpointError: not a folder and not a hub id, or the download failed (offline, no
            such repository).
    """
    text = str(path)
    if text == "default":
        return default_bridge_dir()
    local = Path(path)
    if local.exists() or not _HUB_ID.match(text):
        return local
    repo, _, revision = text.partition("@")
    try:
        from huggingface_hub import snapshot_download  # optional: only for hub ids

        folder = snapshot_download(
            repo,
            revision=revision or None,
            allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, "training.json", "README.md"],
        )
    except Exception as exc:  # network, auth, missing repo: one line for the user
        raise CheckpointError(
            f"{text}: no such local folder, and downloading it from the Hugging Face hub failed "
            f"({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})"
        ) from None
    return Path(folder)


def load_model(
    cls: type[EDTFormer],
    path: str | os.PathLike[str],
    processor: MoleculeProcessor | None = None,
    llm: Any = None,
    tokenizer: Any = None,
) -> EDTFormer:
    """Rebuild the model saved in ``path`` (see :meth:`EDTFormer.from_pretrained`).

    ``path`` ``"default"`` is the bridge shipped inside the package.
    """
    # heavy (torch, the bridge, patching): kept out of this module's import, which the CLI makes
    from edtformer.model.configuration import EDTFormerConfig

    path = resolve_model_path(path)
    meta = read_config(path)
    config = EDTFormerConfig.from_dict(meta["config"])
    model = cls.build(config, processor=processor, llm=llm, tokenizer=tokenizer)
    built = model.config
    if (
        built.bridge.encoder_widths != config.bridge.encoder_widths
        or built.bridge.llm_width != config.bridge.llm_width
    ):
        raise CheckpointError(
            f"{path}: trained for encoder widths {config.bridge.encoder_widths} and LLM width "
            f"{config.bridge.llm_width}, but the frozen parts now have {built.bridge.encoder_widths} "
            f"and {built.bridge.llm_width}"
        )
    if built.patch_rule != config.patch_rule and config.bridge.uses_dynamic:
        raise CheckpointError(
            f"{path}: trained with patch rule {config.patch_rule!r}, got {built.patch_rule!r}"
        )
    tensors = load_tensors(Path(path) / WEIGHTS_FILE, "model weights")
    expected = model.trained_state_dict()
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise CheckpointError(
            f"{path}: tensors do not match the model (missing {missing[:5]}, unexpected {extra[:5]})"
        )
    for name, t in tensors.items():
        if t.is_floating_point() != expected[name].is_floating_point():
            raise CheckpointError(f"{path}: {name} is stored as {t.dtype}, expected floating point")
        if t.shape != expected[name].shape:
            raise CheckpointError(
                f"{path}: {name} has shape {tuple(t.shape)}, expected {tuple(expected[name].shape)}"
            )
    with torch.no_grad():
        model.connector.load_state_dict(
            {
                k.removeprefix("connector."): v
                for k, v in tensors.items()
                if k.startswith("connector.")
            }
        )
        model.new_tokens.rows.copy_(tensors["new_tokens.rows"])
        if model.readout is not None:
            model.readout.load_state_dict(
                {
                    k.removeprefix("readout."): v
                    for k, v in tensors.items()
                    if k.startswith("readout.")
                }
            )
        params = dict(model.llm.named_parameters())
        for k, v in tensors.items():
            if k.startswith("llm."):
                params[k.removeprefix("llm.")].copy_(v)
    # in eval mode, as transformers' from_pretrained returns models: LoRA adapters are injected
    # after the LLM was put in eval mode, so their dropout layers would otherwise be active and
    # make greedy answers vary from call to call
    return model.eval()


#: A stage-1 bridge folder (no LLM part): ``bridge_config.json`` + ``bridge.safetensors``.
BRIDGE_CONFIG_FILE = "bridge_config.json"
BRIDGE_WEIGHTS_FILE = "bridge.safetensors"
BRIDGE_FORMAT_VERSION = 1


def save_bridge(connector: Any, folder: str | os.PathLike[str], meta: dict[str, Any]) -> Path:
    """Write a connector alone (stage 1's output): config + checksummed weights, atomically."""

    state = {k: v.detach().cpu().contiguous() for k, v in connector.state_dict().items()}
    payload = {
        "format_version": BRIDGE_FORMAT_VERSION,
        "bridge": connector.config.to_dict(),
        **meta,
    }
    with atomic_dir(folder) as tmp:
        save_tensors(
            tmp / BRIDGE_WEIGHTS_FILE, state, {"format_version": str(BRIDGE_FORMAT_VERSION)}
        )
        atomic_write_json(tmp / BRIDGE_CONFIG_FILE, payload)
    return Path(folder)


def load_connector_weights(connector: Any, folder: str | os.PathLike[str]) -> None:
    """Load connector weights from a stage-1 bridge folder or a whole-model folder (format
    version and checksum checked; the tensors' names and shapes must match exactly)."""

    folder = Path(folder)
    if (folder / BRIDGE_WEIGHTS_FILE).is_file():
        read_checkpoint_config(
            folder, BRIDGE_CONFIG_FILE, BRIDGE_WEIGHTS_FILE, BRIDGE_FORMAT_VERSION, "bridge folder"
        )
        state = load_tensors(folder / BRIDGE_WEIGHTS_FILE, "bridge weights")
    elif (folder / WEIGHTS_FILE).is_file():
        read_config(folder)
        full = load_tensors(folder / WEIGHTS_FILE, "model weights")
        state = {k[len("connector.") :]: v for k, v in full.items() if k.startswith("connector.")}
    else:
        raise CheckpointError(
            f"no bridge weights in {folder} (expected {BRIDGE_WEIGHTS_FILE} of a stage-1 run or "
            f"{WEIGHTS_FILE} of a model folder)"
        )
    own = connector.state_dict()
    bad = [k for k in state if k in own and own[k].shape != state[k].shape]
    if bad or set(state) != set(own):
        raise CheckpointError(
            f"{folder} does not fit this bridge: shape mismatches {bad[:3]}, "
            f"missing {sorted(set(own) - set(state))[:3]}, unexpected {sorted(set(state) - set(own))[:3]}"
        )
    connector.load_state_dict(state)


def load_adapter_weights(model: Any, folder: str | os.PathLike[str]) -> int:
    """Load the LoRA adapters and new token rows of the model folder ``folder`` into ``model``
    (an :class:`~edtformer.model.EDTFormer` with adapters of the same rank), so that a recipe can
    continue a trained model. A stage-1 bridge folder has none: nothing is loaded.

    Returns: the number of tensors loaded. Raises: CheckpointError (other rank / other LLM).
    """

    folder = Path(folder)
    if not (folder / WEIGHTS_FILE).is_file():
        return 0
    full = load_tensors(folder / WEIGHTS_FILE, "model weights")
    params = dict(model.llm.named_parameters())
    wanted = {k: v for k, v in full.items() if k.startswith("llm.") and "lora_" in k}
    if not wanted:
        return 0
    own = {k.removeprefix("llm."): params.get(k.removeprefix("llm.")) for k in wanted}
    bad = [k for k, p in own.items() if p is None or p.shape != wanted[f"llm.{k}"].shape]
    if bad:
        raise CheckpointError(
            f"{folder}: its LoRA adapters do not fit this model (e.g. {bad[:2]}; other rank, "
            "target modules or LLM?)"
        )
    with torch.no_grad():
        for k, p in own.items():
            assert p is not None
            p.copy_(wanted[f"llm.{k}"].to(p.dtype))
        rows = full.get("new_tokens.rows")
        if rows is not None and rows.shape == model.new_tokens.rows.shape:
            model.new_tokens.rows.copy_(rows.to(model.new_tokens.rows.dtype))
    return len(wanted)


def convert_model(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], dtype: torch.dtype
) -> Path:
    """Re-save the model folder ``src`` to ``dst`` with its trained tensors stored in ``dtype``.
    ``training.json`` is copied; ``test_eval.json`` is not: rounding can change an answer, so
    evaluate ``dst`` itself before shipping it."""
    from edtformer.model.modeling import EDTFormer  # a cycle: modeling imports this module

    folder = resolve_model_path(src)
    save_model(EDTFormer.from_pretrained(folder), dst, dtype=dtype)
    if (folder / "training.json").is_file():
        shutil.copy2(folder / "training.json", Path(dst) / "training.json")
        write_model_card(dst)  # the card reads training.json
    return Path(dst)


def main(argv: list[str] | None = None) -> int:
    """``python -m edtformer.model.checkpoint SRC DST --dtype bfloat16``."""
    ap = argparse.ArgumentParser(description="store a saved model's trained tensors in a dtype")
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = ap.parse_args(argv)
    out = convert_model(args.src, args.dst, getattr(torch, args.dtype))
    size = (out / WEIGHTS_FILE).stat().st_size / 1e6
    print(f"{out / WEIGHTS_FILE}: {size:.1f} MB ({args.dtype})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

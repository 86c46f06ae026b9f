"""Reading Uni-Mol's released molecular checkpoint into :class:`~edtformer.encoders.unimol_model.UniMolModel`.

The release (``mol_pre_no_h_220816.pt``, or ``mol_pre_all_h_220816.pt`` trained with
hydrogens) is a Uni-Core training checkpoint: a pickled dict whose ``"model"`` entry is the
state dict (``embed_tokens.weight [31, 512]``, ``gbf.means.weight [1, 128]``,
``gbf.mul.weight [961, 1]``, ``gbf_proj.linear{1,2}.*``, ``encoder.emb_layer_norm.*``,
``encoder.layers.N.{self_attn.in_proj, self_attn.out_proj, self_attn_layer_norm, fc1, fc2,
final_layer_norm}.*``, ``encoder.final_layer_norm.*``) next to ``"args"`` (an
``argparse.Namespace``) and training state. Pretraining heads (``lm_head.*``,
``pair2coord_proj.*``, ``dist_head.*``, ``encoder.final_head_layer_norm.*``) and fine-tuning
heads (``classification_heads.*``) are dropped; any other unknown key, a missing key or a wrong
shape is one :class:`~edtformer.errors.CheckpointError` naming them all.

Reading never runs code from the file: ``torch.load(weights_only=True)`` first, and if the
pickle holds classes outside that allow-list, an unpickler that turns every such class into an
inert placeholder (only tensors and plain containers are kept). The encoder's weights are then
converted once to ``$EDT_CACHE/unimol/<sha256>.safetensors`` and later loads read that file.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import logging
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from edtformer.encoders.unimol_model import UniMolConfig, UniMolModel
from edtformer.errors import CheckpointError
from edtformer.utils.io import load_tensors, save_tensors

logger = logging.getLogger(__name__)

#: Environment variable naming the official checkpoint file.
CHECKPOINT_ENV = "EDT_UNIMOL_CHECKPOINT"
#: The file to download (Uni-Mol v0.1 release, 181 MB) and where it is published.
CHECKPOINT_FILE = "mol_pre_no_h_220816.pt"
CHECKPOINT_URL = f"https://github.com/deepmodeling/Uni-Mol/releases/download/v0.1/{CHECKPOINT_FILE}"
#: Bumped when the converted file's layout changes.
CONVERSION_FORMAT = "1"
#: Keys of the release that the encoder does not use (pretraining / fine-tuning heads).
UNUSED_PREFIXES: tuple[str, ...] = (
    "lm_head.",
    "pair2coord_proj.",
    "dist_head.",
    "classification_heads.",
    "encoder.final_head_layer_norm.",
)
_LAYER_KEY = re.compile(r"^encoder\.layers\.(\d+)\.")


def missing_checkpoint_error(reason: str = "no checkpoint given") -> CheckpointError:
    """The error for a missing checkpoint: names the file, where to get it and where to put it."""
    return CheckpointError(
        f"the 'unimol' encoder needs the official Uni-Mol checkpoint ({reason}): download "
        f"{CHECKPOINT_FILE} from {CHECKPOINT_URL} and point {CHECKPOINT_ENV}=/path/to/"
        f"{CHECKPOINT_FILE} at it, or pass get_encoder('unimol', checkpoint=PATH) "
        "(edt encode --checkpoint PATH)"
    )


def resolve_checkpoint(checkpoint: str | os.PathLike[str] | None) -> Path:
    """``checkpoint``, else ``$EDT_UNIMOL_CHECKPOINT``; raises the download message if neither is a file."""
    if checkpoint is None:
        env = os.environ.get(CHECKPOINT_ENV, "").strip()
        if not env:
            raise missing_checkpoint_error(f"no checkpoint= and {CHECKPOINT_ENV} is not set")
        checkpoint = env
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise missing_checkpoint_error(f"{path} is not a file")
    return path


def conversion_dir() -> Path:
    """``$EDT_CACHE/unimol`` (default ``~/.cache/edtformer/unimol``).

    The root follows ``edtformer.llm.loading.cache_root``'s rule; ``encoders/`` sits below
    ``llm/`` in the package layers and cannot import it.
    """
    env = os.environ.get("EDT_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "edtformer"
    return root / "unimol"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -- reading the pickle ------------------------------------------------------------------------
class _Inert:
    """Stands in for a class the checkpoint names but the encoder does not need."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _InertUnpickler(pickle.Unpickler):
    """Resolves only torch's tensor-rebuild functions and plain containers; everything else is
    an inert placeholder, so unpickling never imports or calls code named by the file."""

    _ALLOWED: Mapping[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("argparse", "Namespace"): argparse.Namespace,
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return self._ALLOWED[(module, name)]
        if module == "torch._utils" and name.startswith("_rebuild_"):
            return getattr(torch._utils, name)  # tensor / parameter rebuilders
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        return type(name, (_Inert,), {"__module__": f"inert.{module}"})


_inert_pickle = ModuleType("_edt_inert_pickle")
_inert_pickle.Unpickler = _InertUnpickler  # type: ignore[attr-defined]
_inert_pickle.load = pickle.load  # type: ignore[attr-defined]
_inert_pickle.__dict__["loads"] = pickle.loads


def _torch_load(path: Path) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        logger.info("%s holds non-tensor classes (%s); reading with inert placeholders", path, exc)
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=_inert_pickle)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The model state dict of a Uni-Mol checkpoint (``.pt`` with a ``"model"`` entry, a bare
    state dict, or a ``.safetensors`` file with the same keys)."""
    try:
        raw = load_tensors(path) if path.suffix == ".safetensors" else _torch_load(path)
    except CheckpointError:
        raise
    except Exception as exc:  # torch raises many types for bad files
        raise CheckpointError(f"could not read Uni-Mol checkpoint {path}: {exc}") from exc
    if isinstance(raw, Mapping) and isinstance(raw.get("model"), Mapping):
        raw = raw["model"]
    if not isinstance(raw, Mapping) or "embed_tokens.weight" not in raw:
        first = list(raw)[:5] if isinstance(raw, Mapping) else type(raw).__name__
        raise CheckpointError(
            f"{path}: not a Uni-Mol checkpoint (expected a dict with 'model' -> "
            f"'embed_tokens.weight', ...); found {first}"
        )
    return {str(k): v for k, v in raw.items() if isinstance(v, torch.Tensor)}


# -- checking and converting -------------------------------------------------------------------
def config_from_state(state: Mapping[str, torch.Tensor], path: Path | str = "") -> UniMolConfig:
    """Read the sizes off a state dict (layers, width, heads, FFN, kernels, vocabulary)."""
    try:
        vocab, width = state["embed_tokens.weight"].shape
        kernels = state["gbf.means.weight"].shape[-1]
        heads = state["gbf_proj.linear2.weight"].shape[0]
        ffn = state["encoder.layers.0.fc1.weight"].shape[0]
    except KeyError as exc:
        raise CheckpointError(f"{path}: Uni-Mol key {exc} missing; cannot read sizes") from exc
    layers = 1 + max(int(m.group(1)) for k in state if (m := _LAYER_KEY.match(k)))
    try:
        return UniMolConfig(
            layers=layers, width=width, heads=heads, ffn=ffn, kernels=kernels, vocab=vocab
        )
    except ValueError as exc:
        raise CheckpointError(f"{path}: inconsistent Uni-Mol sizes: {exc}") from exc


def encoder_state(
    state: Mapping[str, torch.Tensor], path: Path | str = ""
) -> dict[str, torch.Tensor]:
    """The encoder's tensors, checked against the layout its sizes imply.

    Raises:
        CheckpointError: one message naming every unknown key, missing key and wrong shape.
    """
    config = config_from_state(state, path)
    with torch.device("meta"):
        want = {k: tuple(v.shape) for k, v in UniMolModel(config).state_dict().items()}
    kept = {k: v for k, v in state.items() if not k.startswith(UNUSED_PREFIXES)}
    unknown = sorted(set(kept) - set(want))
    missing = sorted(set(want) - set(kept))
    shapes = [
        f"{k} {tuple(kept[k].shape)} (expected {want[k]})"
        for k in sorted(set(kept) & set(want))
        if tuple(kept[k].shape) != want[k]
    ]
    if unknown or missing or shapes:
        parts = [
            f"{label}: {', '.join(items)}"
            for label, items in (
                ("unknown keys", unknown),
                ("missing keys", missing),
                ("wrong shapes", shapes),
            )
            if items
        ]
        raise CheckpointError(
            f"{path}: does not match Uni-Mol's molecular encoder layout ({config}); "
            + "; ".join(parts)
        )
    return {k: v.detach().to(torch.float32).contiguous() for k, v in kept.items()}


def load_unimol(
    checkpoint: str | os.PathLike[str] | None = None, cache_dir: Path | None = None
) -> tuple[UniMolModel, str]:
    """The frozen Uni-Mol encoder from the official checkpoint, and the file's SHA-256.

    The first load validates the file and writes ``<cache_dir>/<sha256>.safetensors`` (default
    :func:`conversion_dir`); later loads of the same file read that conversion.
    """
    path = resolve_checkpoint(checkpoint)
    digest = file_digest(path)
    converted = (cache_dir or conversion_dir()) / f"{digest[:32]}.safetensors"
    if converted.is_file():
        state = load_tensors(converted, "Uni-Mol weights")
        logger.info("Uni-Mol weights from the conversion %s", converted)
    else:
        state = encoder_state(read_state_dict(path), path)
        meta = {"format": CONVERSION_FORMAT, "source": path.name, "sha256": digest}
        try:
            save_tensors(converted, state, meta)
            logger.info("converted %s to %s", path, converted)
        except OSError as exc:  # a read-only cache must not stop the encoder
            logger.warning("could not cache the Uni-Mol conversion at %s: %s", converted, exc)
    config = config_from_state(state, path)
    model = UniMolModel(config)
    model.load_state_dict(encoder_state(state, converted), strict=True)
    logger.info("Uni-Mol %s from %s", json.dumps(config.__dict__), path)
    return model.eval().requires_grad_(False), digest


def save_official_layout(model: UniMolModel, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` the way Uni-Core saves the release (``{"args", "model"}``, pretraining
    heads included), for tests and benchmarks that have no real checkpoint."""
    c = model.config
    state = dict(model.state_dict())
    state["lm_head.dense.weight"] = torch.zeros(c.width, c.width)
    state["encoder.final_head_layer_norm.weight"] = torch.ones(c.heads)
    args = argparse.Namespace(
        arch="unimol_base", encoder_layers=c.layers, encoder_embed_dim=c.width,
        encoder_attention_heads=c.heads, encoder_ffn_embed_dim=c.ffn,
    )  # fmt: skip
    torch.save({"args": args, "model": state, "extra_state": {"epoch": 1}}, str(path))
    return Path(path)

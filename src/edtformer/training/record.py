"""The run record beside a trained model: ``training.json`` (what was trained, from what, how,
on which hardware, for how long) and the chain of runs a continued model descends from.

:func:`write_training_record` is called by the recipe runner once the model is saved; the model
card (:func:`edtformer.model.card.write_model_card`) is written from the record.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

from edtformer.data import read_manifest
from edtformer.model.card import write_model_card
from edtformer.training.config import RecipeSection, TrainConfig
from edtformer.training.precision import cpu_name, native_cpu_bf16
from edtformer.utils.io import atomic_write_json

#: The recipe's scalar levers (the ``recipe`` section without its kind weights).
RECIPE_LEVERS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(RecipeSection) if f.name != "kind_weights"
)

#: ``bridge`` options written into ``extra`` too: they were recipe levers before the ``bridge``
#: section, and records of both ages compare key for key.
BRIDGE_LEVERS: tuple[str, ...] = ("instruction_aware", "token_norm")


def training_extra(cfg: TrainConfig) -> dict[str, Any]:
    """``training.json``'s ``extra``: the recipe's scalar levers and :data:`BRIDGE_LEVERS`."""
    extra = {k: getattr(cfg.recipe, k) for k in RECIPE_LEVERS}
    extra.update({k: getattr(cfg.bridge, k) for k in BRIDGE_LEVERS})
    return extra


def hardware() -> str:
    """Where this process trains: CPU architecture and name, torch's CPU capability, the torch
    version and the thread count (the CPU line of ``training.json``)."""
    bf16 = native_cpu_bf16()
    return (
        f"{platform.machine()} CPU ({cpu_name()}, torch capability "
        f"{torch.backends.cpu.get_cpu_capability()}, "
        f"{'native bf16: ' + bf16 if bf16 else 'no native bf16'}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s)"
    )


def add_history(record: dict[str, Any], init_from: str | Path) -> dict[str, Any]:
    """``record`` of a model continued from the folder ``init_from``, with that folder's
    ``training.json`` (and its own history) under ``continues`` and the ``total`` samples and
    training seconds; unchanged if the folder has no ``training.json``."""
    parent = Path(init_from) / "training.json"
    if not parent.is_file():
        return record
    before = json.loads(parent.read_text())
    chain = [*before.get("continues", []), {k: v for k, v in before.items() if k != "continues"}]
    seconds = float(record.get("train_seconds", 0)) + sum(
        float(r.get("train_seconds", 0)) for r in chain
    )
    total = {
        "samples": int(record.get("samples", 0)) + sum(int(r.get("samples", 0)) for r in chain),
        "train_seconds": round(seconds, 1),
    }
    return {**record, "continues": chain, "total": total}


def _what(cfg: TrainConfig) -> str:
    """One sentence: what the recipe run trained."""
    if cfg.recipe.fact_sheet:
        return (
            "edt train recipe: the exact RDKit fact sheet in every prompt (the lines each "
            "question names), train phrasings of every sheet fact, off-sheet questions declined, "
            "the dataset's questions; instruction-aware queries; one stage, frozen encoders"
        )
    return (
        "edt train recipe: balanced question stream, instruction-aware queries, token "
        "norm matched to the LLM; one stage, frozen encoders"
    )


def write_training_record(cfg: TrainConfig, model: Any, out: Path, seconds: float) -> None:
    """``training.json`` beside the model: command, resolved config (``config``: the named recipe
    with every override applied, the precision as chosen), data, seed, training mode, time,
    curve end; then the model card from it."""
    manifest = read_manifest(Path(cfg.data.dir))
    curve_path = Path(cfg.run.out_dir) / "curve.jsonl"
    last = curve_path.read_text().splitlines()[-1] if curve_path.is_file() else "{}"
    record = {
        "what": _what(cfg),
        "command": "edt " + " ".join(sys.argv[1:]),
        "training_mode": model.config.trainable.describe() + ", frozen graph encoder(s)",
        "encoders": list(model.config.encoders),
        "llm": model.config.llm,
        "data": {
            "dir": cfg.data.dir,
            "build": manifest.get("config", {}),
            "split": "train (scaffold split); valid for the learning curve; test never read",
        },
        "seed": cfg.run.seed,
        "steps": cfg.optim.max_steps,
        "batch_size": cfg.optim.batch_size,
        "samples": cfg.optim.max_steps * cfg.optim.batch_size * cfg.optim.grad_accum,
        "lr": cfg.optim.lr,
        "extra": training_extra(cfg),
        "kind_weights": dict(cfg.recipe.kind_weights),
        "train_seconds": round(seconds, 1),
        "valid_curve_last": {k: v for k, v in json.loads(last).items() if k != "metrics"},
        "precision": cfg.run.precision,
        "hardware": hardware(),
        "config": cfg.to_dict(),
    }
    if cfg.model.init_from:
        record = add_history(record, cfg.model.init_from)
    atomic_write_json(out / "training.json", record)
    write_model_card(out)


def record_make_run(folder: str | Path, started: float, command: str, split: str) -> dict[str, Any]:
    """Add ``make_model`` (the whole ``make model`` call: seconds from ``started``, a Unix time,
    to now; the command; the split it scored; this CPU) to ``folder/training.json`` and rewrite
    the model card. Returns the entry."""
    path = Path(folder) / "training.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (train the model first)")
    record = json.loads(path.read_text())
    entry = {
        "command": command,
        "seconds": round(time.time() - started, 1),
        "eval_split": split,
        "hardware": hardware(),
    }
    record["make_model"] = entry
    atomic_write_json(path, record)
    write_model_card(folder)
    return entry


def main(argv: list[str] | None = None) -> int:
    """``python -m edtformer.training.record FOLDER --started UNIX_TIME --split test``."""
    ap = argparse.ArgumentParser(description="record a whole `make model` call in training.json")
    ap.add_argument("folder", help="the model folder whose training.json gets the record")
    ap.add_argument("--started", type=float, required=True, help="Unix time the call began")
    ap.add_argument("--split", required=True, help="the split the call scored")
    ap.add_argument("--command", default="make model")
    args = ap.parse_args(argv)
    try:
        entry = record_make_run(args.folder, args.started, args.command, args.split)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.command}: {entry['seconds'] / 60:.1f} min end to end ({entry['hardware']})")
    return 0


__all__ = [
    "BRIDGE_LEVERS",
    "RECIPE_LEVERS",
    "add_history",
    "hardware",
    "record_make_run",
    "training_extra",
    "write_training_record",
]


if __name__ == "__main__":
    raise SystemExit(main())

"""Run a model over evaluation records: choice scoring in one forward, generation otherwise.

Typical use::

    from edtformer.evaluation.evaluator import evaluate_records, load_eval_records
    records = load_eval_records("struct_mc", "test", data_dir="data_out", limit=200)
    result = evaluate_records(model, records, task="struct_mc", split="test")
    print(result.report.to_json())

Prompts are built exactly as stage-2 training builds them (:func:`render_question` +
``model.prompts.messages`` + ``model.prepare``), so a model is asked what it was trained on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edtformer.data import read_csv_dataset, read_mol_instructions, read_moleculeqa
from edtformer.data.loader import load_task
from edtformer.data.schema import SPLIT_NAMES, Record, render_question
from edtformer.errors import DataError, EdtError
from edtformer.evaluation import tasks as T
from edtformer.evaluation.leakage import check_leakage
from edtformer.evaluation.report import MetricReport
from edtformer.llm.loading import cache_root, load_llm
from edtformer.llm.options import cloze_probs
from edtformer.model import EDTFormer, EDTFormerConfig
from edtformer.model.checkpoint import read_config
from edtformer.model.processing import build_processor

logger = logging.getLogger(__name__)

#: ``--format`` names of the benchmark-file readers.
INPUT_FORMATS: tuple[str, ...] = ("moleculeqa", "mol-instructions", "csv")

Progress = Callable[[int], None]


@dataclass
class EvalResult:
    """The report of one task plus every scored item (for ``--predictions`` files)."""

    report: MetricReport
    items: list[T.ItemResult] = field(default_factory=list)


def load_eval_records(
    task: str,
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = "data_out",
    input_file: str | os.PathLike[str] | None = None,
    fmt: str | None = None,
    limit: int | None = None,
    seed: int = 0,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> list[Record]:
    """Records of ``task``/``split`` from a built folder, or from a benchmark file read by a reader.

    Args:
        task: built task name (with ``data_dir``) or the task name given to the file's records.
        split: ``test`` (default) or ``valid``; ``train`` is refused (eval set = train set is a
            defect of the public code).
        input_file, fmt: a MoleculeQA / Mol-Instructions / CSV file and its format; records
            whose split (from the file name or metadata, else the scaffold hash) differs from
            ``split`` are dropped.
        limit, seed: score only the first ``limit`` records after a shuffle seeded by ``seed``.
        smiles_column, id_column: a CSV file's SMILES column and the column naming its rows
            (the CLI's ``--smiles-column`` / ``--id-column``, as for ``patch``, ``ask``, ``encode``).

    Raises:
        DataError: unknown split or format, missing data, or no record left.
    """
    if split not in SPLIT_NAMES or split == "train":
        raise DataError(
            f"split {split!r}: evaluate on 'test' or 'valid' (never the training split)"
        )
    if input_file is not None:
        records = _read_input(Path(input_file), fmt, task, smiles_column, id_column)
        found = sorted({r["split"] for r in records})
        records = [r for r in records if r["split"] == split]
        if not records:
            raise DataError(
                f"{input_file}: no {split!r} records (splits found: {found}); pass --split"
            )
    else:
        if data_dir is None:
            raise DataError("give a dataset folder (--data) or a benchmark file (--input)")
        records = load_task(data_dir, task, split)
    if not records:
        raise DataError(f"task {task!r} has no {split} records")
    return T.select_records(records, limit, seed)


def _read_input(
    path: Path,
    fmt: str | None,
    task: str,
    smiles_column: str | None = None,
    id_column: str | None = None,
) -> list[Record]:
    if fmt is None:
        fmt = (
            "csv"
            if path.suffix.lower() in (".csv", ".tsv") and "moleculeqa" not in path.name.lower()
            else None
        )
    if fmt != "csv" and (smiles_column or id_column):
        raise DataError(
            f"--smiles-column / --id-column name columns of a CSV file; {path} is read as {fmt}"
        )
    if fmt == "moleculeqa":
        return list(read_moleculeqa(path))
    if fmt == "mol-instructions":
        return list(read_mol_instructions(path, task=task))
    if fmt == "csv":
        return list(
            read_csv_dataset(path, task=task, smiles_column=smiles_column, id_column=id_column)
        )
    raise DataError(f"--format {fmt!r}: expected one of {INPUT_FORMATS}")


class Evaluator:
    """Scores records with one model, in batches.

    Args:
        model: an :class:`~edtformer.model.EDTFormer` (put in eval mode here).
        batch_size: prompts per forward / generate call.
        progress: called with the number of records finished after each batch.
    """

    def __init__(
        self,
        model: Any,
        batch_size: int = 8,
        progress: Progress | None = None,
        cloze: bool = False,
    ) -> None:
        if batch_size < 1:
            raise EdtError(f"batch size must be at least 1, got {batch_size}")
        self.model = model.eval()
        self.batch_size = batch_size
        self.progress = progress
        self.cloze = cloze

    def _batches(self, records: Sequence[Record]) -> list[Sequence[Record]]:
        return [records[i : i + self.batch_size] for i in range(0, len(records), self.batch_size)]

    def _prepare(self, records: Sequence[Record]) -> Any:
        prompts = self.model.prompts
        convs = [prompts.messages(render_question(r), len(r["smiles"])) for r in records]
        return self.model.prepare([list(r["smiles"]) for r in records], convs, generation=True)

    @torch.no_grad()
    def choice_probs(self, records: Sequence[Record], options: Sequence[str]) -> np.ndarray:
        """Option probabilities renormalised over ``options``, float64 ``[N, C]`` (one forward per batch)."""
        out = []
        for chunk in self._batches(records):
            scores = self.model.score(self._prepare(chunk), list(options))
            out.append(scores.probs.double().cpu().numpy())
            if self.progress:
                self.progress(len(chunk))
        return np.concatenate(out, axis=0)

    @torch.no_grad()
    def cloze_probs(self, records: Sequence[Record]) -> np.ndarray:
        """Multiple-choice option probabilities by cloze scoring, float64 ``[N, C]``.

        Each option's text is scored as the answer to the bare question (no lettered list):
        its summed log-likelihood divided by its length in characters (lm-evaluation-harness's
        ``acc_norm``), softmaxed over the record's options. Options a record lacks get 0.
        ``batch_size`` records per forward; each record's prompt is run once for all its options
        (:meth:`~edtformer.model.EDTFormer.shared_prompt_logprobs`).
        """
        n_opt = max(len(r["choices"] or ()) for r in records)
        out = np.zeros((len(records), n_opt))
        prompts = self.model.prompts
        for start in range(0, len(records), self.batch_size):
            chunk = [
                (i, j, c)
                for i in range(start, min(start + self.batch_size, len(records)))
                for j, c in enumerate(records[i]["choices"] or ())
            ]
            if not chunk:
                continue
            convs = [
                prompts.messages(records[i]["question"], len(records[i]["smiles"]), c)
                for i, _, c in chunk
            ]
            mols = [list(records[i]["smiles"]) for i, _, _ in chunk]
            batch = self.model.prepare(mols, convs)
            # a record's options share its prompt: it is run once, then each option's tokens
            logp = self.model.shared_prompt_logprobs(batch, [i for i, _, _ in chunk])
            for (i, j, _), lp in zip(chunk, logp.double().cpu().tolist(), strict=True):
                out[i, j] = lp
        probs = np.full_like(out, 0.0)
        for i, r in enumerate(records):
            options = [str(c) for c in r["choices"] or ()]
            probs[i, : len(options)] = cloze_probs(out[i, : len(options)].tolist(), options)
        return probs

    @torch.no_grad()
    def generate(self, records: Sequence[Record], max_new_tokens: int) -> list[str]:
        """Greedy answers, one per record."""
        out: list[str] = []
        for chunk in self._batches(records):
            out += self.model.generate(self._prepare(chunk), max_new_tokens=max_new_tokens)
            if self.progress:
                self.progress(len(chunk))
        return out

    def score_group(
        self, group: str, records: list[Record], task: str, max_new_tokens: int | None = None
    ) -> tuple[dict[str, float], list[T.ItemResult], int]:
        """Metrics, items and the unparseable count of one scoring group."""
        kind = records[0]["answer_type"]
        if kind in T.CHOICE_TYPES:
            options = T.choice_options(records)
            probs = self.choice_probs(records, options)
            if kind == "mc":
                metrics, items = T.score_mc(records, probs)
                if self.cloze:
                    cloze, _ = T.score_mc(records, self.cloze_probs(records))
                    metrics.update({f"cloze_{k}": v for k, v in cloze.items()})
            else:
                metrics, items = T.score_yesno(records, probs, options)
            return metrics, items, 0
        texts = self.generate(records, max_new_tokens or T.generation_length(group, kind))
        if kind == "number":
            metrics, items = T.score_number(records, texts)
        elif kind == "smiles":
            metrics, items = T.score_smiles(records, texts)
        else:
            metrics, items = T.score_text(records, texts, group, task)
        return metrics, items, T.unparseable(kind, items)


def load_model(
    path: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str] | None = None,
    device: Any = "cpu",
    dtype: Any = None,
) -> Any:
    """Load a saved model for evaluation, reading frozen node features through the feature cache.

    ``cache_dir`` defaults to ``$EDT_CACHE/features`` (the cache training fills); ``device`` and
    ``dtype`` (the frozen LLM's weights, e.g. ``torch.bfloat16``) place the model.
    """
    config = EDTFormerConfig.from_dict(read_config(path)["config"])
    root = Path(cache_dir) if cache_dir is not None else cache_root() / "features"
    processor, _ = build_processor(
        config.encoders, config.patch_rule, config.bridge.uses_dynamic, root
    )
    llm = tok = None
    if dtype is not None and dtype != torch.float32:
        llm, tok = load_llm(config.llm, dtype=dtype)
    model = EDTFormer.from_pretrained(path, processor=processor, llm=llm, tokenizer=tok)
    return model.to(device).eval()


def training_mode(model: Any) -> str:
    """What was trained, for reports (:meth:`TrainableConfig.describe`)."""
    return str(model.config.trainable.describe(text_only=getattr(model, "text_only", False)))


def evaluate_records(
    model: Any,
    records: Sequence[Record],
    task: str,
    split: str = "test",
    *,
    model_name: str = "model",
    seed: int = 0,
    batch_size: int = 8,
    max_new_tokens: int | None = None,
    allow_leak: bool = False,
    notes: str = "",
    progress: Progress | None = None,
    cloze: bool = False,
) -> EvalResult:
    """Score ``model`` on ``records`` of one task and return the :class:`MetricReport` and items.

    Raises:
        LeakageError: an encoder of the model was trained on this task's labels (unless
            ``allow_leak``; the report's notes then carry a LEAK line).
        MetricInputError: no records.
    """
    encoders = () if model.text_only else tuple(model.config.encoders)  # SMILES-only: no graph
    leak = check_leakage(encoders, task, allow=allow_leak)
    evaluator = Evaluator(model, batch_size, progress, cloze=cloze)
    per_group: dict[str, dict[str, float]] = {}
    items: list[T.ItemResult] = []
    n_bad = 0
    for group, recs in T.group_records(records).items():
        metrics, group_items, bad = evaluator.score_group(group, recs, task, max_new_tokens)
        per_group[group] = (
            {**metrics, "n": float(len(recs))} if len(records) != len(recs) else metrics
        )
        items += group_items
        n_bad += bad
        logger.info("%s/%s: %d items scored", task, group, len(recs))
    report = MetricReport(
        task=task,
        split=split,
        model=model_name,
        seed=seed,
        training_mode=training_mode(model),
        n=len(records),
        metrics=T.combine_groups(per_group, items),
        n_unparseable=n_bad,
        notes="; ".join(x for x in (notes, leak) if x),
    )
    return EvalResult(report, items)


__all__ = [
    "INPUT_FORMATS",
    "EvalResult",
    "Evaluator",
    "evaluate_records",
    "load_eval_records",
    "load_model",
    "training_mode",
]

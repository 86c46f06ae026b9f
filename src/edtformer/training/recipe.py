"""The default training recipe (``edt train recipe``): the bridge that ships with the package.

What the first round's bridge lacked (measured, DESIGN.md section 7) and what this recipe does:

- *questions that need the molecule*: a :class:`~edtformer.training.questions.QuestionStream`
  of fresh, balanced questions (``has_group`` is yes half the time for every group);
- *tokens that carry the asked-for fact*: instruction-aware queries
  (``BridgeConfig.instruction_aware``): the query transformer reads the question's frozen LLM
  token embeddings, as InstructBLIP's Q-Former reads the instruction;
- *tokens at the LLM's scale*: ``BridgeConfig.token_norm`` = the LLM's mean input-embedding norm;
- *exact facts in the prompt* (``recipe.fact_sheet``, the shipped recipe): each molecule's RDKit
  fact sheet written as text after its tokens, with the frozen blood-brain-barrier read-out's
  estimate on it (:func:`fit_bbb_head`, fitted LLM-free by logistic regression);
- *a learning curve*: the valid split is scored every ``recipe.eval_every`` steps
  (:class:`ValidCurve`), written to ``curve.jsonl`` in the run folder.

Stage 1 (bridge vs text) is not part of the recipe; ``--set recipe.instruction_aware=false``
(and the other fields of :class:`~edtformer.training.config.RecipeSection`) turn each lever off
for the learning curves.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from edtformer.chem import parse_smiles
from edtformer.errors import EdtError
from edtformer.llm.prompt import IGNORE_INDEX
from edtformer.training.build import load_records, warm_feature_cache
from edtformer.training.config import RecipeSection, TrainConfig
from edtformer.training.curve import ValidCurve, curve_records
from edtformer.training.engine import FitHooks, FitResult, fit, make_fabric
from edtformer.training.questions import KIND_WEIGHTS, QuestionStream, SoftAnswer
from edtformer.training.stage2 import Stage2Collator
from edtformer.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

#: The recipe's scalar levers and their defaults (the ``recipe`` section without its kind weights;
#: also the keys of ``training.json``'s ``extra`` record).
RECIPE_DEFAULTS: dict[str, Any] = {
    k: v for k, v in dataclasses.asdict(RecipeSection()).items() if k != "kind_weights"
}


class RecipeModule(nn.Module):
    """EDTFormer's answer loss through the LLM: ``forward(batch)`` returns ``{"loss",
    "answer_loss"}``; ``per_answer``: each question's mean token loss, averaged over the batch's
    questions (``recipe.answer_loss=answer``), else the mean over every answer token."""

    def __init__(self, model: Any, per_answer: bool = False) -> None:
        super().__init__()
        self.model = model
        self.per_answer = per_answer

    def forward(self, batch: Any) -> dict[str, Tensor]:
        out = self.model(batch, per_answer=self.per_answer)
        if out.loss is None:
            raise ValueError("recipe batch has no assistant tokens to learn from")
        return {"loss": out.loss, "answer_loss": out.loss.detach()}


class RecipeCollator(Stage2Collator):
    """``[(smiles list, question, answer), ...]`` -> :class:`~edtformer.model.ChatBatch`: stage
    2's batch, with the soft targets of its :class:`SoftAnswer` prompts (:meth:`soft_targets`)."""

    def __call__(self, items: Sequence[tuple[list[str], str, str]]) -> Any:
        chat = super().__call__(items)
        if any(isinstance(a, SoftAnswer) for *_, a in items):
            soft_yes, soft_ids = self.soft_targets(items)
            chat.soft_yes = soft_yes.to(chat.labels.device)
            chat.soft_ids = soft_ids.to(chat.labels.device)
        return chat

    def soft_targets(self, items: Sequence[tuple[list[str], str, str]]) -> tuple[Tensor, Tensor]:
        """P(yes) ``[B]`` (NaN for hard answers) and the first answer-token ids ``[B, 2]`` of
        the two words (yes, no) of every :class:`SoftAnswer` prompt. The two answers must
        differ in their first token only (one-token words); otherwise a soft target is not one
        token's."""
        prompts = self.model.prompts
        p_yes = torch.full((len(items),), float("nan"))
        ids = torch.zeros(len(items), 2, dtype=torch.long)
        for b, (smi, q, a) in enumerate(items):
            if not isinstance(a, SoftAnswer):
                continue
            pair = []
            for word in a.pair:
                enc = prompts.encode(prompts.messages(q, len(smi), word), [1] * len(smi))
                pair.append([t for t in enc.labels if t != IGNORE_INDEX])
            yes, no = pair
            if len(yes) != len(no) or yes[0] == no[0] or yes[1:] != no[1:]:
                raise EdtError(
                    f"soft answer targets need {a.pair[0]!r} and {a.pair[1]!r} to differ in "
                    f"one answer token; this tokenizer writes them as {yes} and {no}"
                )
            p_yes[b] = a.p_yes
            ids[b] = torch.tensor([yes[0], no[0]])
        return p_yes, ids


#: Inverse L2 strengths tried for the blood-brain-barrier read-out (chosen on the valid split).
BBB_C_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


@torch.no_grad()
def bbb_inputs(model: Any, smiles: Sequence[str], batch_size: int = 64) -> Tensor:
    """Mean + max pooled frozen encoder streams of ``smiles``: ``[M, 2 sum D_s]``
    (:func:`~edtformer.bridge.readout.pool_mean_max`, the read-out's input)."""
    from edtformer.bridge.readout import pool_mean_max

    pooled = []
    for i in range(0, len(smiles), batch_size):
        records = [parse_smiles(x) for x in smiles[i : i + batch_size]]
        feats, mask, *_ = model.processor(records).inputs()
        pooled.append(pool_mean_max(feats, mask))
    return torch.cat(pooled)


def readout_yes_prob(model: Any, records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """SMILES -> P(BBB+) of the model's (frozen) blood-brain-barrier read-out, for the BBBP
    molecules among ``records``: the soft answers of ``recipe.bbbp_targets=soft``."""
    readout = getattr(model, "readout", None)
    if readout is None:
        raise EdtError("recipe.bbbp_targets=soft needs a blood-brain-barrier read-out")
    smiles = sorted({r["smiles"][0] for r in records if r.get("task") == "bbbp"})
    if not smiles:
        return {}
    with torch.no_grad():
        p = torch.sigmoid(readout.bbb_readout(bbb_inputs(model, smiles)).float())
    logger.info(
        "BBBP answers from the read-out: %d molecules, mean P(yes) %.3f", len(smiles), p.mean()
    )
    return dict(zip(smiles, p.tolist(), strict=True))


def fit_bbb_head(model: Any, data_dir: str | Path, seed: int) -> dict[str, Any]:
    """Fit the model's blood-brain-barrier read-out (:class:`~edtformer.bridge.readout.
    BBBReadout`) LLM-free: scikit-learn's logistic regression on the standardised mean + max
    pooled streams of the BBBP *train* molecules, its L2 strength chosen by valid ROC-AUC (as
    ``experiments/diagnostics/bbbp_specialist.py`` does), copied into ``BBBReadout.bbb`` (the
    standardisation into ``bbb_mean`` / ``bbb_std``) and frozen (the LLM stage does not move
    it). Returns the valid ROC-AUC per ``C`` and the chosen ``C``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from edtformer.data import load_task

    readout = getattr(model, "readout", None)
    if readout is None:
        raise EdtError("this model has no blood-brain-barrier read-out")
    splits = {k: load_task(data_dir, "bbbp", k) for k in ("train", "valid")}
    x = {k: bbb_inputs(model, [r["smiles"][0] for r in v]) for k, v in splits.items()}
    y = {k: np.array([r["answer"] == "yes" for r in v], dtype=int) for k, v in splits.items()}
    if len(y["train"]) == 0:
        raise EdtError(
            f"the blood-brain-barrier read-out needs BBBP train records; {data_dir} has none"
        )
    mean, std = x["train"].mean(0), x["train"].std(0).clamp_min(1e-6)
    z = {k: ((v - mean) / std).double().numpy() for k, v in x.items()}
    n = {k: len(v) for k, v in splits.items()}
    report: dict[str, Any] = {
        "model": "logistic regression on the standardised mean + max pooled encoder streams",
        "n": n,
    }
    weight, bias = torch.zeros_like(readout.bbb.weight), torch.zeros_like(readout.bbb.bias)
    if len(set(y["train"].tolist())) < 2:  # a toy build: the base rate, no read-out
        rate = float(np.clip(y["train"].mean(), 0.01, 0.99))
        bias.fill_(float(np.log(rate / (1 - rate))))
        logger.warning("BBBP train labels are all one class: the read-out writes the base rate")
        report.update(C=None, valid_roc_auc=None, valid_roc_auc_by_C={})
    else:
        auc: dict[float, float] = {}
        fitted = {}
        for c in BBB_C_GRID:
            clf = LogisticRegression(C=c, max_iter=3000, random_state=seed)
            fitted[c] = clf.fit(z["train"], y["train"])
            if len(set(y["valid"].tolist())) == 2:
                auc[c] = float(roc_auc_score(y["valid"], clf.decision_function(z["valid"])))
        best = max(auc, key=auc.__getitem__) if auc else 1e-3  # 1e-3: the specialist's choice
        weight.copy_(torch.as_tensor(fitted[best].coef_, dtype=torch.float32))
        bias.copy_(torch.as_tensor(fitted[best].intercept_, dtype=torch.float32))
        report.update(
            C=best,
            valid_roc_auc=round(auc[best], 4) if auc else None,
            valid_roc_auc_by_C={str(c): round(a, 4) for c, a in auc.items()},
        )
        logger.info("blood-brain-barrier read-out: C=%g, valid ROC-AUC %s", best, auc.get(best))
    with torch.no_grad():
        readout.bbb_mean.copy_(mean)
        readout.bbb_std.copy_(std)
        readout.bbb.weight.copy_(weight)
        readout.bbb.bias.copy_(bias)
    readout.bbb.requires_grad_(False)
    return report


def sheet_stream(cfg: TrainConfig) -> Any:
    """The fact-sheet recipe's stream (:class:`~edtformer.training.sheet_stream.SheetStream`,
    train split only); ``recipe.kind_weights`` override its kinds' shares."""
    from edtformer.training.sheet_stream import SHEET_KIND_WEIGHTS, SheetStream

    unknown = sorted(set(cfg.recipe.kind_weights) - set(SHEET_KIND_WEIGHTS))
    if unknown:
        raise EdtError(
            f"recipe.kind_weights: unknown question kind(s) {unknown} for the fact-sheet stream; "
            f"known: {list(SHEET_KIND_WEIGHTS)}"
        )
    train = load_records(cfg, ("struct_text", "struct_mc", "stereo", "bbbp"), "train")
    molecules = sorted({s for r in train if r["task"] != "bbbp" for s in r["smiles"]})
    opt = cfg.optim
    length = opt.max_steps * opt.batch_size * opt.grad_accum * max(cfg.run.devices, 1)
    weights = {**SHEET_KIND_WEIGHTS, **cfg.recipe.kind_weights}
    order = (cfg.run.seed, opt.batch_size, max(cfg.run.devices, 1))
    return SheetStream(molecules, train, length, seed=cfg.run.seed, weights=weights, order=order)


def recipe_stream(cfg: TrainConfig) -> QuestionStream:
    """The training question stream of ``cfg`` (train split only)."""
    tasks: tuple[str, ...] = ("struct_text", "struct_mc", "stereo", "bbbp")
    if cfg.recipe.kind_weights.get("solubility", 0) > 0:
        tasks += ("solubility",)
    train = load_records(cfg, tasks, "train")
    molecules = sorted(
        {
            s
            for r in train
            if r["task"] in ("struct_text", "struct_mc", "stereo")
            for s in r["smiles"]
        }
    )
    keep = [r for r in train if r["task"] in ("stereo", "bbbp", "solubility")]
    weights = dict(KIND_WEIGHTS)
    unknown = sorted(set(cfg.recipe.kind_weights) - set(KIND_WEIGHTS))
    if unknown:
        raise EdtError(
            f"recipe.kind_weights: unknown question kind(s) {unknown}; known: {list(KIND_WEIGHTS)}"
        )
    weights.update(cfg.recipe.kind_weights)
    opt = cfg.optim
    length = opt.max_steps * opt.batch_size * opt.grad_accum * max(cfg.run.devices, 1)
    balanced = ("bbbp",) if cfg.recipe.balance_bbbp else ()
    return QuestionStream(
        molecules,
        keep,
        length,
        seed=cfg.run.seed,
        weights=weights,
        balanced=balanced,
        text_facts=(cfg.recipe.mc_text_start, cfg.recipe.mc_text_full),
        order=(cfg.run.seed, opt.batch_size, max(cfg.run.devices, 1)),
        text_batches=cfg.recipe.mc_text_batches,
        mc_layouts=cfg.recipe.mc_layouts,
    )


def build_recipe_model(cfg: TrainConfig) -> Any:
    """The EDTFormer of a recipe run: ``cfg.model.preset`` + instruction-aware queries + token norm."""

    from edtformer.llm.loading import load_llm
    from edtformer.training.runner import build_stage2_model

    llm, tokenizer = load_llm(cfg.model.llm)
    if cfg.recipe.token_norm == "auto":
        norm = float(llm.get_input_embeddings().weight.norm(dim=-1).mean())
    else:
        norm = float(cfg.recipe.token_norm)
    overrides = {"instruction_aware": cfg.recipe.instruction_aware, "token_norm": norm}
    sheet = {"fact_sheet": True, "bbb_readout": True} if cfg.recipe.fact_sheet else None
    return build_stage2_model(
        cfg, llm=llm, tokenizer=tokenizer, bridge_overrides=overrides, model_overrides=sheet
    )


def run_recipe(
    cfg: TrainConfig, resume: bool = False, progress: bool = True, hooks: FitHooks | None = None
) -> FitResult:
    """Train the default bridge: balanced question stream, frozen LLM, valid curve; saves ``final/``."""
    cfg.validate()
    rc = cfg.recipe
    fabric = make_fabric(cfg)
    fabric.launch()
    fabric.seed_everything(cfg.run.seed)
    out_dir = Path(cfg.run.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sheet = sheet_stream(cfg) if rc.fact_sheet else None
    stream = sheet if sheet is not None else recipe_stream(cfg)
    model = build_recipe_model(cfg)
    model.sheet_full_rate = rc.sheet_full_rate
    assert model.processor is not None
    curve = curve_records(cfg.data.dir, rc.eval_per_kind, cfg.run.seed, rc.curve_kinds)
    needed = list(stream.molecules) + [s for r in stream.records for s in r["smiles"]]
    needed += [s for recs in curve.values() for r in recs for s in r["smiles"]]
    bad = warm_feature_cache(model.processor, needed, progress=progress)
    if bad:
        raise ValueError(f"{len(bad)} molecules cannot be encoded, e.g. {sorted(bad)[:3]}")
    if not resume:
        (out_dir / "curve.jsonl").unlink(missing_ok=True)
    torch.manual_seed(cfg.run.seed)
    module = RecipeModule(model, per_answer=rc.answer_loss == "answer")
    if fabric.is_global_zero:
        logger.info(
            "recipe: %d molecules, %d stream items; %s", len(stream.molecules), len(stream),
            model.parameter_counts().summary(),
        )  # fmt: skip
    if getattr(model, "readout", None) is not None:
        # deterministic: refitted on resume too (it is frozen)
        t0 = time.time()
        report = fit_bbb_head(model, cfg.data.dir, cfg.run.seed)
        report["seconds"] = round(time.time() - t0, 1)
        atomic_write_json(out_dir / "bbb_head.json", report)
        if sheet is not None and rc.bbbp_targets == "soft":  # validated: soft needs the sheet
            sheet.set_yes_prob("bbbp", readout_yes_prob(model, sheet.records))
    on_step = ValidCurve(
        model, curve, rc.eval_every, out_dir / "curve.jsonl", cfg.optim.max_steps,
        zero_tokens=rc.curve_zero_tokens,
    )  # fmt: skip
    if not resume and on_step.every > 0 and rc.eval_at_start:
        on_step(0, 0, module)  # the untrained starting point of the curve
        model.train()
    start = time.time()

    def on_final(_: nn.Module, out: Path) -> None:
        model.save_pretrained(out)
        write_training_record(cfg, model, out, time.time() - start)

    return fit(
        fabric,
        cfg,
        module,
        stream,
        RecipeCollator(model),
        resume=resume,
        on_final=on_final,
        progress=progress,
        on_step=on_step,
        hooks=hooks,
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


def write_training_record(cfg: TrainConfig, model: Any, out: Path, seconds: float) -> None:
    """``training.json`` beside the model: command, resolved config (``config``: the named recipe
    with every override applied, the precision as chosen), data, seed, training mode, time,
    curve end."""
    import platform
    import sys

    from edtformer.data import read_manifest

    manifest = read_manifest(Path(cfg.data.dir))
    curve_path = Path(cfg.run.out_dir) / "curve.jsonl"
    last = curve_path.read_text().splitlines()[-1] if curve_path.is_file() else "{}"
    from edtformer.training.precision import cpu_name

    what = (
        "edt train recipe: the exact RDKit fact sheet in every prompt (the lines each question "
        "names), train phrasings of every sheet fact, off-sheet questions declined, the dataset's "
        "questions; instruction-aware queries; one stage, frozen encoders"
        if cfg.recipe.fact_sheet
        else "edt train recipe: balanced question stream, instruction-aware queries, token "
        "norm matched to the LLM; one stage, frozen encoders"
    )
    record = {
        "what": what,
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
        "extra": {k: getattr(cfg.recipe, k) for k in RECIPE_DEFAULTS},
        "kind_weights": dict(cfg.recipe.kind_weights),
        "train_seconds": round(seconds, 1),
        "valid_curve_last": {k: v for k, v in json.loads(last).items() if k != "metrics"},
        "precision": cfg.run.precision,
        "hardware": f"{platform.machine()} CPU ({cpu_name()}, torch capability "
        f"{torch.backends.cpu.get_cpu_capability()}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s)",
        "config": cfg.to_dict(),
    }
    if cfg.model.init_from:
        record = add_history(record, cfg.model.init_from)
    atomic_write_json(out / "training.json", record)
    from edtformer.model.card import write_model_card

    write_model_card(out)


__all__ = [
    "BBB_C_GRID",
    "RECIPE_DEFAULTS",
    "RecipeCollator",
    "RecipeModule",
    "add_history",
    "bbb_inputs",
    "build_recipe_model",
    "fit_bbb_head",
    "readout_yes_prob",
    "recipe_stream",
    "run_recipe",
    "sheet_stream",
    "write_training_record",
]

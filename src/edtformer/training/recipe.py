"""The stage-2 runner (:func:`run_recipe`) and the default training recipe (``edt train recipe``):
the bridge that ships with the package.

One runner trains every stage-2 model through :func:`~edtformer.training.engine.fit`: ``edt
train stage2`` on the dataset's records, ``edt train recipe`` on the recipe's question stream
with its hooks (:class:`RecipeExtras`: the valid curve, the read-out fit, ``training.json``).

What the first round's bridge lacked (measured, DESIGN.md section 7) and what this recipe does:

- *questions that need the molecule*: a :class:`~edtformer.training.questions.QuestionStream`
  of fresh, balanced questions (``has_group`` is yes half the time for every group);
- *tokens that carry the asked-for fact*: instruction-aware queries
  (``bridge.instruction_aware``): the query transformer reads the question's frozen LLM
  token embeddings, as InstructBLIP's Q-Former reads the instruction;
- *tokens at the LLM's scale*: ``bridge.token_norm=auto``, the LLM's mean input-embedding norm;
- *exact facts in the prompt* (``recipe.fact_sheet``, the shipped recipe): each molecule's RDKit
  fact sheet written as text after its tokens, with the frozen blood-brain-barrier read-out's
  estimate on it (:func:`fit_bbb_head`, fitted LLM-free by logistic regression);
- *a learning curve*: the valid split is scored every ``recipe.eval_every`` steps
  (:class:`~edtformer.training.curve.ValidCurve`), written to ``curve.jsonl`` in the run folder.

Stage 1 (bridge vs text) is not part of the recipe; ``--set bridge.instruction_aware=false``
(and the fields of :class:`~edtformer.training.config.RecipeSection`) turn each lever off for
the learning curves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from edtformer.bridge.readout import pool_mean_max
from edtformer.chem import parse_smiles
from edtformer.data import load_task
from edtformer.errors import EdtError
from edtformer.llm.prompt import IGNORE_INDEX
from edtformer.training.build import load_records, warm_feature_cache
from edtformer.training.config import TrainConfig
from edtformer.training.curve import ValidCurve, curve_records
from edtformer.training.engine import FitHooks, FitResult, fit, make_fabric
from edtformer.training.questions import KIND_WEIGHTS, QuestionStream, SoftAnswer
from edtformer.training.record import write_training_record
from edtformer.training.runner import STAGE2_DEFAULT_TASKS, build_stage2_model
from edtformer.training.sheet_stream import SHEET_KIND_WEIGHTS, SheetStream
from edtformer.training.stage2 import Stage2Collator, record_to_sample
from edtformer.utils.io import atomic_write_json

logger = logging.getLogger(__name__)


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
    # heavy: sklearn loads only for the BBB probe head
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

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
        molecules, keep, length, seed=cfg.run.seed, weights=weights, balanced=balanced
    )


def record_samples(cfg: TrainConfig) -> list[tuple[list[str], str, str]]:
    """The training items of a ``stage2`` run: the dataset's instruction records of
    ``data.tasks`` (empty: :data:`STAGE2_DEFAULT_TASKS`), train split,
    as ``(smiles list, question, answer)``."""
    tasks = tuple(cfg.data.tasks) or STAGE2_DEFAULT_TASKS
    return [record_to_sample(r) for r in load_records(cfg, tasks, "train")]


class RecipeExtras:
    """What a ``recipe`` run does beside the answer loss, as hooks of :func:`run_recipe`:

    - ``curve``: the valid learning curve (:class:`~edtformer.training.curve.ValidCurve`, every
      ``recipe.eval_every`` steps into ``curve.jsonl``; ``fit``'s ``on_step``);
    - :meth:`before_fit`: the blood-brain-barrier read-out of a fact-sheet model fitted
      LLM-free (:func:`fit_bbb_head`; with ``recipe.bbbp_targets=soft`` its P(yes) becomes the
      stream's BBBP answers), and the curve's untrained starting point;
    - :meth:`after_save`: ``training.json`` and the model card beside the saved model.

    Making it sets the model's ``sheet_full_rate`` and reads the curve's valid records
    (``molecules``: theirs, to encode before training); a fresh run starts a new ``curve.jsonl``.
    """

    def __init__(self, cfg: TrainConfig, model: Any, stream: Any, resume: bool) -> None:
        rc = cfg.recipe
        self.cfg, self.model = cfg, model
        self.sheet = stream if rc.fact_sheet else None
        self.out_dir = Path(cfg.run.out_dir)
        model.sheet_full_rate = rc.sheet_full_rate
        records = curve_records(cfg.data.dir, rc.eval_per_kind, cfg.run.seed, rc.curve_kinds)
        self.molecules = [s for recs in records.values() for r in recs for s in r["smiles"]]
        path = self.out_dir / "curve.jsonl"
        if not resume:
            path.unlink(missing_ok=True)
        self.curve = ValidCurve(
            model, records, rc.eval_every, path, cfg.optim.max_steps,
            zero_tokens=rc.curve_zero_tokens,
        )  # fmt: skip

    def before_fit(self, module: nn.Module, resume: bool) -> None:
        """Fit the read-out (refitted on resume too: it is frozen and deterministic) and score
        the curve's step 0 (a fresh run with ``recipe.eval_at_start``)."""
        rc = self.cfg.recipe
        if getattr(self.model, "readout", None) is not None:
            t0 = time.time()
            report = fit_bbb_head(self.model, self.cfg.data.dir, self.cfg.run.seed)
            report["seconds"] = round(time.time() - t0, 1)
            atomic_write_json(self.out_dir / "bbb_head.json", report)
            if self.sheet is not None and rc.bbbp_targets == "soft":  # validated: needs the sheet
                self.sheet.set_yes_prob("bbbp", readout_yes_prob(self.model, self.sheet.records))
        if not resume and self.curve.every > 0 and rc.eval_at_start:
            self.curve(0, 0, module)  # the untrained starting point of the curve
            self.model.train()

    def after_save(self, out: Path, seconds: float) -> None:
        """``training.json`` (and the model card) beside the model saved in ``out``."""
        write_training_record(self.cfg, self.model, out, seconds)


def _encodable(processor: Any, items: Any, extras: RecipeExtras | None, progress: bool) -> Any:
    """``items`` once every molecule they (and the curve) name is encoded into the feature cache:
    a dataset record naming a molecule no encoder reads is dropped; a question stream (whose
    items are drawn from its molecules) must name none."""
    if extras is None:
        bad = warm_feature_cache(
            processor, [s for smi, _, _ in items for s in smi], progress=progress
        )
        return [x for x in items if not any(s in bad for s in x[0])]
    needed = list(items.molecules) + [s for r in items.records for s in r["smiles"]]
    bad = warm_feature_cache(processor, needed + extras.molecules, progress=progress)
    if bad:
        raise ValueError(f"{len(bad)} molecules cannot be encoded, e.g. {sorted(bad)[:3]}")
    return items


def run_recipe(
    cfg: TrainConfig, resume: bool = False, progress: bool = True, hooks: FitHooks | None = None
) -> FitResult:
    """The stage-2 runner: the answer loss through the frozen LLM, trained by
    :func:`~edtformer.training.engine.fit`; saves the model to ``final/``. ``edt train stage2``,
    ``edt train recipe`` and every ``edt bench`` row run through it.

    ``cfg.stage`` picks the questions: ``stage2`` the dataset's records (:func:`record_samples`;
    the ``recipe`` section is not read), ``recipe`` the question stream (:func:`recipe_stream`,
    or :func:`sheet_stream` with ``recipe.fact_sheet``) with the hooks of :class:`RecipeExtras`.
    """
    if cfg.stage not in ("stage2", "recipe"):
        raise EdtError(f"run_recipe trains stage2 or recipe configs, not {cfg.stage!r}")
    cfg.validate()
    recipe = cfg.stage == "recipe"
    fabric = make_fabric(cfg, resume)
    fabric.launch()
    fabric.seed_everything(cfg.run.seed)
    Path(cfg.run.out_dir).mkdir(parents=True, exist_ok=True)
    if recipe:
        items: Any = sheet_stream(cfg) if cfg.recipe.fact_sheet else recipe_stream(cfg)
    else:
        items = record_samples(cfg)
    model = build_stage2_model(cfg)
    assert model.processor is not None
    extras = RecipeExtras(cfg, model, items, resume) if recipe else None
    items = _encodable(model.processor, items, extras, progress)
    torch.manual_seed(cfg.run.seed)
    module = RecipeModule(model, per_answer=recipe and cfg.recipe.answer_loss == "answer")
    if fabric.is_global_zero:
        logger.info(
            "%s: %d training items; %s", cfg.stage, len(items), model.parameter_counts().summary()
        )
    if extras is not None:
        extras.before_fit(module, resume)
    start = time.time()

    def on_final(_: nn.Module, out: Path) -> None:
        model.save_pretrained(out)
        if extras is not None:
            extras.after_save(out, time.time() - start)

    return fit(
        fabric,
        cfg,
        module,
        items,
        RecipeCollator(model),
        resume=resume,
        on_final=on_final,
        progress=progress,
        on_step=extras.curve if extras is not None else None,
        hooks=hooks,
    )


__all__ = [
    "BBB_C_GRID",
    "RecipeCollator",
    "RecipeExtras",
    "RecipeModule",
    "bbb_inputs",
    "fit_bbb_head",
    "readout_yes_prob",
    "recipe_stream",
    "record_samples",
    "run_recipe",
    "sheet_stream",
]

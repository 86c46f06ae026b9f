"""The default training recipe (``edt train recipe``): the bridge that ships with the package.

What the first round's bridge lacked (measured, DESIGN.md section 7) and what this recipe does:

- *questions that need the molecule*: a :class:`~edtformer.training.questions.QuestionStream`
  of fresh, balanced questions (``has_group`` is yes half the time for every group);
- *tokens that carry the asked-for fact*: instruction-aware queries
  (``BridgeConfig.instruction_aware``): the query transformer reads the question's frozen LLM
  token embeddings, as InstructBLIP's Q-Former reads the instruction;
- *tokens at the LLM's scale*: ``BridgeConfig.token_norm`` = the LLM's mean input-embedding norm;
- *dense supervision without the LLM*: small :class:`FactHeads` on the bridge's query states
  predict every RDKit fact of every molecule in the batch (functional groups, ring / donor /
  acceptor / stereocentre counts), for the cost of a linear layer; the LLM's answer loss gives
  one fact per sample;
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
import math
import time
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edtformer.bridge.facts import (
    CIP_CLASSES,
    ELEMENT_CLASSES,
    EZ_CLASSES,
    H_CLASSES,
    WRITTEN_COUNTS,
    FactLogits,
    FactWriter,
)
from edtformer.chem import canonical_order, parse_smiles
from edtformer.data.facts import FUNCTIONAL_GROUPS, ez_bonds, stereocentres
from edtformer.errors import EdtError
from edtformer.llm.prompt import IGNORE_INDEX
from edtformer.training.build import load_records, warm_feature_cache
from edtformer.training.config import RecipeSection, TrainConfig
from edtformer.training.engine import FitHooks, FitResult, fit, make_fabric
from edtformer.training.questions import KIND_WEIGHTS, QuestionStream, SoftAnswer, facts_of
from edtformer.training.stage2 import Stage2Collator
from edtformer.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

#: The recipe's scalar levers and their defaults (the ``recipe`` section without its kind weights;
#: also the keys of ``training.json``'s ``extra`` record).
RECIPE_DEFAULTS: dict[str, Any] = {
    k: v for k, v in dataclasses.asdict(RecipeSection()).items() if k != "kind_weights"
}

#: Count facts predicted by :class:`FactHeads`: name -> number of classes (larger values clip).
COUNT_FACTS: dict[str, int] = {
    "n_rings": 8,
    "n_aromatic_rings": 6,
    "n_aliphatic_rings": 6,
    "hbd": 8,
    "hba": 14,
    "heavy_atoms": 64,
    "n_stereocentres": 10,
    "n_ez_bonds": 4,
}
GROUP_NAMES: tuple[str, ...] = tuple(FUNCTIONAL_GROUPS)
#: Columns of :func:`fact_labels`' counts that the bridge's fact writer predicts, in its order.
WRITTEN_COLUMNS: list[int] = [list(COUNT_FACTS).index(name) for name in WRITTEN_COUNTS]

#: Valid-split scoring of the learning curve: task -> the question kinds scored.
CURVE_TASKS: dict[str, tuple[str, ...]] = {
    "struct_text": (
        "has_group",
        "n_rings",
        "n_aromatic_rings",
        "hbd",
        "hba",
        "heavy_atoms",
        "groups",
        "formula",
    ),
    "stereo": ("n_stereocentres", "same_stereoisomer", "rs", "ez"),
    "struct_mc": ("*",),
    "bbbp": ("*",),
}


def fact_labels(smiles: Sequence[str]) -> tuple[Tensor, Tensor]:
    """Aux targets of molecules: group presence float ``[M, G]`` and count classes int64 ``[M, C]``."""
    groups = torch.zeros(len(smiles), len(GROUP_NAMES))
    counts = torch.zeros(len(smiles), len(COUNT_FACTS), dtype=torch.long)
    for m, smi in enumerate(smiles):
        f = facts_of(smi)
        for g, name in enumerate(GROUP_NAMES):
            groups[m, g] = float(name in f["functional_groups"])
        for c, (name, n) in enumerate(COUNT_FACTS.items()):
            counts[m, c] = min(int(f[name]), n - 1)
    return groups, counts


class FactHeads(nn.Module):
    """Linear read-outs of RDKit facts from the bridge's pooled query states (training only).

    Shapes:
        - states: ``[M, Q, W]``, mask: bool ``[M, Q]``
        - output: group logits ``[M, G]`` and one ``[M, n_c]`` logit tensor per count fact
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.groups = nn.Linear(width, len(GROUP_NAMES))
        self.counts = nn.ModuleList(nn.Linear(width, n) for n in COUNT_FACTS.values())

    def forward(self, states: Tensor, mask: Tensor) -> tuple[Tensor, list[Tensor]]:
        m = mask.unsqueeze(-1).to(states.dtype)  # [M, Q, 1]
        pooled = self.norm((states * m).sum(1) / m.sum(1).clamp_min(1.0))  # [M, W]
        return self.groups(pooled), [head(pooled) for head in self.counts]


def fact_loss(
    logits: tuple[Tensor, list[Tensor]], groups: Tensor, counts: Tensor, group_weight: float = 1.0
) -> Tensor:
    """Weighted mean of the group BCE (weight ``group_weight``) and the count cross-entropies
    (weight 1 each)."""
    group_logits, count_logits = logits
    losses = [group_weight * F.binary_cross_entropy_with_logits(group_logits, groups)]
    losses += [F.cross_entropy(lg, counts[:, c]) for c, lg in enumerate(count_logits)]
    return torch.stack(losses).sum() / (group_weight + len(count_logits))


def writer_loss(
    logits: FactLogits, groups: Tensor, counts: Tensor, atoms: Tensor | None = None
) -> Tensor:
    """:func:`fact_loss` of the bridge's fact writer (``BridgeOutput.fact_logits``): its counts are
    the :data:`~edtformer.bridge.facts.WRITTEN_COUNTS` columns of ``counts`` ``[M, C]``; the
    group BCE weighs as much as all counts together. With a stereo writer, plus the per-atom
    CIP and E/Z cross-entropies against ``atoms`` int64 ``[M, N, 4]`` (:func:`atom_labels`);
    with a formula writer, plus the per-atom element and hydrogen-count cross-entropies."""
    loss = fact_loss(
        (logits.groups, logits.counts),
        groups,
        counts[:, WRITTEN_COLUMNS],
        float(len(WRITTEN_COUNTS)),
    )
    per_atom = (  # (logits [M, N, sum k], class widths, their columns of ``atoms``)
        (logits.atoms, (len(CIP_CLASSES), len(EZ_CLASSES)), (0, 1)),
        (logits.elements, (len(ELEMENT_CLASSES), H_CLASSES), (2, 3)),
    )
    for lg_all, widths, columns in per_atom:
        if lg_all is None or atoms is None:
            continue
        n = min(lg_all.shape[1], atoms.shape[1])
        lg, tg = lg_all[:, :n].float(), atoms[:, :n].to(lg_all.device)
        start = 0
        for k, col in zip(widths, columns, strict=True):
            part = lg[..., start : start + k].reshape(-1, k)
            loss = loss + F.cross_entropy(part, tg[..., col].reshape(-1), ignore_index=-100)
            start += k
    return loss


@lru_cache(maxsize=65536)
def _atom_facts(
    smiles: str,
) -> tuple[
    int, tuple[tuple[int, int], ...], tuple[tuple[int, int], ...], tuple[int, ...], tuple[int, ...]
]:
    """``(atoms, ((atom, CIP class), ...), ((atom, E/Z class), ...), element classes, hydrogen
    counts)`` of one molecule in the bridge's canonical atom order (cached: the collator asks for
    the same molecules every epoch)."""
    mol = canonical_order(parse_smiles(smiles))[0].mol
    cip = tuple(
        (atom, CIP_CLASSES.index(label))
        for atom, label in stereocentres(mol)
        if label in CIP_CLASSES[1:]
    )
    ez = tuple(
        (atom, EZ_CLASSES.index(label))
        for begin, end, label in ez_bonds(mol)
        if label in EZ_CLASSES[1:]
        for atom in (begin, end)
    )
    other = len(ELEMENT_CLASSES) - 1
    elements = tuple(
        ELEMENT_CLASSES.index(a.GetSymbol()) if a.GetSymbol() in ELEMENT_CLASSES[:-1] else other
        for a in mol.GetAtoms()
    )
    hydrogens = tuple(min(a.GetTotalNumHs(), H_CLASSES - 1) for a in mol.GetAtoms())
    return mol.GetNumAtoms(), cip, ez, elements, hydrogens


def atom_labels(smiles: Sequence[str]) -> Tensor:
    """Per-atom targets of molecules in the bridge's canonical atom order, int64
    ``[M, N_max, 4]``: CIP class (index into ``CIP_CLASSES``), E/Z class (on both atoms of each
    specified stereo double bond), element class (``ELEMENT_CLASSES``) and hydrogen count
    (``< H_CLASSES``); ``-100`` on padding."""
    facts = [_atom_facts(x) for x in smiles]
    n_max = max((f[0] for f in facts), default=0)
    out = torch.full((len(facts), n_max, 4), -100, dtype=torch.long)
    for i, (n, cip, ez, elements, hydrogens) in enumerate(facts):
        out[i, :n, :2] = 0
        out[i, :n, 2] = torch.tensor(elements, dtype=torch.long)
        out[i, :n, 3] = torch.tensor(hydrogens, dtype=torch.long)
        for atom, c in cip:
            out[i, atom, 0] = c
        for atom, c in ez:
            out[i, atom, 1] = c
    return out


def answer_slot_loss(tokens: Tensor, first: Tensor, labels: Tensor, table: Tensor) -> Tensor:
    """Cross-entropy of each prompt's first molecule token, read through the LLM's (frozen)
    input-embedding matrix as logits ``t @ E^T``, against the first token of its answer.

    Shapes:
        - tokens: ``[M, Q, d]`` molecule tokens; first: int64 ``[B]``: each prompt's first molecule
          (``-1``: none, the prompt is left out)
        - labels: int64 ``[B, L]`` (``-100`` off the answer); table: ``[V, d]``
    """
    has = labels != -100  # [B, L]
    pos = has.to(torch.long).argmax(dim=1)  # [B]: first answer token
    target = labels.gather(1, pos.unsqueeze(1)).squeeze(1)  # [B]
    keep = has.any(1) & (first >= 0).to(has.device)  # [B]: answered prompts with a molecule
    if not bool(keep.any()):
        return tokens.sum() * 0.0
    slot = tokens[first.clamp(min=0).to(tokens.device), 0]  # [B, d]
    logits = slot.float() @ table.float().T  # [B, V]
    return F.cross_entropy(logits[keep], target[keep])


class RecipeModule(nn.Module):
    """EDTFormer's answer loss through the LLM + ``aux_weight`` x :func:`fact_loss`
    + ``slot_weight`` x :func:`answer_slot_loss`."""

    def __init__(
        self,
        model: Any,
        aux_weight: float,
        slot_weight: float = 0.0,
        group_weight: float = 1.0,
        per_answer: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.per_answer = per_answer
        self.aux_weight = aux_weight
        self.group_weight = group_weight
        self.slot_weight = slot_weight
        width = int(model.config.bridge.width)
        self.facts = FactHeads(width) if aux_weight > 0 else None

    def forward(
        self, batch: tuple[Any, Tensor, Tensor, Tensor, Tensor | None]
    ) -> dict[str, Tensor]:
        chat, groups, counts, first, atoms = batch
        out = self.model(chat, per_answer=self.per_answer)
        if out.loss is None:
            raise ValueError("recipe batch has no assistant tokens to learn from")
        logs = {"loss": out.loss, "answer_loss": out.loss.detach()}
        if self.facts is not None and out.bridge is not None:
            aux = fact_loss(
                self.facts(out.bridge.query_states, out.bridge.state_mask),
                groups.to(out.loss.device),
                counts.to(out.loss.device),
                self.group_weight,
            )
            logs["loss"] = logs["loss"] + self.aux_weight * aux
            logs["fact_loss"] = aux.detach()
        if out.bridge is not None and out.bridge.fact_logits is not None:
            written = writer_loss(
                out.bridge.fact_logits,
                groups.to(out.loss.device),
                counts.to(out.loss.device),
                atoms,
            )
            logs["loss"] = logs["loss"] + written
            logs["writer_loss"] = written.detach()
        if self.slot_weight > 0 and out.bridge is not None:
            table = self.model.llm.get_input_embeddings().weight.detach()  # [V, d]
            slot = answer_slot_loss(out.bridge.tokens, first, chat.labels, table)
            logs["loss"] = logs["loss"] + self.slot_weight * slot
            logs["slot_loss"] = slot.detach()
        return logs


def first_molecules(items: Sequence[tuple[list[str], str, str]]) -> Tensor:
    """Index of each prompt's first molecule among all molecules of ``items``, int64 ``[B]``;
    ``-1`` for a prompt without molecules (a text-only question)."""
    start = torch.tensor([0, *[len(smi) for smi, _, _ in items[:-1]]]).cumsum(0)
    has = torch.tensor([len(smi) > 0 for smi, _, _ in items])
    return torch.where(has, start, torch.full_like(start, -1))


class RecipeCollator(Stage2Collator):
    """``[(smiles list, question, answer), ...]`` -> ``(ChatBatch, group targets, count targets,
    first molecule of each prompt, per-atom stereo targets or None)``: stage 2's batch plus the
    fact-head targets of every molecule in it, the index ``[B]`` of each prompt's first molecule
    (the answer slot) and, for a stereo fact writer, :func:`atom_labels`."""

    def __call__(  # type: ignore[override]
        self, items: Sequence[tuple[list[str], str, str]]
    ) -> tuple[Any, Tensor, Tensor, Tensor, Tensor | None]:
        smiles = [s for smi, _, _ in items for s in smi]
        groups, counts = fact_labels(smiles)
        bridge = self.model.config.bridge
        atoms = atom_labels(smiles) if bridge.fact_stereo or bridge.fact_formula else None
        chat = super().__call__(items)
        if any(isinstance(a, SoftAnswer) for *_, a in items):
            soft_yes, soft_ids = self.soft_targets(items)
            chat.soft_yes = soft_yes.to(chat.labels.device)
            chat.soft_ids = soft_ids.to(chat.labels.device)
        return chat, groups, counts, first_molecules(items), atoms

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


#: The fact writer's LLM-free fit: learning rate and molecules per step.
FACT_FIT_LR, FACT_FIT_BATCH = 3e-3, 64


def _encoder_batches(
    model: Any, smiles: Sequence[str], batch_size: int
) -> Iterator[tuple[list[Tensor], Tensor]]:
    """The frozen encoder streams of ``smiles`` in batches: ``(S streams [B, N, D_s], mask [B, N])``."""
    for i in range(0, len(smiles), batch_size):
        records = [parse_smiles(x) for x in smiles[i : i + batch_size]]
        feats, mask, *_ = model.processor(records).inputs()
        yield feats, mask


@torch.no_grad()
def writer_inputs(
    model: Any, smiles: Sequence[str], batch_size: int = 64
) -> tuple[Tensor, list[Tensor]]:
    """The fact writer's inputs for ``smiles``: pooled frozen encoder streams ``[M, sum D_s]``
    and (for a stereo or formula writer, else empty) each molecule's concatenated atom rows
    ``[n_m, sum D_s]``."""
    writer = model.connector.facts
    pooled, atoms = [], []
    for feats, mask in _encoder_batches(model, smiles, batch_size):
        pooled.append(writer.pool(feats, mask))
        if writer.atom_level:
            rows = torch.cat([h.float() for h in feats], dim=-1)  # [B, N, sum D_s]
            atoms += [r[m] for r, m in zip(rows, mask, strict=True)]
    return torch.cat(pooled), atoms


def _atom_batch(rows: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """Pad atom rows ``[n_m, D]`` to ``[M, N, D]`` and a mask ``[M, N]``."""
    n = max(r.shape[0] for r in rows)
    x = rows[0].new_zeros(len(rows), n, rows[0].shape[1])
    mask = torch.zeros(len(rows), n, dtype=torch.bool)
    for i, r in enumerate(rows):
        x[i, : r.shape[0]], mask[i, : r.shape[0]] = r, True
    return x, mask


def fit_fact_writer(
    model: Any, molecules: Sequence[str], valid: Sequence[str], steps: int, seed: int
) -> dict[str, Any]:
    """LLM-free fit of the bridge's :class:`~edtformer.bridge.facts.FactWriter` on the RDKit facts
    of train ``molecules``: their encoder features are read once, then ``steps`` batches of
    :data:`FACT_FIT_BATCH` train the small heads, so that the fact tokens the LLM reads from its
    first step are mostly right. Returns the loss every 100 steps and the writer's exact
    accuracy per fact on ``valid`` molecules."""
    writer = model.connector.facts
    if writer.group_names != GROUP_NAMES:
        raise EdtError("the fact writer's groups differ from the training targets' groups")
    t0 = time.time()
    x_train, a_train = writer_inputs(model, molecules)
    x_valid, a_valid = writer_inputs(model, valid)
    groups, counts = fact_labels(molecules)
    stereo = atom_labels(molecules) if writer.atom_level else None
    logger.info("fact writer: read %d molecules in %.0f s", len(molecules), time.time() - t0)
    params = [p for p in writer.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=FACT_FIT_LR, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: max(0.05, 1 - i / max(steps, 1)))
    gen = torch.Generator().manual_seed(seed)
    writer.train()
    losses, window = [], []
    for step in range(steps):
        idx = torch.randint(0, len(molecules), (FACT_FIT_BATCH,), generator=gen)
        logits = FactLogits(*writer.readout(x_train[idx]))
        targets = None
        if stereo is not None:
            rows, _ = _atom_batch([a_train[i] for i in idx.tolist()])
            logits = writer.with_atoms(logits, rows)
            targets = stereo[idx][:, : rows.shape[1]]
        loss = writer_loss(logits, groups[idx], counts[idx], targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        window.append(float(loss.detach()))
        if len(window) == 100 or step == steps - 1:
            losses.append(round(sum(window) / len(window), 4))
            window = []
    logger.info("fact writer fit: %d steps, loss %s", steps, losses[-1] if losses else None)
    with torch.no_grad():
        logits = FactLogits(*writer.readout(x_valid))
        if writer.atom_level:
            rows, mask = _atom_batch(a_valid)
            logits = writer.with_atoms(logits, rows, mask)
        valid_acc = writer_accuracy(
            logits, *fact_labels(valid), atom_labels(valid) if writer.atom_level else None
        )
    return {"steps": steps, "loss_every_100": losses, "valid": valid_acc}


#: Inverse L2 strengths tried for the blood-brain-barrier read-out (chosen on the valid split).
BBB_C_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


@torch.no_grad()
def bbb_inputs(model: Any, smiles: Sequence[str], batch_size: int = 64) -> Tensor:
    """Mean + max pooled frozen encoder streams of ``smiles``: ``[M, 2 sum D_s]``."""
    owner = getattr(model, "readout", None) or model.connector.facts
    pool = owner.pool_mean_max
    return torch.cat(
        [pool(feats, mask) for feats, mask in _encoder_batches(model, smiles, batch_size)]
    )


def readout_yes_prob(model: Any, records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """SMILES -> P(BBB+) of the fact writer's (frozen) blood-brain-barrier read-out, for the
    BBBP molecules among ``records``: the soft answers of ``recipe.bbbp_targets=soft``."""
    writer = getattr(model, "readout", None) or model.connector.facts
    if writer is None or writer.bbb is None:
        raise EdtError("recipe.bbbp_targets=soft needs a blood-brain-barrier read-out")
    smiles = sorted({r["smiles"][0] for r in records if r.get("task") == "bbbp"})
    if not smiles:
        return {}
    with torch.no_grad():
        p = torch.sigmoid(writer.bbb_readout(bbb_inputs(model, smiles)).float())
    logger.info(
        "BBBP answers from the read-out: %d molecules, mean P(yes) %.3f", len(smiles), p.mean()
    )
    return dict(zip(smiles, p.tolist(), strict=True))


def fit_bbb_head(model: Any, data_dir: str | Path, seed: int) -> dict[str, Any]:
    """Fit the fact writer's blood-brain-barrier read-out LLM-free: logistic regression on the
    standardised mean + max pooled streams of the BBBP *train* molecules, its L2 strength chosen
    by valid ROC-AUC (as ``experiments/diagnostics/bbbp_specialist.py`` does), copied into
    ``FactWriter.bbb`` and frozen (the LLM stage does not move it). Returns the valid ROC-AUC per
    ``C`` and the chosen ``C``."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from edtformer.data import load_task

    writer = getattr(model, "readout", None) or model.connector.facts
    if writer is None or writer.bbb is None:
        raise EdtError("this model has no blood-brain-barrier read-out")
    splits = {k: load_task(data_dir, "bbbp", k) for k in ("train", "valid")}
    x = {k: bbb_inputs(model, [r["smiles"][0] for r in v]) for k, v in splits.items()}
    y = {k: np.array([r["answer"] == "yes" for r in v], dtype=int) for k, v in splits.items()}
    if len(y["train"]) == 0:
        raise EdtError(f"fact_bbb needs BBBP train records; {data_dir} has none")
    mean, std = x["train"].mean(0), x["train"].std(0).clamp_min(1e-6)
    z = {k: ((v - mean) / std).double().numpy() for k, v in x.items()}
    n = {k: len(v) for k, v in splits.items()}
    report: dict[str, Any] = {
        "model": "logistic regression on the standardised mean + max pooled encoder streams",
        "n": n,
    }
    weight, bias = torch.zeros_like(writer.bbb.weight), torch.zeros_like(writer.bbb.bias)
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
        writer.bbb_mean.copy_(mean)
        writer.bbb_std.copy_(std)
        writer.bbb.weight.copy_(weight)
        writer.bbb.bias.copy_(bias)
    writer.bbb.requires_grad_(False)
    return report


def writer_accuracy(
    logits: FactLogits, groups: Tensor, counts: Tensor, atoms: Tensor | None = None
) -> dict[str, float]:
    """Exact accuracy of fact-writer ``logits`` against :func:`fact_labels` targets: the whole
    group set, each group (mean over groups), each written count, and with ``atoms``
    (:func:`atom_labels`) the R/S label per specified centre and E/Z per stereo bond."""
    pred = (logits.groups > 0).float()
    out = {
        "group_set": float((pred == groups).all(1).float().mean()),
        "group_each": float((pred == groups).float().mean()),
    }
    for name, c, lg in zip(WRITTEN_COUNTS, WRITTEN_COLUMNS, logits.counts, strict=True):
        out[name] = float((lg.argmax(-1) == counts[:, c]).float().mean())
    if logits.atoms is not None and atoms is not None:
        n = min(logits.atoms.shape[1], atoms.shape[1])
        lg, tg = logits.atoms[:, :n], atoms[:, :n]
        k = len(CIP_CLASSES)
        for name, part, col in (
            ("rs_per_centre", lg[..., :k], 0),
            ("ez_per_bond_end", lg[..., k:], 1),
        ):
            real = tg[..., col] > 0  # per centre / per bond end
            hits = part.argmax(-1)[real] == tg[..., col][real]
            out[name] = float(hits.float().mean()) if bool(real.any()) else float("nan")
    if logits.elements is not None and atoms is not None:
        n = min(logits.elements.shape[1], atoms.shape[1])
        tg = atoms[:, :n]
        mask = tg[..., 2] >= 0  # [M, N]
        got = FactWriter.element_counts(logits.elements[:, :n], mask)
        want = FactWriter.element_counts(
            torch.cat(
                [
                    F.one_hot(tg[..., 2].clamp_min(0), len(ELEMENT_CLASSES)),
                    F.one_hot(tg[..., 3].clamp_min(0), H_CLASSES),
                ],
                dim=-1,
            ).float(),
            mask,
        )
        out["formula"] = float((got == want).all(1).float().mean())
    return {k: round(v, 4) for k, v in out.items()}


#: Curve question kind -> its built task (``*``: every record of the task).
CURVE_KIND_TASK: dict[str, str] = {
    **{k: "struct_text" for k in CURVE_TASKS["struct_text"]},
    **{k: "stereo" for k in CURVE_TASKS["stereo"]},
    "struct_mc": "struct_mc",
    "bbbp": "bbbp",
    "solubility": "solubility",
}

#: The count kinds pooled for the zero-token comparison (exact-match answers, no wording left
#: to guess from: the answer is a small integer the molecule alone decides).
COUNT_KINDS: tuple[str, ...] = ("n_rings", "n_aromatic_rings", "hbd", "hba", "n_stereocentres")


def curve_tasks(kinds: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
    """Task -> scored kinds of the curve: :data:`CURVE_TASKS`, or only ``kinds`` (names of
    :data:`CURVE_KIND_TASK`; whole-task kinds become ``*``)."""
    if not kinds:
        return dict(CURVE_TASKS)
    unknown = sorted(set(kinds) - set(CURVE_KIND_TASK))
    if unknown:
        raise EdtError(
            f"recipe.curve_kinds: unknown kind(s) {unknown}; known: {list(CURVE_KIND_TASK)}"
        )
    out: dict[str, tuple[str, ...]] = {}
    for kind in kinds:
        task = CURVE_KIND_TASK[kind]
        out[task] = (*out.get(task, ()), "*" if kind == task else kind)
    return out


def curve_records(
    data_dir: str,
    per_kind: int,
    seed: int = 0,
    kinds: Sequence[str] = (),
    split: str = "valid",
) -> dict[str, list[dict[str, Any]]]:
    """A fixed, seeded sample of the *valid* split (the bench's test scoring: ``split="test"``):
    ``per_kind`` questions per scored kind (``kinds``: see :func:`curve_tasks`; whole tasks get
    twice as many)."""
    import random

    from edtformer.data import load_task

    out: dict[str, list[dict[str, Any]]] = {}
    for task, task_kinds in curve_tasks(kinds).items():
        recs: list[dict[str, Any]] = [dict(r) for r in load_task(Path(data_dir), task, split)]
        picked: list[dict[str, Any]] = []
        for kind in task_kinds:
            pool = [r for r in recs if kind == "*" or (r["meta"] or {}).get("kind") == kind]
            random.Random(f"{seed}:{task}:{kind}").shuffle(pool)
            picked += pool[: per_kind * (2 if kind == "*" else 1)]
        out[task] = picked
    return out


def _find(metrics: dict[str, float], suffix: str) -> float | None:
    """The first metric whose key is ``suffix`` or ends with ``/suffix`` (a task's one group)."""
    for key, value in metrics.items():
        if key == suffix or key.endswith("/" + suffix):
            return value
    return None


def headline(metrics_by_task: dict[str, dict[str, float]]) -> dict[str, float]:
    """The curve's columns: one score per question kind (higher is better, except MAE)."""
    st = metrics_by_task.get("struct_text", {})
    so = metrics_by_task.get("stereo", {})
    mc = metrics_by_task.get("struct_mc", {})
    bb = metrics_by_task.get("bbbp", {})
    sol = metrics_by_task.get("solubility", {})
    cols = {
        "has_group_bal_acc": st.get("has_group/balanced_accuracy"),
        "has_group_auc": st.get("has_group/roc_auc"),
        "n_rings_exact": st.get("n_rings/exact_accuracy"),
        "n_aromatic_rings_exact": st.get("n_aromatic_rings/exact_accuracy"),
        "hbd_exact": st.get("hbd/exact_accuracy"),
        "hba_exact": st.get("hba/exact_accuracy"),
        "heavy_atoms_mae": st.get("heavy_atoms/mae"),
        "groups_exact": st.get("groups/exact_match"),
        "formula_exact": st.get("formula/exact_match"),
        "n_stereocentres_exact": so.get("n_stereocentres/exact_accuracy"),
        "same_stereoisomer_acc": so.get("same_stereoisomer/accuracy"),
        "rs_exact": so.get("rs/exact_match"),
        "rs_per_centre": so.get("rs/per_label_accuracy"),
        "ez_exact": so.get("ez/exact_match"),
        "struct_mc_acc": mc.get("accuracy"),
        "bbbp_auc": bb.get("roc_auc"),
        "solubility_mae": _find(sol, "mae"),
        "solubility_spearman": _find(sol, "spearman"),
    }
    return {k: float(v) for k, v in cols.items() if v is not None and not math.isnan(v)}


def paired_gap(
    items: Sequence[Any], control: Sequence[Any], groups: Sequence[str] = COUNT_KINDS
) -> dict[str, float]:
    """Accuracy of ``items`` minus that of ``control`` (the same questions, scored twice) over the
    items of ``groups``, with the standard error of the paired difference.

    Returns ``{"n", "acc", "acc_control", "gap", "gap_se", "gap_in_se"}`` (empty if no item).
    """
    ctrl = {(c.id, c.group): c.correct for c in control}
    pairs = [
        (bool(i.correct), bool(ctrl[(i.id, i.group)]))
        for i in items
        if i.group in groups and i.correct is not None and (i.id, i.group) in ctrl
    ]
    n = len(pairs)
    if n == 0:
        return {}
    diffs = [float(a) - float(b) for a, b in pairs]
    gap = sum(diffs) / n
    var = sum((d - gap) ** 2 for d in diffs) / (n - 1) if n > 1 else 0.0
    se = math.sqrt(var / n)
    return {
        "n": float(n),
        "acc": sum(a for a, _ in pairs) / n,
        "acc_control": sum(b for _, b in pairs) / n,
        "gap": gap,
        "gap_se": se,
        "gap_in_se": gap / se if se > 0 else (math.inf if gap > 0 else 0.0),
    }


class ValidCurve:
    """Scores the model on a fixed valid sample every ``every`` steps and at ``last_step``;
    appends to ``curve.jsonl``. With ``zero_tokens`` each point is also scored with the molecule
    tokens replaced by zeros before the LLM (``EDTFormer.zero_molecule_tokens``: prompt and any
    written facts untouched), as columns ``zero/<column>``, and the count kinds' paired gap
    (:func:`paired_gap`) as ``count_gap`` / ``count_gap_se``."""

    def __init__(
        self,
        model: Any,
        records: dict[str, list[dict[str, Any]]],
        every: int,
        path: Path,
        last_step: int = 0,
        zero_tokens: bool = False,
    ) -> None:
        self.model = model
        self.records = records
        self.every = every
        self.path = path
        self.last_step = last_step
        self.zero_tokens = zero_tokens

    def score(self) -> dict[str, dict[str, float]]:
        """Metrics of every curve task on the valid sample."""
        return self.score_items()[0]

    def score_items(self) -> tuple[dict[str, dict[str, float]], list[Any]]:
        """Metrics of every curve task on the valid sample, and every scored item."""
        from edtformer.evaluation.evaluator import evaluate_records

        out = {}
        items: list[Any] = []
        for task, recs in self.records.items():
            if recs:
                batch: Any = recs  # builder records (the Record TypedDict)
                res = evaluate_records(
                    self.model, batch, task, split="valid", batch_size=16, allow_leak=True
                )
                out[task] = res.report.metrics
                items += res.items
        return out, items

    def __call__(self, step: int, samples: int, module: nn.Module) -> None:
        if self.every <= 0 or (step % self.every and step != self.last_step):
            return
        start = time.perf_counter()
        metrics, items = self.score_items()
        row: dict[str, Any] = {"step": step, "samples": samples, **headline(metrics)}
        record: dict[str, Any] = {"metrics": metrics}
        if self.zero_tokens and not getattr(self.model, "text_only", False):
            before = self.model.zero_molecule_tokens
            self.model.zero_molecule_tokens = True
            try:
                zero, zero_items = self.score_items()
            finally:
                self.model.zero_molecule_tokens = before
            row.update({f"zero/{k}": v for k, v in headline(zero).items()})
            gap = paired_gap(items, zero_items)
            row.update({f"count_{k}": v for k, v in gap.items()})
            record["zero_metrics"] = zero
        row["eval_seconds"] = round(time.perf_counter() - start, 1)
        logger.info("valid curve: %s", json.dumps(row))
        with self.path.open("a") as fh:
            fh.write(json.dumps({**row, **record}) + "\n")


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
    overrides = {
        "instruction_aware": cfg.recipe.instruction_aware,
        "token_norm": norm,
        "fact_tokens": cfg.recipe.fact_tokens,
        "fact_stereo": cfg.recipe.fact_tokens and cfg.recipe.fact_stereo,
        "fact_group_tokens": cfg.recipe.fact_group_tokens if cfg.recipe.fact_tokens else 0,
        "fact_bbb": cfg.recipe.fact_tokens and cfg.recipe.fact_bbb,
        "fact_formula": cfg.recipe.fact_tokens and cfg.recipe.fact_formula,
        "fact_pair": cfg.recipe.fact_tokens and cfg.recipe.fact_stereo and cfg.recipe.fact_pair,
        "fact_ez_slots": cfg.recipe.fact_ez_slots,
    }
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
    stream = sheet_stream(cfg) if rc.fact_sheet else recipe_stream(cfg)
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
    module = RecipeModule(
        model, rc.aux_weight, rc.slot_weight, rc.fact_group_weight, rc.answer_loss == "answer"
    )
    if fabric.is_global_zero:
        logger.info(
            "recipe: %d molecules, %d stream items; %s", len(stream.molecules), len(stream),
            model.parameter_counts().summary(),
        )  # fmt: skip
    if rc.fact_tokens and not resume and rc.fact_fit_steps > 0:
        t0 = time.time()
        valid = sorted({s for recs in curve.values() for r in recs for s in r["smiles"]})
        report = fit_fact_writer(model, stream.molecules, valid, rc.fact_fit_steps, cfg.run.seed)
        report["seconds"] = round(time.time() - t0, 1)
        logger.info("fact writer on %d valid molecules: %s", len(valid), report["valid"])
        atomic_write_json(out_dir / "fact_writer.json", report)
    if model.config.bridge.fact_bbb or getattr(model, "readout", None) is not None:
        # deterministic: refitted on resume too (it is frozen)
        t0 = time.time()
        report = fit_bbb_head(model, cfg.data.dir, cfg.run.seed)
        report["seconds"] = round(time.time() - t0, 1)
        atomic_write_json(out_dir / "bbb_head.json", report)
        if rc.bbbp_targets == "soft":
            prob = readout_yes_prob(model, stream.records)
            if rc.fact_sheet:
                stream.set_yes_prob("bbbp", prob)
            else:
                stream.set_yes_prob("bbbp", prob, soft=True)
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
        "norm matched to the LLM, fact heads; one stage, frozen encoders"
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
    "COUNT_FACTS",
    "CURVE_TASKS",
    "GROUP_NAMES",
    "RECIPE_DEFAULTS",
    "FactHeads",
    "RecipeCollator",
    "RecipeModule",
    "ValidCurve",
    "add_history",
    "answer_slot_loss",
    "atom_labels",
    "build_recipe_model",
    "curve_records",
    "fact_labels",
    "fact_loss",
    "first_molecules",
    "fit_fact_writer",
    "headline",
    "recipe_stream",
    "run_recipe",
    "writer_accuracy",
    "writer_inputs",
    "writer_loss",
]

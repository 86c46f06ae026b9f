"""The fact-sheet recipe's question stream: any phrasing of any sheet fact, plus the dataset's questions.

Every prompt carries the molecule's exact RDKit fact sheet (``EDTFormerConfig.fact_sheet``), so
what the LLM learns here is to find the asked-for fact on the sheet whatever the wording, to
write it in the asked format (a bare value, yes / no, JSON with a given key, a letter), and to
decline what no structure answers. Questions come from
:func:`edtformer.facts.questions.generate` with the **train** templates only (the held-out
templates are for evaluation), on train-split molecules only.

Kinds and what they draw:

- ``sheet``: a fact kind uniformly, then a molecule. Yes/no facts are balanced per fact: the
  wanted answer is drawn first (50 / 50), then a molecule that has it (``has_group``: the group
  first, uniformly over the vocabulary seen in train, then yes / no), so no answer can be read
  from the question's words alone;
- ``group_choice``: four groups as lettered options, one present (or one absent) — how
  benchmarks ask about groups; like every lettered sheet question it is trained as inference
  answers it, the right option's text as the answer to the bare stem
  (:func:`~edtformer.training.stage2.as_scored`);
- ``off_sheet``: a question no structure answers (the answer declines);
- dataset kinds (``struct_text``, ``struct_mc``, ``n_stereocentres``, ``rs``, ``ez``,
  ``same_stereoisomer``, ``bbbp``): a train record of ``edt data build`` with its own question
  and answer (BBBP answers soft, from the blood-brain-barrier read-out, when set).
"""

from __future__ import annotations

import bisect
import itertools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edtformer.data.schema import render_question
from edtformer.errors import DataError
from edtformer.facts.questions import fact_kinds, generate
from edtformer.facts.sheet import sheet_of
from edtformer.llm.tokens import MOL_TOKEN
from edtformer.training.questions import Sample, SoftAnswer

logger = logging.getLogger(__name__)

#: Default share of each kind in the stream.
SHEET_KIND_WEIGHTS: dict[str, float] = {
    "sheet": 0.46,
    "group_choice": 0.04,
    "off_sheet": 0.14,
    "struct_text": 0.06,
    "struct_mc": 0.02,
    "n_stereocentres": 0.03,
    "rs": 0.05,
    "ez": 0.04,
    "same_stereoisomer": 0.04,
    "bbbp": 0.12,
}

#: Dataset kinds: stream kind -> (task, ``meta.kind`` or None for any).
DATASET_KINDS: dict[str, tuple[str, str | None]] = {
    "struct_text": ("struct_text", None),
    "struct_mc": ("struct_mc", None),
    "n_stereocentres": ("stereo", "n_stereocentres"),
    "rs": ("stereo", "rs"),
    "ez": ("stereo", "ez"),
    "same_stereoisomer": ("stereo", "same_stereoisomer"),
    "bbbp": ("bbbp", None),
}

#: Yes/no sheet facts drawn balanced (the wanted answer first).
BOOL_KINDS = ("macrocycle", "chiral", "lipinski", "veber")

#: A group is asked about only when at least this many train molecules have it.
MIN_GROUP_MOLECULES = 5


@dataclass
class SheetStream(Sequence[Sample]):
    """``length`` training samples ``(smiles list, question with <mol>, answer)``, item ``i``
    drawn from its own seeded generator (so any item can be recomputed: resumable, order-free).

    Attributes:
        molecules: train-split molecules the sheet questions are asked about.
        records: train records of the dataset kinds (:data:`DATASET_KINDS`).
        length: items in the stream.
        seed: base seed.
        weights: share of each kind (:data:`SHEET_KIND_WEIGHTS` keys).
        yes_prob: soft answers per dataset kind (:meth:`set_yes_prob`).
        order: ``(seed, batch size, world size)`` of the engine's batch order
            (:class:`~edtformer.training.sampler.ResumableBatchOrder`). With it, off-sheet
            questions come only in ``off_sheet_batches`` of the batches (their share of those
            batches set so that the kind keeps its weight): a question that names no sheet line
            gets the whole sheet, and in training its whole batch does, so spreading them over
            every batch would make most batches whole-sheet long.
        off_sheet_batches: share of batches that carry the off-sheet questions (with ``order``).
    """

    molecules: list[str]
    records: list[dict[str, Any]]
    length: int
    seed: int = 0
    weights: dict[str, float] = field(default_factory=lambda: dict(SHEET_KIND_WEIGHTS))
    yes_prob: dict[str, dict[str, float]] = field(default_factory=dict)
    order: tuple[int, int, int] | None = None
    off_sheet_batches: float = 0.2

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(SHEET_KIND_WEIGHTS))
        if unknown:
            raise DataError(
                f"unknown sheet-stream kinds {unknown}; known: {list(SHEET_KIND_WEIGHTS)}"
            )
        if not self.molecules:
            raise DataError("the sheet stream needs train molecules")
        self._by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in DATASET_KINDS}
        for r in self.records:
            for kind, (task, sub) in DATASET_KINDS.items():
                if r.get("task") == task and (sub is None or r.get("meta", {}).get("kind") == sub):
                    self._by_kind[kind].append(r)
        kinds = [k for k, w in self.weights.items() if w > 0]
        kinds = [k for k in kinds if k not in DATASET_KINDS or self._by_kind[k]]
        if not kinds:
            raise DataError("no question kind of the sheet stream has data")
        self._kinds = kinds
        self._cum = list(itertools.accumulate(self.weights[k] for k in kinds))
        self._on = [k for k in kinds if k != "off_sheet"]
        self._on_cum = list(itertools.accumulate(self.weights[k] for k in self._on))
        total = sum(self.weights[k] for k in kinds)
        self._off_in_batch = 0.0
        self._place: list[int] | None = None
        if self.order is not None and "off_sheet" in kinds and self.off_sheet_batches > 0:
            share = self.weights["off_sheet"] / total
            self._off_in_batch = min(1.0, share / self.off_sheet_batches)
            perm = np.random.default_rng(self.order[0]).permutation(self.length)
            place = np.empty(self.length, dtype=np.int64)
            place[perm] = np.arange(self.length)
            self._place = place.tolist()
        self._facts = fact_kinds()
        self._sheets: dict[str, dict[str, Any]] = {}
        self._index_molecules()

    def _index_molecules(self) -> None:
        """Molecules by yes/no fact value and by group (computes every train molecule's sheet)."""
        self._bool: dict[tuple[str, bool], list[str]] = {}
        groups: dict[str, list[str]] = {}
        for smi in self.molecules:
            v = sheet_of(smi, self._sheets)
            for kind in BOOL_KINDS:
                self._bool.setdefault((kind, bool(v[kind])), []).append(smi)
            for g in v.get("groups", []):
                groups.setdefault(g, []).append(smi)
        self._salts = [s for s in self.molecules if self._sheets[s]["fragments"] > 1]
        self._grouped = [s for s in self.molecules if self._sheets[s].get("groups")]
        self._with_group = {g: m for g, m in groups.items() if len(m) >= MIN_GROUP_MOLECULES}
        self._groups = sorted(self._with_group)
        logger.info(
            "sheet stream: %d molecules, %d groups asked about, %d salts / mixtures",
            len(self.molecules), len(self._groups), len(self._salts),
        )  # fmt: skip

    def __len__(self) -> int:
        return self.length

    def set_yes_prob(self, kind: str, prob: dict[str, float]) -> None:
        """Soft answers for ``kind`` (``bbbp``): each record's answer is drawn yes with the
        read-out's P(BBB+) of its molecule and carries it (:class:`SoftAnswer`)."""
        missing = [
            r["smiles"][0] for r in self._by_kind.get(kind, []) if r["smiles"][0] not in prob
        ]
        if missing:
            raise DataError(f"no P(yes) for {len(missing)} {kind} molecules, e.g. {missing[:2]}")
        self.yes_prob[kind] = dict(prob)

    def __getitem__(self, i: int) -> Sample:  # type: ignore[override]
        if not 0 <= i < self.length:
            raise IndexError(i)
        rng = random.Random(self.seed * 1_000_003 + i)
        kind = self._kind(i, rng)
        if kind in DATASET_KINDS:
            rec = rng.choice(self._by_kind[kind])
            answer: str = str(rec["answer"])
            question = render_question(rec)  # type: ignore[arg-type]
            soft = self.yes_prob.get(kind)
            if soft is not None:
                p = soft[rec["smiles"][0]]
                answer = SoftAnswer("yes" if rng.random() < p else "no", p)
            return list(rec["smiles"]), question, answer
        return self._sheet_item(kind, rng)

    def _kind(self, i: int, rng: random.Random) -> str:
        """Item ``i``'s kind: drawn by weight, or (with ``order``) off-sheet only in the batches
        chosen to carry off-sheet questions."""
        u = rng.random()
        if self._place is None or self.order is None:
            return self._kinds[bisect.bisect_right(self._cum, u * self._cum[-1])]
        _, batch_size, world = self.order
        place = self._place[i]
        block = (place % world, place // world // batch_size)  # (rank, its batch)
        carries = random.Random(f"{self.seed}:off-sheet:{block}").random() < self.off_sheet_batches
        if carries and rng.random() < self._off_in_batch:
            return "off_sheet"
        return self._on[bisect.bisect_right(self._on_cum, u * self._on_cum[-1])]

    def _sheet_item(self, kind: str, rng: random.Random) -> Sample:
        subject = None
        if kind == "off_sheet":
            smi = rng.choice(self.molecules)
            fact: str | None = "off_sheet"
        elif kind == "group_choice":
            smi = rng.choice(self._grouped or self.molecules)
            values = sheet_of(smi, self._sheets)
            item = generate(values, smi, rng, "train", kind="has_group", form="mc")
            return [smi], f"{MOL_TOKEN}\n{item.question}", _scored_answer(item)
        else:
            fact = rng.choice(self._facts)
            if fact in BOOL_KINDS:
                pool = self._bool.get((fact, rng.random() < 0.5)) or self.molecules
                smi = rng.choice(pool)
            elif fact == "has_group" and self._groups:
                subject = rng.choice(self._groups)
                if rng.random() < 0.5:
                    smi = rng.choice(self._with_group[subject])
                else:
                    smi = self._without(subject, rng)
            elif fact == "largest_fragment" and self._salts:
                smi = rng.choice(self._salts)  # the sheet writes it for salts / mixtures only
            elif fact == "fragments" and self._salts and rng.random() < 0.5:
                smi = rng.choice(self._salts)
            else:
                smi = rng.choice(self.molecules)
        values = sheet_of(smi, self._sheets)
        item = generate(values, smi, rng, "train", kind=fact, subject=subject)
        return [smi], f"{MOL_TOKEN}\n{item.question}", _scored_answer(item)

    def _without(self, group: str, rng: random.Random) -> str:
        for _ in range(100):
            smi = rng.choice(self.molecules)
            if group not in self._sheets[smi].get("groups", []):
                return smi
        return rng.choice(self.molecules)


def _scored_answer(item: Any) -> str:
    """The trained answer of a generated question: for lettered options the right option's
    text (trained on the bare stem, as inference scores it), else the answer as generated."""
    if item.answer_type == "letter":
        return str(item.meta["options"][item.meta["correct"]])
    return str(item.answer)

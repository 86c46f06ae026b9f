"""Fresh, balanced training questions drawn on the fly from the train split's molecules.

The dataset builder writes a fixed handful of questions per molecule, and some of them can be
answered from the question alone: "Does this molecule contain a benzene ring group?" is "yes"
94 % of the time in the small build's train split, "... an aldehyde group?" never. A model lowers
its loss by learning those priors and ignoring the molecule. :class:`QuestionStream` removes the
shortcut and the fixed-count limit:

- every question kind is drawn at a set rate (:data:`KIND_WEIGHTS`), not at the rate the
  builder happened to write it;
- ``has_group`` picks the group uniformly, then the answer (yes/no) with probability 1/2, then a
  train molecule that has / lacks the group, so ``P(yes | group) = 1/2`` for every group;
- structure questions are re-drawn from RDKit facts, in the builder's own wording
  (:mod:`edtformer.data.questions`) most of the time and in other wordings
  (:data:`PARAPHRASES`) the rest, so that the model keys on what is asked, not on one
  sentence; multiple-choice letters are uniform;
- stereo and BBBP questions come from the builder's *train* records (the second molecule of a
  same-stereoisomer pair is a rewritten isomer that only the builder made).

Item ``i`` is a pure function of ``(seed, i)``: the stream is indexable, so the training engine's
resumable batch order works on it unchanged. Only train-split molecules are ever used.
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from edtformer.chem import rdkit_mol
from edtformer.data.questions import COUNT_QUESTIONS, structure_mc_drafts
from edtformer.data.schema import LETTERS, MOL_TOKEN, render_question
from edtformer.errors import DataError
from edtformer.facts.dataset import FUNCTIONAL_GROUPS, describe, molecule_facts

logger = logging.getLogger(__name__)

#: How often each question kind is drawn (renormalised over the kinds the data has).
KIND_WEIGHTS: dict[str, float] = {
    "has_group": 0.16,
    "n_rings": 0.06,
    "n_aromatic_rings": 0.06,
    "n_aliphatic_rings": 0.02,
    "hbd": 0.06,
    "hba": 0.06,
    "heavy_atoms": 0.05,
    "groups": 0.05,
    "formula": 0.02,
    "weight": 0.0,
    "struct_mc": 0.12,
    "description": 0.03,
    "n_stereocentres": 0.06,
    "rs": 0.06,
    "ez": 0.03,
    "same_stereoisomer": 0.07,
    "bbbp": 0.09,
    "solubility": 0.0,
}

#: Other wordings of each question (the builder's wording is used the rest of the time), so that
#: instruction-aware queries key on what is asked, not on one sentence. ``{g}``: the group.
PARAPHRASES: dict[str, tuple[str, ...]] = {
    "has_group": (
        "Is there a {g} group in this molecule?",
        "Does this molecule have a {g}?",
        "Is a {g} present in this molecule? Answer yes or no.",
        "Does the structure include a {g} group?",
    ),
    "n_rings": (
        "How many rings are in this molecule?",
        "What is the number of rings in this molecule?",
        "Count the rings in this molecule.",
    ),
    "n_aromatic_rings": (
        "How many aromatic rings are in this molecule?",
        "What is the number of aromatic rings in this molecule?",
        "Count the aromatic rings in this molecule.",
    ),
    "n_aliphatic_rings": (
        "How many non-aromatic rings does this molecule have?",
        "What is the number of aliphatic rings in this molecule?",
    ),
    "hbd": (
        "How many H-bond donors does this molecule have?",
        "What is the number of hydrogen bond donors in this molecule?",
        "Count the hydrogen-bond donors of this molecule.",
    ),
    "hba": (
        "How many H-bond acceptors does this molecule have?",
        "What is the number of hydrogen bond acceptors in this molecule?",
        "Count the hydrogen-bond acceptors of this molecule.",
    ),
    "heavy_atoms": (
        "How many non-hydrogen atoms does this molecule have?",
        "What is the number of heavy atoms in this molecule?",
        "Count the heavy atoms of this molecule.",
    ),
    "groups": (
        "List the functional groups of this molecule.",
        "What functional groups are present in this molecule?",
    ),
    "n_stereocentres": (
        "How many specified stereocentres does this molecule have?",
        "How many defined chiral centres does this molecule have?",
        "What is the number of defined stereocentres in this molecule?",
    ),
}

#: Share of questions asked in one of :data:`PARAPHRASES` instead of the builder's wording.
PARAPHRASE_RATE = 0.35

#: Kinds taken from the builder's train records (task, ``meta.kind`` or None for any).
RECORD_KINDS: dict[str, tuple[str, str | None]] = {
    "n_stereocentres": ("stereo", "n_stereocentres"),
    "rs": ("stereo", "rs"),
    "ez": ("stereo", "ez"),
    "same_stereoisomer": ("stereo", "same_stereoisomer"),
    "bbbp": ("bbbp", None),
    "solubility": ("solubility", None),
}

Sample = tuple[list[str], str, str]
"""``(smiles list, question with <mol> markers, answer)``: what the stage-2 collator takes."""


class SoftAnswer(str):
    """A drawn one-word answer (one of ``pair``, by default "yes" / "no") that also carries the
    probability ``p_yes`` of the pair's first word it was drawn with. It is the answer text
    wherever a string is expected (prompt building, logs); the recipe's collator turns it into
    a soft target for the answer's first token."""

    p_yes: float
    pair: tuple[str, str]

    def __new__(cls, text: str, p_yes: float, pair: tuple[str, str] = ("yes", "no")) -> SoftAnswer:
        if not 0.0 <= p_yes <= 1.0:
            raise DataError(f"P(yes) must lie in [0, 1], got {p_yes}")
        if text not in pair:
            raise DataError(f"a soft answer is one of {pair}, got {text!r}")
        out = super().__new__(cls, text)
        out.p_yes = float(p_yes)
        out.pair = (str(pair[0]), str(pair[1]))
        return out

    def __reduce__(self) -> tuple[Any, tuple[str, float, tuple[str, str]]]:
        return SoftAnswer, (str(self), self.p_yes, self.pair)  # keeps p_yes through pickling


@lru_cache(maxsize=200_000)
def facts_of(smiles: str) -> dict[str, Any]:
    """RDKit facts of one SMILES (memoised: every molecule is asked about many times)."""
    mol = rdkit_mol(smiles)
    if mol is None:
        raise DataError(f"invalid SMILES in the training data: {smiles[:80]!r}")
    return molecule_facts(mol)


@dataclass
class QuestionStream(Sequence[Sample]):
    """An indexable stream of ``length`` training questions (item ``i`` depends on seed and i only).

    Args:
        molecules: train-split SMILES the structure questions are drawn from.
        records: train-split builder records (``stereo``, ``bbbp``) for :data:`RECORD_KINDS`.
        length: how many items the stream has (the engine's epoch).
        seed: the stream's seed.
        weights: kind -> rate (default :data:`KIND_WEIGHTS`).
        balanced: yes/no record kinds (e.g. ``("bbbp",)``) drawn with ``P(yes) = 1/2``: the answer
            first, then a train record with that answer (BBBP's train labels are about 3:1 yes).
    """

    molecules: list[str]
    records: list[dict[str, Any]]
    length: int
    seed: int = 0
    weights: dict[str, float] | None = None
    balanced: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.molecules:
            raise DataError("no training molecules to draw questions from")
        self.molecules = sorted(set(self.molecules))
        by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rec in self.records:
            for kind, (task, meta_kind) in RECORD_KINDS.items():
                if rec.get("task") == task and (
                    meta_kind is None or (rec.get("meta") or {}).get("kind") == meta_kind
                ):
                    by_kind[kind].append(rec)
        self._records = dict(by_kind)
        unknown_balanced = sorted(set(self.balanced) - set(RECORD_KINDS))
        if unknown_balanced:
            raise DataError(
                f"balanced kinds {unknown_balanced} are not record kinds {sorted(RECORD_KINDS)}"
            )
        #: kind -> answer -> records, for the balanced kinds that have both answers.
        self._by_answer: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for kind in self.balanced:
            split: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for rec in self._records.get(kind, []):
                split[str(rec["answer"]).strip().lower()].append(rec)
            if len(split) >= 2:
                self._by_answer[kind] = dict(sorted(split.items()))
        self._with_group: dict[str, list[str]] = {g: [] for g in FUNCTIONAL_GROUPS}
        self._without_group: dict[str, list[str]] = {g: [] for g in FUNCTIONAL_GROUPS}
        for smi in self.molecules:
            present = facts_of(smi)["functional_groups"]
            for g in FUNCTIONAL_GROUPS:
                (self._with_group if g in present else self._without_group)[g].append(smi)
        self._groups = [g for g in FUNCTIONAL_GROUPS if self._with_group[g]]
        weights = dict(self.weights or KIND_WEIGHTS)
        unknown = sorted(set(weights) - set(KIND_WEIGHTS))
        if unknown:
            raise DataError(f"unknown question kinds {unknown}; known: {sorted(KIND_WEIGHTS)}")
        usable = {
            k: w
            for k, w in weights.items()
            if w > 0 and (k not in RECORD_KINDS or self._records.get(k))
        }
        if not usable:
            raise DataError("no question kind has data (check the weights and the records)")
        self._kinds = list(usable)
        self._cum: list[float] = []
        total = 0.0
        for k in self._kinds:
            total += usable[k]
            self._cum.append(total)
        self._total = total
        logger.info(
            "question stream: %d molecules, %d groups with positives, kinds %s",
            len(self.molecules),
            len(self._groups),
            {k: round(usable[k] / total, 3) for k in self._kinds},
        )

    def __len__(self) -> int:
        return self.length

    def kind_of(self, rng: random.Random) -> str:
        """Draw a question kind by the weights."""
        x = rng.random() * self._cum[-1]
        for kind, c in zip(self._kinds, self._cum, strict=True):
            if x < c:
                return kind
        return self._kinds[-1]

    def __getitem__(self, i: int) -> Sample:  # type: ignore[override]
        if not 0 <= i < self.length:
            raise IndexError(i)
        rng = random.Random(self.seed * 1_000_003 + i)
        kind = self.kind_of(rng)
        if kind in RECORD_KINDS:
            # balanced draws: a stratum (the answer) first, then a record in it
            strata: dict[Any, list[dict[str, Any]]] = self._by_answer.get(kind) or {}
            if strata:
                rec = rng.choice(strata[rng.choice(list(strata))])
            else:
                rec = rng.choice(self._records[kind])
            question = render_question(rec)  # type: ignore[arg-type]
            if kind in PARAPHRASES and rng.random() < PARAPHRASE_RATE:
                question = f"{MOL_TOKEN}\n{rng.choice(PARAPHRASES[kind])}"
            return list(rec["smiles"]), question, str(rec["answer"])
        if kind == "has_group":
            group = rng.choice(self._groups)
            yes = rng.random() < 0.5 and bool(self._with_group[group])
            pool = self._with_group[group] if yes else self._without_group[group]
            smi = rng.choice(pool)
            q = self._wording(kind, "Does this molecule contain a {g} group?", rng)
            return [smi], f"{MOL_TOKEN}\n{q.format(g=group)}", "yes" if yes else "no"
        smi = rng.choice(self.molecules)
        facts = facts_of(smi)
        if kind in COUNT_QUESTIONS:
            q = self._wording(kind, COUNT_QUESTIONS[kind], rng)
            return [smi], f"{MOL_TOKEN}\n{q}", str(facts[kind])
        if kind == "groups":
            groups = sorted(facts["functional_groups"])
            q = self._wording(kind, "Which functional groups does this molecule contain?", rng)
            return [smi], f"{MOL_TOKEN}\n{q}", ", ".join(groups) if groups else "none"
        if kind == "formula":
            q = "What is the molecular formula of this molecule?"
            return [smi], f"{MOL_TOKEN}\n{q}", str(facts["formula"])
        if kind == "weight":
            q = "What is the molecular weight of this molecule in g/mol?"
            return [smi], f"{MOL_TOKEN}\n{q}", f"{facts['molecular_weight']:.2f}"
        if kind == "description":
            q = "Describe the structure of this molecule."
            return [smi], f"{MOL_TOKEN}\n{q}", describe(facts)
        return self._multiple_choice(smi, facts, rng)

    @staticmethod
    def _wording(kind: str, builder: str, rng: random.Random) -> str:
        """The builder's wording, or (at :data:`PARAPHRASE_RATE`) one of :data:`PARAPHRASES`."""
        if kind in PARAPHRASES and rng.random() < PARAPHRASE_RATE:
            return rng.choice(PARAPHRASES[kind])
        return builder

    def _multiple_choice(self, smi: str, facts: dict[str, Any], rng: random.Random) -> Sample:
        """A drafted 4-choice structure question with its right answer on a uniformly drawn
        letter (a count question when the molecule has no valid distractors)."""
        drafts = structure_mc_drafts(smi, facts, rng, k=1)
        if not drafts:
            return self._count_instead(smi, facts)
        d = drafts[0]
        right, *wrong = d["choices"]
        rng.shuffle(wrong)
        pos = rng.randrange(len(wrong) + 1)
        wrong.insert(pos, right)
        rec = {**d, "choices": wrong, "answer": LETTERS[pos]}
        return [smi], render_question(rec), rec["answer"]  # type: ignore[arg-type]

    @staticmethod
    def _count_instead(smi: str, facts: dict[str, Any]) -> Sample:
        """A molecule without valid distractors for a lettered question is asked a count."""
        return [smi], f"{MOL_TOKEN}\n{COUNT_QUESTIONS['n_rings']}", str(facts["n_rings"])


__all__ = [
    "KIND_WEIGHTS",
    "PARAPHRASES",
    "PARAPHRASE_RATE",
    "RECORD_KINDS",
    "QuestionStream",
    "Sample",
    "SoftAnswer",
    "facts_of",
]

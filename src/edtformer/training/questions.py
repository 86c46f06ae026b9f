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

import itertools
import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from edtformer.chem import rdkit_mol
from edtformer.data.facts import (
    COUNT_LABELS,
    FORMULA_LABEL,
    FUNCTIONAL_GROUPS,
    WEIGHT_LABEL,
    describe,
    molecule_facts,
)
from edtformer.data.questions import COUNT_QUESTIONS, structure_mc_drafts
from edtformer.data.schema import LETTERS, MOL_TOKEN, render_question
from edtformer.errors import DataError

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
    "struct_mc_hint": 0.0,
    "struct_mc_text": 0.0,
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

#: Other layouts of a multiple-choice question's options (``{q}`` the question, ``{o[i]}`` the
#: options), for ``mc_layouts``: one line each as "(A) ..." or "A) ...", or all on one line.
MC_LAYOUTS: tuple[str, ...] = (
    "{q}\n(A) {o[0]}\n(B) {o[1]}\n(C) {o[2]}\n(D) {o[3]}\nAnswer with the letter.",
    "{q}\nA) {o[0]}\nB) {o[1]}\nC) {o[2]}\nD) {o[3]}\nAnswer with the letter.",
    "{q} A. {o[0]} B. {o[1]} C. {o[2]} D. {o[3]}. Answer with the letter.",
    "{q}\nOptions: (A) {o[0]}; (B) {o[1]}; (C) {o[2]}; (D) {o[3]}\nAnswer with A, B, C or D.",
)

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


#: struct_mc kind -> the piece of :func:`fact_block` that answers it.
MC_ASKED: dict[str, str] = {
    "n_rings": "n_rings",
    "n_aromatic_rings": "n_aromatic_rings",
    "hbd": "hbd",
    "formula": "formula",
    "weight": "weight",
    "group_present": "groups",
    "group_absent": "groups",
}


def _spelled(n: int) -> str:
    """A count of a written fact block: one token per digit ("2 0")."""
    return " ".join(str(n))


def fact_block(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """A molecule's RDKit ``facts`` as ``(name, text)`` pieces of a written fact block (groups;
    the counts of :data:`~edtformer.data.facts.COUNT_LABELS`, stereocentres followed by their R/S
    labels; formula; weight)."""
    groups = ", ".join(sorted(facts["functional_groups"])) or "none"
    pieces = [("groups", groups)]
    for name, label in COUNT_LABELS.items():
        text = f"{label} {_spelled(int(facts[name]))}"
        if name == "n_stereocentres":
            text = " ".join([text, *(cip for _, cip in facts["stereocentres"])])
        pieces.append((name, text))
    pieces.append(("formula", f"{FORMULA_LABEL} {facts['formula']}"))
    pieces.append(("weight", f"{WEIGHT_LABEL} {facts['molecular_weight']:.2f}"))
    return pieces


def block_text(pieces: Sequence[tuple[str, str]]) -> str:
    """``"groups | fact fact ..."``: the pieces joined into one line (groups, then the rest)."""
    groups = next((t for n, t in pieces if n == "groups"), "")
    rest = " ".join(t for n, t in pieces if n != "groups")
    return " | ".join(t for t in (groups, rest) if t)


def written_facts(facts: dict[str, Any], asked: str, shown: float, rng: random.Random) -> str:
    """The :func:`block_text` of the ``asked`` piece of :func:`fact_block` and a random ``shown``
    share (in [0, 1]) of the other pieces, in block order."""
    pieces = fact_block(facts)
    others = [p for p in pieces if p[0] != asked]
    keep = rng.sample(others, round(shown * len(others)))
    return block_text([p for p in pieces if p[0] == asked or p in keep])


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
        text_facts: ``(start, full)`` shares of the stream for kind ``struct_mc_text`` (a
            multiple-choice question about a molecule given as its written fact block, no
            molecule tokens): before ``start`` only the asked-for fact is written, from ``start``
            to ``full`` a growing random share of the other facts, from ``full`` the whole block.
            A frozen LLM binds the right option's text to its letter this way; shown the whole
            block from the start it stays at chance (``experiments/diagnostics/letter_binding.py``).
        order: ``(seed, batch size, world size)`` of the engine's batch order
            (:class:`~edtformer.training.sampler.ResumableBatchOrder`, one epoch = the stream):
            the engine visits the items in a seeded permutation, so "share of the run" is an
            item's place in that permutation, not its index. Without it, the index.
        mc_layouts: share of the multiple-choice questions whose options are laid out in one of
            :data:`MC_LAYOUTS` instead of the data's "A. ..." lines (0: none, the draws of the
            stream are then those of a stream without the option), so that the letter step does
            not hang on one layout.
        text_batches: with ``order``, every batch is either all ``struct_mc_text`` items (with
            probability the kind's weight share) or none: a one-letter answer averaged with
            long molecule answers gets a small share of a batch's token-mean loss.
    """

    molecules: list[str]
    records: list[dict[str, Any]]
    length: int
    seed: int = 0
    weights: dict[str, float] | None = None
    balanced: tuple[str, ...] = ()
    text_facts: tuple[float, float] = (0.0, 0.0)
    order: tuple[int, int, int] | None = None
    text_batches: bool = False
    mc_layouts: float = 0.0

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
        #: the kinds other than struct_mc_text and their cumulative weights (text batches)
        self._others = [k for k in self._kinds if k != "struct_mc_text"]
        self._others_cum = list(itertools.accumulate(usable[k] for k in self._others))
        self._text_share = usable.get("struct_mc_text", 0.0) / total
        self._place: np.ndarray | None = None
        if self.order is not None:
            perm = np.random.default_rng(self.order[0]).permutation(self.length)
            self._place = np.empty(self.length, dtype=np.int64)
            self._place[perm] = np.arange(self.length)
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
        return self._draw(rng, self._kinds, self._cum)

    @staticmethod
    def _draw(rng: random.Random, kinds: list[str], cum: list[float]) -> str:
        """One of ``kinds`` by their cumulative weights ``cum``."""
        x = rng.random() * cum[-1]
        for kind, c in zip(kinds, cum, strict=True):
            if x < c:
                return kind
        return kinds[-1]

    def __getitem__(self, i: int) -> Sample:  # type: ignore[override]
        if not 0 <= i < self.length:
            raise IndexError(i)
        rng = random.Random(self.seed * 1_000_003 + i)
        place = int(self._place[i]) if self._place is not None else i
        if self.text_batches and self.order is not None and self._text_share > 0:
            _, batch_size, world = self.order
            block = (place % world, place // world // batch_size)  # (rank, its batch)
            if random.Random(f"{self.seed}:text-batch:{block}").random() < self._text_share:
                kind = "struct_mc_text"
            elif self._others:
                kind = self._draw(rng, self._others, self._others_cum)
            else:
                kind = "struct_mc_text"
        else:
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
        if kind == "struct_mc_text":
            return self._text_multiple_choice(smi, facts, rng, place / self.length)
        return self._multiple_choice(smi, facts, rng, hint=kind == "struct_mc_hint")

    def shown(self, position: float) -> float:
        """Share of the other facts written in a ``struct_mc_text`` item at ``position`` (its
        place in the visit order / the stream length): see ``text_facts``."""
        start, full = self.text_facts
        if position < start:
            return 0.0
        if full <= start:
            return 1.0
        return min(1.0, (position - start) / (full - start))

    def _text_multiple_choice(
        self, smi: str, facts: dict[str, Any], rng: random.Random, position: float
    ) -> Sample:
        """Kind ``struct_mc_text``: a lettered question whose ``<mol>`` is replaced by the
        molecule's written facts (the asked-for one and :meth:`shown` of the others)."""
        rec = self._lettered(smi, facts, rng)
        if rec is None:
            return self._count_instead(smi, facts)
        written = written_facts(facts, MC_ASKED[rec["meta"]["kind"]], self.shown(position), rng)
        question = self._render_mc(rec, rng)
        return [], question.replace(MOL_TOKEN, f"Facts: {written}", 1), rec["answer"]

    def _render_mc(self, rec: dict[str, Any], rng: random.Random) -> str:
        """The question with its options: the data's layout, or (at ``mc_layouts``) another."""
        if self.mc_layouts > 0 and len(rec["choices"]) == 4 and rng.random() < self.mc_layouts:
            return rng.choice(MC_LAYOUTS).format(q=rec["question"], o=rec["choices"])
        return render_question(rec)  # type: ignore[arg-type]

    @staticmethod
    def _wording(kind: str, builder: str, rng: random.Random) -> str:
        """The builder's wording, or (at :data:`PARAPHRASE_RATE`) one of :data:`PARAPHRASES`."""
        if kind in PARAPHRASES and rng.random() < PARAPHRASE_RATE:
            return rng.choice(PARAPHRASES[kind])
        return builder

    @staticmethod
    def _lettered(
        smi: str, facts: dict[str, Any], rng: random.Random, hint: bool = False
    ) -> dict[str, Any] | None:
        """A drafted 4-choice structure record with its right answer on a uniformly drawn
        letter (``None`` when the molecule has no valid distractors)."""
        drafts = structure_mc_drafts(smi, facts, rng, k=1)
        if not drafts:
            return None
        d = drafts[0]
        right, *wrong = d["choices"]
        rng.shuffle(wrong)
        pos = rng.randrange(len(wrong) + 1)
        wrong.insert(pos, right)
        rec = {**d, "choices": wrong, "answer": LETTERS[pos]}
        if hint:
            rec["question"] = f'{d["question"]} (Hint: the answer is "{right}".)'
        return rec

    def _multiple_choice(
        self, smi: str, facts: dict[str, Any], rng: random.Random, hint: bool = False
    ) -> Sample:
        """A 4-choice structure question with the right answer on a uniformly drawn letter.

        With ``hint`` (kind ``struct_mc_hint``) the question also names the right option's text,
        so that only the step from an option's text to its letter is left to learn."""
        rec = self._lettered(smi, facts, rng, hint)
        if rec is None:
            return self._count_instead(smi, facts)
        return [smi], self._render_mc(rec, rng), rec["answer"]

    @staticmethod
    def _count_instead(smi: str, facts: dict[str, Any]) -> Sample:
        """A molecule without valid distractors for a lettered question is asked a count."""
        return [smi], f"{MOL_TOKEN}\n{COUNT_QUESTIONS['n_rings']}", str(facts["n_rings"])


__all__ = [
    "KIND_WEIGHTS",
    "MC_ASKED",
    "MC_LAYOUTS",
    "PARAPHRASES",
    "PARAPHRASE_RATE",
    "RECORD_KINDS",
    "QuestionStream",
    "Sample",
    "SoftAnswer",
    "block_text",
    "fact_block",
    "facts_of",
    "written_facts",
]

"""Fact tokens: the bridge also writes the RDKit facts it reads as the LLM's own word embeddings.

The query transformer's soft tokens carry the molecule's structure (a linear probe reads every
functional group from them, ``experiments/diagnostics/state_probe.py``), yet a frozen 135M LLM does not learn
to pick the *asked-for* group out of them in a CPU budget (DESIGN.md section 7). A frozen LLM
does one thing well without training: copy and match words it sees. :class:`FactWriter` is a
small head on the frozen encoders' pooled node features that predicts the molecule's functional
groups and counts (trained against RDKit, :func:`edtformer.training.recipe.fact_labels`) and
writes its prediction as a fixed-length row of vocabulary embeddings, e.g.::

    benzene ring | ester | carboxylic acid | none ... | rings 1 | aromatic rings 1 | ... |
    heavy atoms 1 3 | stereocentres 0

(each group name is one token: the mean of its word embeddings; with ``group_tokens`` the
present groups are spelled out in the LLM's own sub-word tokens instead, alphabetically and
comma-separated as in a group-list answer, so that a question's group name is found verbatim
among the molecule's tokens; with ``bbb``, a last pair "blood-brain barrier 7" is the
decile of a logistic read-out of the pooled streams fitted on BBBP labels, the evidence a
specialist on the same frozen features would give; with ``formula``, a per-atom head names each
atom's element and hydrogen count, and their sums are written as the Hill formula and the
average molecular weight, "formula C13H18O2 weight 206.28", in the tokens an answer uses). The tokens are hard (the
arg-max / threshold of the head, no gradient through them), so what the LLM reads at training
time is exactly what it reads at inference, and ``edt``'s users can print it
(:meth:`FactWriter.describe`). The query transformer's anchors and dynamic tokens are unchanged;
the fact tokens follow them. Off in the paper preset (``BridgeConfig.fact_tokens``).

Shapes: ``S`` streams ``[B, N, D_s]`` + node mask ``[B, N]`` -> tokens ``[B, F, d_llm]``,
group logits ``[B, G]``, one ``[B, n_c]`` logit tensor per written count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from edtformer.bridge.readout import pool_mean_max

#: Group slots per molecule (present groups in the writer's group order; more are cut).
GROUP_SLOTS = 8

#: Counts the writer predicts and writes: fact name -> (label words, classes; larger values clip).
WRITTEN_COUNTS: dict[str, tuple[str, int]] = {
    "n_rings": ("rings", 8),
    "n_aromatic_rings": ("aromatic rings", 6),
    "n_aliphatic_rings": ("aliphatic rings", 6),
    "hbd": ("donors", 8),
    "hba": ("acceptors", 14),
    "heavy_atoms": ("heavy atoms", 64),
    "n_stereocentres": ("stereocentres", 10),
}

#: With ``stereo``: CIP labels of the first specified stereocentres in atom order, and of the
#: first specified stereo double bonds (ordered by their first atom).
RS_SLOTS, EZ_SLOTS = 8, 3

#: Per-atom classes of the stereo head: CIP ("-": not a specified centre) and E/Z (on both atoms
#: of a specified stereo double bond; the writer reads every other labelled atom, which orders
#: the bonds by their first atom: 605/605 E/Z answers of the small build's train split).
CIP_CLASSES, EZ_CLASSES = ("-", "R", "S"), ("-", "E", "Z")

#: With ``pair``: in a prompt with several molecules, every molecule after the first ends with
#: "same stereoisomer yes" or "... no": whether the writer's own predictions for it (every
#: written fact, and each atom's element, CIP and E/Z class in canonical atom order) equal those
#: for the prompt's first molecule. The first molecule (and a lone one) leaves both slots empty.
#: The bridge compares the two molecules; the LLM only has to read one word.
PAIR_LABEL = "same stereoisomer"
PAIR_WORDS = ("yes", "no")

#: Label of the blood-brain-barrier estimate (with ``bbb``); its digit is the decile of P(BBB+).
BBB_LABEL = "blood-brain barrier"

#: With ``formula``: the heavy elements the per-atom head names (any other is "other", which
#: makes the written formula wrong), hydrogens per heavy atom, and the slots of the formula
#: (symbol and count digits per element, Hill order; an element that does not fit is left out)
#: and of the molecular weight ("206.28"; 7 slots up to 9999.99).
ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si", "Se")
ELEMENT_CLASSES = (*ELEMENTS, "other")
H_CLASSES = 5
FORMULA_SLOTS, WEIGHT_SLOTS = 16, 7
FORMULA_LABEL, WEIGHT_LABEL = "formula", "weight"

#: Average atomic weights as RDKit's periodic table has them (``Descriptors.MolWt`` uses these).
ATOMIC_WEIGHTS = {
    "H": 1.008, "C": 12.011, "N": 14.007, "O": 15.999, "S": 32.067, "F": 18.998, "Cl": 35.453,
    "Br": 79.904, "I": 126.904, "P": 30.974, "B": 10.812, "Si": 28.086, "Se": 78.96,
}  # fmt: skip

#: Word written in an unused group slot, and in an unused tens / stereo slot.
NO_GROUP, NO_TENS = "none", ":"

#: Words written without a leading space (single tokens, as in an answer "13" or "R,S").
_BARE = {":", ".", "R", "S", "E", "Z", "H", *PAIR_WORDS, *ELEMENTS}
_BARE |= {str(d) for d in range(10)}


class FactLogits(NamedTuple):
    """The fact writer's predictions: group logits ``[B, G]``, one ``[B, n_c]`` tensor per
    written count, (with ``stereo``) per-atom logits ``[B, N, 6]`` (3 CIP, 3 E/Z classes),
    (with ``bbb``) the blood-brain-barrier logit ``[B]`` and (with ``formula``) per-atom element
    and hydrogen-count logits."""

    groups: Tensor
    counts: list[Tensor]
    atoms: Tensor | None = None
    bbb: Tensor | None = None
    elements: Tensor | None = None
    """With ``formula``: per-atom logits ``[B, N, len(ELEMENT_CLASSES) + H_CLASSES]``."""


def _two_digit(n_classes: int) -> bool:
    return n_classes > 10


def n_fact_slots(
    stereo: bool = False,
    group_tokens: int = 0,
    bbb: bool = False,
    formula: bool = False,
    pair: bool = False,
    ez_slots: int = EZ_SLOTS,
) -> int:
    """Fact tokens per molecule: the group slots (``group_tokens`` sub-word slots when the
    names are spelled, else :data:`GROUP_SLOTS`), per count its label and (tens,) units, then
    (with ``stereo``) the R/S and E/Z slots, (with ``bbb``) a label and a digit and (with
    ``formula``) a label and the formula's slots, a label and the weight's slots, and (with
    ``pair``) a label and "yes" / "no".
    ``ez_slots``: E/Z label slots (:data:`EZ_SLOTS` unless the bridge config says otherwise)."""
    n = group_tokens or GROUP_SLOTS
    n += sum(3 if _two_digit(n) else 2 for _, n in WRITTEN_COUNTS.values())
    n += (RS_SLOTS + ez_slots if stereo else 0) + (2 if bbb else 0)
    n += 2 + FORMULA_SLOTS + WEIGHT_SLOTS if formula else 0
    return n + (2 if pair else 0)


def vocabulary_words(groups: Sequence[str]) -> list[str]:
    """Rows of :attr:`FactWriter.vocab`: the group names, count labels, digits 0-9, the two
    fillers, R, S, E, Z, the blood-brain-barrier label, then the formula's words (labels, "H",
    the element symbols not already there, "."), then the pair label and its two answers (new
    words go last: earlier rows keep their index)."""
    words = [
        *groups,
        *(label for label, _ in WRITTEN_COUNTS.values()),
        *(str(d) for d in range(10)),
        NO_GROUP,
        NO_TENS,
        "R",
        "S",
        "E",
        "Z",
        BBB_LABEL,
        FORMULA_LABEL,
        WEIGHT_LABEL,
        "H",
        *ELEMENTS,
        ".",
        PAIR_LABEL,
        *PAIR_WORDS,
    ]
    return list(dict.fromkeys(words))  # "S" is both a CIP label and sulfur: one row


def _first_labelled(
    labels: Tensor, slots: int, first_word: int, filler: int, stride: int = 1
) -> Tensor:
    """Word ids ``[B, slots]`` of the first atoms whose class is > 0 in atom order (class ``c``
    -> word ``first_word + c - 1``), every ``stride``-th of them (2 for bonds labelled on both
    ends); ``filler`` where there are fewer. labels: int64 ``[B, N]``."""
    b, n = labels.shape
    need = slots * stride
    if n < need:
        labels = torch.cat([labels, labels.new_zeros(b, need - n)], dim=1)
        n = need
    pos = torch.arange(n, device=labels.device)
    order = torch.where(labels > 0, pos, n + pos).argsort(dim=1)[:, :need:stride]  # [B, slots]
    picked = labels.gather(1, order)
    return torch.where(picked > 0, first_word + picked - 1, filler)


def _atom_mlp(width: int, n_out: int) -> nn.Sequential:
    """A per-atom head: ``[..., width] -> [..., n_out]`` logits."""
    return nn.Sequential(nn.LayerNorm(width), nn.Linear(width, 64), nn.GELU(), nn.Linear(64, n_out))


def _per_atom(head: nn.Module, atoms: Tensor, mask: Tensor | None) -> Tensor:
    """``head`` on every atom row ``[B, N, D]``; all zero on the atoms ``mask`` ``[B, N]``
    leaves out (padding)."""
    logits: Tensor = head(atoms.float())
    if mask is not None:
        logits = logits * mask.unsqueeze(-1).to(logits.dtype)
    return logits


class FactWriter(nn.Module):
    """Predicts RDKit facts from the frozen encoder streams and writes them as word embeddings.

    Groups and counts are read from the streams pooled over the atoms; with ``stereo``, a
    per-atom head labels each atom's CIP code and stereo double bond (the R/S answer lists
    centres "in SMILES atom order", which is the canonical node order the bridge sees).

    Shapes:
        - node_feats: ``S`` streams ``[B, N, D_s]``; node_mask: bool ``[B, N]``
        - output: ``(tokens [B, F, d_llm], FactLogits, word ids int64 [B, F])``
    """

    def __init__(
        self,
        encoder_widths: Sequence[int],
        llm_width: int,
        groups: Sequence[str],
        hidden: int = 256,
        stereo: bool = False,
        group_tokens: int = 0,
        bbb: bool = False,
        formula: bool = False,
        pair: bool = False,
        ez_slots: int = EZ_SLOTS,
    ) -> None:
        super().__init__()
        if not 1 <= ez_slots <= 16:
            raise ValueError(f"ez_slots must be in 1..16, got {ez_slots}")
        if pair and not stereo:
            raise ValueError("pair needs the stereo head (stereo=True)")
        if not groups:
            raise ValueError("FactWriter needs the functional-group names it writes")
        if group_tokens < 0:
            raise ValueError(f"group_tokens must be >= 0, got {group_tokens}")
        width = int(sum(encoder_widths))
        self.stereo = stereo
        self.ez_slots = ez_slots
        self.pair = pair
        self.group_tokens = group_tokens
        self.group_names = tuple(groups)
        self.words = vocabulary_words(self.group_names)
        self._index = {w: i for i, w in enumerate(self.words)}  # word -> row of vocab
        # spelled groups (group_tokens > 0), filled by set_vocabulary(): the text of each vocab
        # row after self.words (one sub-word token each), each group's rows, the separator's row
        self.pieces: list[str] = []
        self._spelled: list[list[int]] = []
        self._separator = -1
        self._alphabetical = sorted(range(len(self.group_names)), key=self.group_names.__getitem__)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, hidden), nn.GELU())
        self.groups = nn.Linear(hidden, len(self.group_names))
        self.counts = nn.ModuleList(nn.Linear(hidden, n) for _, n in WRITTEN_COUNTS.values())
        self.atom_head = _atom_mlp(width, len(CIP_CLASSES) + len(EZ_CLASSES)) if stereo else None
        self.formula = formula
        self.formula_head = _atom_mlp(width, len(ELEMENT_CLASSES) + H_CLASSES) if formula else None
        # blood-brain barrier: logistic read-out of the standardised mean + max pooled streams,
        # fitted LLM-free on BBBP labels (edtformer.training.recipe.fit_bbb_head), then frozen
        self.bbb: nn.Linear | None = nn.Linear(2 * width, 1) if bbb else None
        self.bbb_mean: Tensor
        self.bbb_std: Tensor
        if bbb:  # feature standardisation of the read-out, saved with it
            self.register_buffer("bbb_mean", torch.zeros(2 * width))
            self.register_buffer("bbb_std", torch.ones(2 * width))
        # the LLM's (frozen) embeddings of vocabulary_words(); filled by set_vocabulary(), not saved
        self.vocab: Tensor
        self.register_buffer("vocab", torch.zeros(len(self.words), llm_width), persistent=False)
        self.has_vocabulary = False

    def set_vocabulary(self, embeddings: nn.Module, tokenizer: Any) -> None:
        """Fill :attr:`vocab` from the LLM's input embeddings: each word's row is the mean of the
        embeddings of its tokens (written with a leading space, as inside a sentence; digits,
        letters and the filler bare). With ``group_tokens``, one more row per distinct sub-word
        token of the group names (and of the separator ","), each exactly the LLM's row."""
        weight: Tensor = embeddings.weight.detach()  # type: ignore[union-attr,operator]

        def token_ids(text: str) -> list[int]:
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])

        rows = []
        for word in self.words:
            ids = token_ids(word if word in _BARE else f" {word}")
            rows.append(weight[torch.tensor(ids, device=weight.device)].float().mean(0))
        self.pieces, self._spelled = [], []
        if self.group_tokens:
            row_of: dict[int, int] = {}  # LLM token id -> vocab row

            def rows_for(text: str) -> list[int]:
                out = []
                for t in token_ids(text):
                    if t not in row_of:
                        row_of[t] = len(rows)
                        rows.append(weight[t].float())
                        self.pieces.append(str(tokenizer.decode([t])))
                    out.append(row_of[t])
                return out

            self._spelled = [rows_for(f" {name}") for name in self.group_names]
            (self._separator,) = rows_for(",")[:1]
        self.vocab = torch.stack(rows).to(self.vocab.device)
        self.has_vocabulary = True

    @staticmethod
    def pool(node_feats: Sequence[Tensor], node_mask: Tensor) -> Tensor:
        """Masked mean of every stream over the atoms, concatenated: ``[B, sum D_s]``."""
        m = node_mask.unsqueeze(-1).float()  # [B, N, 1]
        return torch.cat(
            [(h.float() * m).sum(1) / m.sum(1).clamp_min(1.0) for h in node_feats], dim=-1
        )

    @staticmethod
    def pool_mean_max(node_feats: Sequence[Tensor], node_mask: Tensor) -> Tensor:
        """Masked mean then masked max of every stream over the atoms: ``[B, 2 sum D_s]``
        (:func:`edtformer.bridge.readout.pool_mean_max`)."""
        return pool_mean_max(node_feats, node_mask)

    def bbb_readout(self, pooled2: Tensor) -> Tensor:
        """Blood-brain-barrier logits ``[B]`` from :meth:`pool_mean_max`'s output."""
        assert self.bbb is not None
        x = (pooled2.float() - self.bbb_mean) / self.bbb_std
        return self.bbb(x)[:, 0]

    def readout(self, pooled: Tensor) -> tuple[Tensor, list[Tensor]]:
        """Group logits ``[B, G]`` and count logits (one ``[B, n_c]`` per written count) from
        :meth:`pool`'s output."""
        x = self.head(pooled)
        return self.groups(x), [head(x) for head in self.counts]

    def atom_readout(self, atoms: Tensor, mask: Tensor | None = None) -> Tensor:
        """Per-atom stereo logits ``[B, N, 6]`` from the concatenated streams ``[B, N, sum D_s]``;
        all zero on the atoms ``mask`` ``[B, N]`` leaves out (padding)."""
        assert self.atom_head is not None
        return _per_atom(self.atom_head, atoms, mask)

    @property
    def atom_level(self) -> bool:
        """True if a head reads single atoms (stereo labels or the formula)."""
        return self.stereo or self.formula

    def formula_readout(self, atoms: Tensor, mask: Tensor | None = None) -> Tensor:
        """Per-atom element and hydrogen-count logits ``[B, N, len(ELEMENT_CLASSES) + H_CLASSES]``
        from the concatenated streams ``[B, N, sum D_s]``; zero on atoms ``mask`` leaves out."""
        assert self.formula_head is not None
        return _per_atom(self.formula_head, atoms, mask)

    def with_atoms(
        self, logits: FactLogits, rows: Tensor, mask: Tensor | None = None
    ) -> FactLogits:
        """``logits`` with the per-atom heads' outputs (stereo, formula) on the atom rows
        ``[B, N, sum D_s]`` filled in."""
        if self.atom_head is not None:
            logits = logits._replace(atoms=self.atom_readout(rows, mask))
        if self.formula_head is not None:
            logits = logits._replace(elements=self.formula_readout(rows, mask))
        return logits

    @staticmethod
    def element_counts(logits: Tensor, mask: Tensor) -> Tensor:
        """Atoms per element class and hydrogens, int64 ``[B, len(ELEMENT_CLASSES) + 1]`` (H
        last), from per-atom :meth:`formula_readout` logits ``[B, N, ...]`` and mask ``[B, N]``."""
        k = len(ELEMENT_CLASSES)
        element = logits[..., :k].argmax(-1)  # [B, N]
        hydrogens = logits[..., k:].argmax(-1) * mask  # [B, N]
        one_hot = torch.nn.functional.one_hot(element, k) * mask.unsqueeze(-1)  # [B, N, k]
        return torch.cat([one_hot.sum(1), hydrogens.sum(1, keepdim=True)], dim=1).long()

    def predict(self, node_feats: Sequence[Tensor], node_mask: Tensor) -> FactLogits:
        """Every prediction of the writer (see :class:`FactLogits`)."""
        groups, counts = self.readout(self.pool(node_feats, node_mask))
        bbb = None
        if self.bbb is not None:
            bbb = self.bbb_readout(self.pool_mean_max(node_feats, node_mask))
        logits = FactLogits(groups, counts, bbb=bbb)
        if self.atom_level:
            rows = torch.cat([h.float() for h in node_feats], dim=-1)  # [B, N, sum D_s]
            logits = self.with_atoms(logits, rows, node_mask)
        return logits

    def word_ids(self, logits: FactLogits, node_mask: Tensor | None = None) -> Tensor:
        """Rows of :attr:`vocab` the fact tokens are, int64 ``[B, F]`` (hard decisions)."""
        words = self._index
        group_logits, count_logits = logits.groups, logits.counts
        present = group_logits > 0  # [B, G]
        cols = [self._spell(present) if self.group_tokens else self._group_slots(present)]
        for (label, n), lg in zip(WRITTEN_COUNTS.values(), count_logits, strict=True):
            value = lg.argmax(dim=-1)  # [B]
            cols.append(torch.full_like(value, words[label]).unsqueeze(1))
            if _two_digit(n):
                tens = torch.where(value >= 10, words["0"] + value // 10, words[NO_TENS])
                cols.append(tens.unsqueeze(1))
            cols.append((words["0"] + value % 10).unsqueeze(1))
        if self.stereo:
            if logits.atoms is None:
                raise ValueError("a stereo fact writer needs per-atom logits")
            atoms = logits.atoms
            mask = node_mask if node_mask is not None else torch.ones_like(atoms[..., 0]).bool()
            cip, ez = self.atom_classes(logits, mask)[..., :2].unbind(-1)  # [B, N] each
            cols.append(_first_labelled(cip, RS_SLOTS, words["R"], words[NO_TENS]))
            cols.append(_first_labelled(ez, self.ez_slots, words["E"], words[NO_TENS], stride=2))
        if self.bbb is not None:
            if logits.bbb is None:
                raise ValueError("a fact writer with bbb needs the blood-brain-barrier logit")
            decile = (torch.sigmoid(logits.bbb.float()) * 10).long().clamp(0, 9)  # [B]
            cols.append(torch.full_like(decile, words[BBB_LABEL]).unsqueeze(1))
            cols.append((words["0"] + decile).unsqueeze(1))
        if self.formula:
            if logits.elements is None:
                raise ValueError("a fact writer with formula needs per-atom element logits")
            e = logits.elements
            mask = node_mask if node_mask is not None else torch.ones_like(e[..., 0]).bool()
            cols.append(self._write_formula(self.element_counts(e, mask)).to(e.device))
        if self.pair:  # filled in by pair_slots() for the molecules after a prompt's first
            b = count_logits[0].shape[0]
            cols.append(torch.full((b, 2), words[NO_TENS], dtype=torch.long, device=cols[0].device))
        return torch.cat(cols, dim=1)

    @staticmethod
    def atom_classes(logits: FactLogits, node_mask: Tensor) -> Tensor:
        """Each atom's predicted CIP class, E/Z class and (with ``logits.elements``) element
        class, int64 ``[B, N, 2 or 3]``; 0 on the atoms ``node_mask`` ``[B, N]`` leaves out."""
        if logits.atoms is None:
            raise ValueError("per-atom classes need the stereo head's per-atom logits")
        k = len(CIP_CLASSES)
        heads = [logits.atoms[..., :k], logits.atoms[..., k:]]
        if logits.elements is not None:
            heads.append(logits.elements[..., : len(ELEMENT_CLASSES)])
        mask = node_mask.long()
        return torch.stack([x.argmax(-1) * mask for x in heads], dim=-1)

    def pair_slots(
        self, ids: Tensor, logits: FactLogits, node_mask: Tensor, first: Tensor
    ) -> Tensor:
        """``ids`` ``[B, F]`` with the last two slots of every molecule ``i`` whose prompt's first
        molecule ``first[i]`` is another one set to "same stereoisomer yes|no": yes when the two
        molecules' written facts (all but these slots) and per-atom predictions (element, CIP,
        E/Z class in canonical atom order, ``logits.atoms`` / ``logits.elements`` ``[B, N, .]``)
        are equal. first: int64 ``[B]``, the batch index of each molecule's prompt's first
        molecule; node_mask: bool ``[B, N]``."""
        if not self.pair:
            return ids
        words = self._index
        classes = self.atom_classes(logits, node_mask)  # [B, N, k]
        n_atoms = node_mask.sum(1)  # [B]
        out = ids.clone()
        for i, j in enumerate(first.tolist()):
            if j == i:
                continue
            same = (
                bool(n_atoms[i] == n_atoms[j])
                and torch.equal(ids[i, :-2], ids[j, :-2])
                and torch.equal(classes[i], classes[j])
            )
            out[i, -2] = words[PAIR_LABEL]
            out[i, -1] = words[PAIR_WORDS[0] if same else PAIR_WORDS[1]]
        return out

    def _write_formula(self, counts: Tensor) -> Tensor:
        """``formula <Hill formula> weight <average weight>`` as word ids ``[B, 2 + FORMULA_SLOTS
        + WEIGHT_SLOTS]`` from :meth:`element_counts` ``[B, len(ELEMENT_CLASSES) + 1]``."""
        words = self._index
        symbols = [*ELEMENTS, "H"]
        column = {sym: i for i, sym in enumerate(ELEMENT_CLASSES[:-1])} | {
            "H": len(ELEMENT_CLASSES)
        }
        out = []
        for row in counts.tolist():
            n = {sym: row[column[sym]] for sym in symbols}
            carbon = n["C"] > 0
            order = ["C", "H"] if carbon else []
            order += sorted(sym for sym in symbols if sym not in order)
            formula: list[int] = []
            for sym in order:
                if n[sym] <= 0:
                    continue
                piece = [words[sym]] + ([words[d] for d in str(n[sym])] if n[sym] > 1 else [])
                if len(formula) + len(piece) > FORMULA_SLOTS:
                    break
                formula += piece
            weight = sum(n[sym] * ATOMIC_WEIGHTS[sym] for sym in symbols)
            digits = [words[c] for c in f"{min(weight, 9999.99):.2f}"]
            formula += [words[NO_TENS]] * (FORMULA_SLOTS - len(formula))
            digits += [words[NO_TENS]] * (WEIGHT_SLOTS - len(digits))
            out.append([words[FORMULA_LABEL], *formula, words[WEIGHT_LABEL], *digits])
        return torch.tensor(out, dtype=torch.long)

    def _group_slots(self, present: Tensor) -> Tensor:
        """One word per present group, in group order, then the filler: ``[B, GROUP_SLOTS]``."""
        g = present.shape[1]
        order = torch.where(present, torch.arange(g, device=present.device), g + 1)
        slots = order.sort(dim=1).values[:, :GROUP_SLOTS]  # [B, GROUP_SLOTS]
        return torch.where(slots < g, slots, self._index[NO_GROUP])

    def _spell(self, present: Tensor) -> Tensor:
        """The present groups' sub-word rows, alphabetically, "," between them, then the filler
        (``none`` first when no group is present): ``[B, group_tokens]``. A group that does not
        fit whole is left out."""
        if not self._spelled:
            raise RuntimeError("FactWriter.set_vocabulary() was not called (the LLM is needed)")
        out = torch.full(
            (present.shape[0], self.group_tokens), self._index[NO_TENS], dtype=torch.long
        )
        for b, row in enumerate(present.tolist()):
            seq: list[int] = []
            for g in self._alphabetical:
                if row[g]:
                    add = [self._separator] * bool(seq) + self._spelled[g]
                    if len(seq) + len(add) > self.group_tokens:
                        break
                    seq += add
            seq = seq or [self._index[NO_GROUP]]
            out[b, : len(seq)] = torch.tensor(seq)
        return out.to(present.device)

    def forward(
        self, node_feats: Sequence[Tensor], node_mask: Tensor, pair_first: Tensor | None = None
    ) -> tuple[Tensor, FactLogits, Tensor]:
        """``(tokens [B, F, d_llm], logits, word ids [B, F])``; with ``pair``, ``pair_first``
        int64 ``[B]`` names each molecule's prompt's first molecule (:meth:`pair_slots`; None:
        every molecule is alone)."""
        if not self.has_vocabulary:
            raise RuntimeError("FactWriter.set_vocabulary() was not called (the LLM is needed)")
        logits = self.predict(node_feats, node_mask)
        with torch.no_grad():
            ids = self.word_ids(logits, node_mask)  # [B, F]
            if pair_first is not None:
                ids = self.pair_slots(ids, logits, node_mask, pair_first)
        return self.vocab[ids], logits, ids

    def describe(self, ids: Tensor) -> list[str]:
        """The fact tokens ``[B, F]`` as text, one string per molecule."""
        words = [*self.words, *self.pieces]
        k = self.group_tokens or GROUP_SLOTS
        out = []
        for row in ids.tolist():
            if self.group_tokens:  # sub-words carry their own spaces
                text = "".join(words[i] for i in row[:k] if words[i] not in (NO_GROUP, NO_TENS))
                text = text.strip()
            else:
                text = " ".join(words[i] for i in row[:k] if words[i] != NO_GROUP)
            end = len(row) - 2 * self.pair  # the pair slots come after
            body = row[k:end]
            rest = " ".join(words[i] for i in body if words[i] != NO_TENS)
            if self.formula:  # the formula and weight read as one word each
                head, _, tail = rest.rpartition(f"{FORMULA_LABEL} ")
                formula, _, weight = tail.partition(f" {WEIGHT_LABEL} ")
                rest = (
                    f"{head}{FORMULA_LABEL} {formula.replace(' ', '')} "
                    f"{WEIGHT_LABEL} {weight.replace(' ', '')}"
                )
            if self.pair and words[row[-1]] != NO_TENS:
                rest += f" {words[row[-2]]} {words[row[-1]]}"
            out.append(f"{text or NO_GROUP} | {rest}")
        return out

"""Chats about molecules -> :class:`ChatBatch`: the one collate function of training and inference.

:class:`EDTFormerProcessor` is the processor of a LLaVA-style model (transformers'
``LlavaProcessor`` joins an image processor and a tokenizer): it owns the
:class:`~edtformer.model.processing.MoleculeProcessor` and the
:class:`~edtformer.llm.prompt.PromptBuilder`, and with them every piece of text the LLM reads
around a question: the chat template and system prompt, the ``<mol>`` placeholder (or, for a
text-only model, the SMILES written in its place) and the fact sheet after each molecule.
:meth:`EDTFormer.prepare <edtformer.model.EDTFormer.prepare>` calls it:

1. each prompt's molecules (SMILES or records) are parsed and run through the
   :class:`~edtformer.model.processing.MoleculeProcessor` (encoder streams + patches);
2. with ``fact_sheet``, each molecule's exact RDKit fact sheet is written on the line after its
   ``<mol>`` marker (:meth:`EDTFormerProcessor.fact_sheets`, :func:`with_sheets`);
3. the conversations are tokenised with each ``<mol>`` expanded to the number of tokens the
   connector will give that molecule, and right-padded; a text-only model (connector ``none``)
   gets the SMILES written into the text instead (:func:`smiles_in_text`);
4. an instruction-aware connector also gets each molecule's question (:func:`instruction_inputs`).

What a batch depends on in the model itself is passed in on each call: the connector's token
counts, the BBB read-out (its estimate is written on the sheet), the training flag and
``sheet_full_rate`` (which batches get the whole sheet) and the LLM's positions.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from edtformer.chem import MolRecord, parse_smiles
from edtformer.errors import EdtError
from edtformer.facts import render_sheet, same_stereoisomer, sheet_values
from edtformer.facts.select import asked_facts, lines_for, narrow
from edtformer.llm.prompt import Message, PromptBuilder, pad_samples
from edtformer.llm.tokens import MOL_TOKEN, MolTokenIds
from edtformer.model.outputs import ChatBatch
from edtformer.model.processing import MoleculeBatch, MoleculeProcessor

if TYPE_CHECKING:
    from edtformer.bridge.readout import BBBReadout
    from edtformer.model.configuration import EDTFormerConfig

#: Longest question (tokens) an instruction-aware connector reads; longer ones are cut.
MAX_INSTRUCTION_TOKENS = 96

#: ``(node_mask [M, N], patch_ids [M, G, N] or None) -> int64 [M]``: molecule tokens per
#: molecule (the connector's ``num_tokens``).
TokenCounter = Callable[[Tensor, "Tensor | None"], Tensor]


class EDTFormerProcessor:
    """Chats + molecules -> :class:`ChatBatch` (see the module docstring).

    Args:
        config: the model's config (``system_prompt``, ``boundary_tokens``, ``fact_sheet``,
            ``sheet_lines``, ``sheet_asked``, the bridge's connector and ``instruction_aware``).
        tokenizer: the LLM's tokenizer, with the molecule tokens added (``mol_ids``).
        mol_ids: the ids of the molecule tokens.
        molecule_processor: records -> encoder streams + patches (``None``: text-only and
            molecule-free prompts only).
    """

    def __init__(
        self,
        config: EDTFormerConfig,
        tokenizer: Any,
        mol_ids: MolTokenIds,
        molecule_processor: MoleculeProcessor | None = None,
    ) -> None:
        self.text_only = config.bridge.connector == "none"
        """The SMILES are written into the text (connector ``none``): no molecule tokens."""
        self.prompts = PromptBuilder(
            tokenizer, mol_ids, config.system_prompt, config.boundary_tokens and not self.text_only
        )
        self.molecule_processor = molecule_processor
        self.fact_sheet = config.fact_sheet
        self.sheet_lines = config.sheet_lines
        self.sheet_asked = config.sheet_asked
        self.instruction_aware = bool(config.bridge.instruction_aware)

    @property
    def tokenizer(self) -> Any:
        """The LLM's tokenizer."""
        return self.prompts.tokenizer

    def messages(
        self, question: str, n_molecules: int = 1, answer: str | None = None
    ) -> list[Message]:
        """Chat messages for one question (and its answer): :meth:`PromptBuilder.messages`."""
        return self.prompts.messages(question, n_molecules, answer)

    def follow_up(self, history: Sequence[Message], question: str) -> list[Message]:
        """``history`` (a previous answer's messages) and a follow-up question, which has no
        molecule of its own: a ``<mol>`` typed in it is plain text."""
        return [*history, {"role": "user", "content": self.prompts.user_text(question, 0)}]

    def __call__(
        self,
        molecules: Sequence[Sequence[MolRecord | str]],
        conversations: Sequence[Sequence[Message]],
        generation: bool = False,
        sheet_questions: Sequence[str | None] | None = None,
        *,
        num_tokens: TokenCounter,
        readout: BBBReadout | None = None,
        training: bool = False,
        sheet_full_rate: float = 0.0,
        max_positions: int | None = None,
    ) -> ChatBatch:
        """A :class:`ChatBatch` on the CPU (:meth:`EDTFormer.prepare
        <edtformer.model.EDTFormer.prepare>` describes the first four arguments).

        Args:
            num_tokens: the connector's ``num_tokens`` (how many tokens each molecule gets).
            readout: the blood-brain-barrier read-out whose estimate the sheet writes.
            training: a training batch (:meth:`fact_sheets` says what that changes).
            sheet_full_rate: in training, the share of batches that get the whole sheet.
            max_positions: positions the LLM reads; a longer prompt raises :class:`EdtError`.
        """
        if len(molecules) != len(conversations):
            raise EdtError(f"got {len(molecules)} molecule lists for {len(conversations)} prompts")
        records = [
            [m if isinstance(m, MolRecord) else parse_smiles(m) for m in mols] for mols in molecules
        ]
        flat = [r for rs in records for r in rs]
        n_mols = [len(rs) for rs in records]
        mol_batch: MoleculeBatch | None = None
        sheets: list[str] | None = None
        asked = conversations  # the questions as asked (instruction-aware queries read these)
        if self.fact_sheet and flat:
            if not self.text_only and self.molecule_processor is not None:
                mol_batch = self.molecule_processor(flat)
            given = [None] * len(asked) if sheet_questions is None else list(sheet_questions)
            cut_for = [user_text(c) if q is None else q for c, q in zip(asked, given, strict=True)]
            sheets = self.fact_sheets(
                records, mol_batch, cut_for, readout, training, sheet_full_rate
            )
            conversations = [
                with_sheets(c, sheets[k : k + n])
                for c, n, k in zip(conversations, n_mols, starts(n_mols), strict=True)
            ]
        if self.text_only or not flat:
            counts = torch.zeros(len(flat), dtype=torch.long)
            conversations = [
                smiles_in_text(c, [r.smiles for r in rs])
                for c, rs in zip(conversations, records, strict=True)
            ]
        else:
            if self.molecule_processor is None:
                raise EdtError(
                    "this model has no MoleculeProcessor; build it with EDTFormer.build or pass one"
                )
            if mol_batch is None:
                mol_batch = self.molecule_processor(flat)
            counts = num_tokens(mol_batch.node_mask, mol_batch.patch_ids).cpu()  # [M]
        # text-only prompts carry SMILES, no <mol>
        in_prompt = n_mols if mol_batch is not None else [0] * len(n_mols)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids, mask, labels, n_prefix = self._tokenise(
            conversations, in_prompt, counts, generation, pad_id, max_positions
        )
        batch = ChatBatch(ids, mask, labels, n_prefix, mol_batch, counts, sheets=sheets)
        if mol_batch is not None and self.instruction_aware:
            batch.instruction_ids, batch.instruction_mask = instruction_inputs(
                self.prompts, asked, n_mols, pad_id
            )
        return batch

    def _tokenise(
        self,
        conversations: Sequence[Sequence[Message]],
        n_mols: Sequence[int],
        counts: Tensor,
        generation: bool,
        pad_id: int,
        max_positions: int | None,
    ) -> tuple[Tensor, Tensor, Tensor, int]:
        """``(input_ids, attention_mask, labels, n_prefix)`` of the conversations, each ``<mol>``
        expanded to its molecule's token count (``counts``: int64 ``[M]``, ``n_mols[b]`` of them
        for prompt ``b``); raises :class:`EdtError` when the longest prompt does not fit the LLM."""
        samples, start = [], 0
        for conv, n in zip(conversations, n_mols, strict=True):
            samples.append(
                self.prompts.encode(conv, counts[start : start + n].tolist(), generation)
            )
            start += n
        ids, mask, labels, n_prefix = pad_samples(samples, pad_id)
        if max_positions is not None and ids.shape[1] > max_positions:
            raise EdtError(
                f"prompt of {ids.shape[1]:,} tokens; the LLM reads at most {max_positions:,} "
                "positions (shorten the question or the history)"
            )
        return ids, mask, labels, n_prefix

    def fact_sheets(
        self,
        records: Sequence[Sequence[MolRecord]],
        mol_batch: MoleculeBatch | None,
        questions: Sequence[str],
        readout: BBBReadout | None = None,
        training: bool = False,
        sheet_full_rate: float = 0.0,
    ) -> list[str]:
        """The fact sheet of every molecule of ``records`` (prompt order), with the BBB read-out's
        estimate when there is one and, for a prompt's later molecules, whether each is the
        same stereoisomer as its first; cut to the lines each prompt's question names
        (``sheet_lines=question``).

        In training, whole batches (not single prompts: padding makes every batch as long as
        its longest prompt) get the whole sheet: those with a question that names no line
        anyway, and a share ``sheet_full_rate`` chosen by a hash of their questions.
        """
        bbb: list[float | None] = [None] * sum(len(rs) for rs in records)
        if readout is not None and mol_batch is not None:
            with torch.no_grad():
                feats = [h.to(readout.bbb_mean.device) for h in mol_batch.node_feats]
                mask = mol_batch.node_mask.to(readout.bbb_mean.device)
                bbb = [float(p) for p in readout(feats, mask).tolist()]
        cut = self.sheet_lines in ("question", "facts")
        facts = self.sheet_lines == "facts"
        wants = [narrow(q, [r.smiles for r in rs]) if facts else None
                 for rs, q in zip(records, questions, strict=True)]  # fmt: skip
        named = [
            (w.lines if w is not None else lines_for(q, [r.smiles for r in rs])) if cut else None
            for rs, q, w in zip(records, questions, wants, strict=True)
        ]
        key = "|".join(questions).encode()
        full = training and (
            any(n is None for n in named) or zlib.crc32(key) % 1000 < 1000 * sheet_full_rate
        )
        out: list[str] = []
        k = 0
        for rs, q, only, want in zip(records, questions, named, wants, strict=True):
            only = None if full else only
            smiles = [r.smiles for r in rs]
            if want is not None:
                asked = list(want.asked) if self.sheet_asked else []
            else:
                asked = asked_facts(q, smiles) if self.sheet_asked else []
            items = want.items if want is not None and only is not None else None
            for j, r in enumerate(rs):
                same = None if j == 0 else same_stereoisomer(rs[0].mol, r.mol)
                values = sheet_values(r.mol)
                sheet = render_sheet(
                    values, bbb=bbb[k], same_as_first=same, only=only, asked=asked, items=items
                )
                out.append(sheet)
                k += 1
        return out


def instruction_inputs(
    prompts: PromptBuilder,
    conversations: Sequence[Sequence[Message]],
    n_mols: Sequence[int],
    pad_id: int,
) -> tuple[Tensor, Tensor]:
    """Each molecule's question ids ``[M, T]`` and mask ``[M, T]``.

    The question is the text of its prompt's last user turn with the ``<mol>`` markers
    removed (in a chat follow-up: the follow-up), tokenised without special tokens and cut to
    :data:`MAX_INSTRUCTION_TOKENS`.
    """
    rows: list[list[int]] = []
    for conv, n in zip(conversations, n_mols, strict=True):
        users = [m["content"] for m in conv if m["role"] == "user"]
        text = " ".join((users[-1] if users else "").replace(MOL_TOKEN, " ").split())
        ids = prompts.text_ids(text)[:MAX_INSTRUCTION_TOKENS] or [pad_id]
        rows += [ids] * n
    t = max(len(r) for r in rows)
    out = torch.full((len(rows), t), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), t, dtype=torch.bool)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = True
    return out, mask


def smiles_in_text(conv: Sequence[Message], smiles: list[str]) -> list[Message]:
    """``conv`` with each ``<mol>`` marker replaced by its molecule's SMILES (text-only models)."""
    out, k = [], 0
    for m in conv:
        n = m["content"].count(MOL_TOKEN)
        content = PromptBuilder.smiles_text(m["content"], smiles[k : k + n]) if n else m["content"]
        out.append({**m, "content": content})
        k += n
    return out


def starts(sizes: Sequence[int]) -> list[int]:
    """Start offset of each group of ``sizes`` in the flat order."""
    out, k = [], 0
    for n in sizes:
        out.append(k)
        k += n
    return out


def user_text(conv: Sequence[Message]) -> str:
    """The text of a conversation's user turns (what a sheet is cut for: the lines any of them
    names, so a follow-up keeps the lines of the first question)."""
    return "\n".join(m["content"] for m in conv if m["role"] == "user")


def with_sheets(conv: Sequence[Message], sheets: Sequence[str]) -> list[Message]:
    """``conv`` with each molecule's fact sheet written on the line after its ``<mol>`` marker
    (user turns, in marker order; the question itself may not hold the markers yet: then they
    are placed first, one line each, as :meth:`PromptBuilder.user_text` does)."""
    out: list[Message] = []
    k = 0
    for m in conv:
        n = m["content"].count(MOL_TOKEN) if m["role"] == "user" else 0
        if n == 0 and m["role"] == "user" and k == 0 and sheets:
            text = PromptBuilder.user_text(m["content"], len(sheets))
            n = len(sheets)
        else:
            text = m["content"]
        if n:
            if k + n > len(sheets):
                raise EdtError(
                    f"the conversation's user turns hold {k + n} {MOL_TOKEN} markers but "
                    f"{len(sheets)} molecule(s) were given: one marker per molecule, in order"
                )
            parts = text.split(MOL_TOKEN)
            text = parts[0] + "".join(
                f"{MOL_TOKEN}\n{sheets[k + j]}{rest}" for j, rest in enumerate(parts[1:])
            )
            k += n
        out.append({**m, "content": text})
    return out


__all__ = [
    "MAX_INSTRUCTION_TOKENS",
    "EDTFormerProcessor",
    "TokenCounter",
    "instruction_inputs",
    "smiles_in_text",
    "starts",
    "user_text",
    "with_sheets",
]

"""Chats about molecules -> :class:`ChatBatch`: the one collate function of training and inference.

The processor step of a LLaVA-style model (:meth:`EDTFormer.prepare
<edtformer.model.EDTFormer.prepare>` calls :func:`prepare_batch`):

1. each prompt's molecules (SMILES or records) are parsed and run through the model's
   :class:`~edtformer.model.processing.MoleculeProcessor` (encoder streams + patches);
2. with ``fact_sheet``, each molecule's exact RDKit fact sheet is written on the line after its
   ``<mol>`` marker (:func:`fact_sheets`, :func:`with_sheets`);
3. the conversations are tokenised with each ``<mol>`` expanded to the number of tokens the
   connector will give that molecule, and right-padded; a text-only model (connector ``none``)
   gets the SMILES written into the text instead (:func:`smiles_in_text`);
4. an instruction-aware connector also gets each molecule's question (:func:`instruction_inputs`).

The functions read from the model only what the batch depends on: its prompt builder, its
connector's token counts, its BBB read-out (written on the sheet), its training flag and
``sheet_full_rate`` (which batches get the whole sheet).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from edtformer.chem import MolRecord, parse_smiles
from edtformer.errors import EdtError
from edtformer.facts import render_sheet, same_stereoisomer, sheet_values
from edtformer.facts.select import asked_facts, lines_for
from edtformer.llm.prompt import Message, PromptBuilder, pad_samples
from edtformer.llm.tokens import MOL_TOKEN
from edtformer.model.outputs import ChatBatch
from edtformer.model.processing import MoleculeBatch

if TYPE_CHECKING:
    from edtformer.model.modeling import EDTFormer

#: Longest question (tokens) an instruction-aware connector reads; longer ones are cut.
MAX_INSTRUCTION_TOKENS = 96


def prepare_batch(
    model: EDTFormer,
    molecules: Sequence[Sequence[MolRecord | str]],
    conversations: Sequence[Sequence[Message]],
    generation: bool = False,
    sheet_questions: Sequence[str | None] | None = None,
) -> ChatBatch:
    """:meth:`EDTFormer.prepare <edtformer.model.EDTFormer.prepare>`: a :class:`ChatBatch` on
    the model's device (see there for the arguments)."""
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
    if model.config.fact_sheet and flat:
        if not model.text_only and model.processor is not None:
            mol_batch = model.processor(flat)
        given = [None] * len(asked) if sheet_questions is None else list(sheet_questions)
        cut_for = [user_text(c) if q is None else q for c, q in zip(asked, given, strict=True)]
        sheets = fact_sheets(model, records, mol_batch, cut_for)
        conversations = [
            with_sheets(c, sheets[k : k + n])
            for c, n, k in zip(conversations, n_mols, starts(n_mols), strict=True)
        ]
    if model.text_only or not flat:
        counts = torch.zeros(len(flat), dtype=torch.long)
        conversations = [
            smiles_in_text(c, [r.smiles for r in rs])
            for c, rs in zip(conversations, records, strict=True)
        ]
    else:
        if model.processor is None:
            raise EdtError(
                "this model has no MoleculeProcessor; build it with EDTFormer.build or pass one"
            )
        if mol_batch is None:
            mol_batch = model.processor(flat)
        counts = _tokens_per_molecule(model, mol_batch).cpu()
    # text-only prompts carry SMILES, no <mol>
    in_prompt = n_mols if mol_batch is not None else [0] * len(n_mols)
    pad_id = model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0
    ids, mask, labels, n_prefix = _tokenise(
        model, conversations, in_prompt, counts, generation, pad_id
    )
    batch = ChatBatch(ids, mask, labels, n_prefix, mol_batch, counts, sheets=sheets)
    if mol_batch is not None and model.config.bridge.instruction_aware:
        batch.instruction_ids, batch.instruction_mask = instruction_inputs(
            model.prompts, asked, n_mols, pad_id
        )
    return batch.to(model.new_tokens.rows.device)


def _tokenise(
    model: EDTFormer,
    conversations: Sequence[Sequence[Message]],
    n_mols: Sequence[int],
    counts: Tensor,
    generation: bool,
    pad_id: int,
) -> tuple[Tensor, Tensor, Tensor, int]:
    """``(input_ids, attention_mask, labels, n_prefix)`` of the conversations, each ``<mol>``
    expanded to its molecule's token count (``counts``: int64 ``[M]``, ``n_mols[b]`` of them
    for prompt ``b``); raises :class:`EdtError` when the longest prompt does not fit the LLM."""
    samples, start = [], 0
    for conv, n in zip(conversations, n_mols, strict=True):
        samples.append(model.prompts.encode(conv, counts[start : start + n].tolist(), generation))
        start += n
    ids, mask, labels, n_prefix = pad_samples(samples, pad_id)
    limit = model.max_positions
    if limit is not None and ids.shape[1] > limit:
        raise EdtError(
            f"prompt of {ids.shape[1]:,} tokens; the LLM reads at most {limit:,} positions "
            "(shorten the question or the history)"
        )
    return ids, mask, labels, n_prefix


def _tokens_per_molecule(model: EDTFormer, mol_batch: MoleculeBatch) -> Tensor:
    """Molecule tokens per molecule, int64 ``[M]`` (without running the connector)."""
    fn = model.connector.num_tokens
    return fn(mol_batch.node_mask, mol_batch.patch_ids)  # type: ignore[operator,no-any-return]


def fact_sheets(
    model: EDTFormer,
    records: Sequence[Sequence[MolRecord]],
    mol_batch: MoleculeBatch | None,
    questions: Sequence[str],
) -> list[str]:
    """The fact sheet of every molecule of ``records`` (prompt order), with the BBB read-out's
    estimate when the model has one and, for a prompt's later molecules, whether each is the
    same stereoisomer as its first; cut to the lines each prompt's question names
    (``sheet_lines=question``)."""
    bbb: list[float | None] = [None] * sum(len(rs) for rs in records)
    if model.readout is not None and mol_batch is not None:
        with torch.no_grad():
            feats = [h.to(model.readout.bbb_mean.device) for h in mol_batch.node_feats]
            mask = mol_batch.node_mask.to(model.readout.bbb_mean.device)
            bbb = [float(p) for p in model.readout(feats, mask).tolist()]
    cut = model.config.sheet_lines == "question"
    named = [lines_for(q, [r.smiles for r in rs]) if cut else None
             for rs, q in zip(records, questions, strict=True)]  # fmt: skip
    # in training, whole batches (not single prompts: padding makes every batch as long as its
    # longest prompt) get the whole sheet: those with a question that names no line anyway,
    # and a share chosen by a hash of their questions
    key = "|".join(questions).encode()
    full = model.training and (
        any(n is None for n in named) or zlib.crc32(key) % 1000 < 1000 * model.sheet_full_rate
    )
    out: list[str] = []
    k = 0
    for rs, q, only in zip(records, questions, named, strict=True):
        only = None if full else only
        smiles = [r.smiles for r in rs]
        asked = asked_facts(q, smiles) if model.config.sheet_asked else []
        for j, r in enumerate(rs):
            same = None if j == 0 else same_stereoisomer(rs[0].mol, r.mol)
            values = sheet_values(r.mol)
            out.append(render_sheet(values, bbb=bbb[k], same_as_first=same, only=only, asked=asked))
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
            parts = text.split(MOL_TOKEN)
            text = parts[0] + "".join(
                f"{MOL_TOKEN}\n{sheets[k + j]}{rest}" for j, rest in enumerate(parts[1:])
            )
            k += n
        out.append({**m, "content": text})
    return out

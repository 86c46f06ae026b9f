"""EDT-Former end to end: frozen encoder(s) -> trained bridge -> molecule tokens in a frozen LLM's chat.

Typical use::

    from edtformer.model import EDTFormer, EDTFormerConfig

    model = EDTFormer.build(EDTFormerConfig())            # minimol + SmolLM2 + smol bridge
    batch = model.prepare_qa(["CCO"], ["Is it an alcohol?"], answers=["Yes."])
    out = model(batch)                                    # out.loss: next-token loss on the answer
    model.ask("CCO", "What functional groups does it have?").answer
    model.score(model.prepare_qa(["CCO"], ["Is it an alcohol?"], generation=True), ["Yes", "No"]).best

This module holds the model itself (batch tensors -> loss, scores, generated text). Around it:
:mod:`.configuration` (the config), :mod:`.chat_processing` (:class:`EDTFormerProcessor`: chats +
molecules -> batch, with all the prompt text),
:mod:`.llm_forward` (the one LLM pass; logits -> loss and log-probabilities; generation),
:mod:`.answering` (questions -> :class:`Answer`) and :mod:`.checkpoint` (saving only what was trained).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from edtformer.bridge import BridgeOutput, build_connector
from edtformer.bridge.readout import BBBReadout
from edtformer.chem import MolRecord
from edtformer.errors import EdtError
from edtformer.llm.constrained import AnswerSpec
from edtformer.llm.generation import ChoiceScores, choice_token_ids
from edtformer.llm.loading import load_llm
from edtformer.llm.prefix import PrefixCacheSlot
from edtformer.llm.prompt import IGNORE_INDEX, Message, PromptBuilder
from edtformer.llm.tokens import NewTokenEmbedding, add_molecule_tokens, merge_molecule_tokens
from edtformer.llm.trainable import ParameterCounts, add_lora, count_parameters
from edtformer.model import answering
from edtformer.model.chat_processing import EDTFormerProcessor
from edtformer.model.checkpoint import load_model, save_model
from edtformer.model.configuration import EDTFormerConfig
from edtformer.model.llm_forward import (
    answer_loss,
    generate_answers,
    llm_logits,
    shared_prompt_answer_logprobs,
    summed_logprobs,
)
from edtformer.model.outputs import Answer, ChatBatch, EDTFormerOutput, GenerationOutput
from edtformer.model.processing import MoleculeProcessor, build_processor

logger = logging.getLogger(__name__)

#: Longest answer ``generate`` / ``ask`` produce (tokens).
MAX_NEW_TOKENS = 2048


class EDTFormer(nn.Module):
    """Frozen encoder(s) + trainable connector + frozen causal LLM.

    Build with :meth:`build` (loads the LLM and encoders by name) or pass loaded parts.
    """

    def __init__(
        self,
        config: EDTFormerConfig,
        llm: Any,
        tokenizer: Any,
        processor: MoleculeProcessor | None = None,
    ) -> None:
        super().__init__()
        if config.bridge.llm_width != llm.config.hidden_size:
            raise EdtError(
                f"bridge.llm_width {config.bridge.llm_width} != LLM hidden size {llm.config.hidden_size}"
            )
        self.config = config
        self.llm = llm.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.mol_ids = add_molecule_tokens(tokenizer)
        self.connector = build_connector(config.bridge).requires_grad_(
            config.trainable.bridge_trainable
        )
        self.new_tokens = NewTokenEmbedding(
            llm.get_input_embeddings(),
            self.mol_ids.new_ids,
            config.trainable.new_token_rows_trainable,
        )
        self.text_only = config.bridge.connector == "none"
        self.chat_processor = EDTFormerProcessor(config, tokenizer, self.mol_ids, processor)
        """Chats + molecules -> :class:`ChatBatch`: owns :attr:`processor` and :attr:`prompts`
        (:mod:`edtformer.model.chat_processing`)."""
        self.encoders = nn.ModuleList(processor.encoders if processor is not None else [])
        self.sheet_full_rate = 0.0
        """In training mode, the share of batches (chosen by a hash of their questions) whose
        prompts get the whole sheet although their questions name some lines
        (``sheet_lines=question``), so the LLM also learns to answer from the whole sheet. A
        training batch with a question that names no line gets the whole sheet for every prompt."""
        self.zero_molecule_tokens = False
        """The zero-token control: when True, the bridge's molecule tokens (anchors and dynamic
        tokens) reach the LLM as zero vectors; prompt text and fact sheet are unchanged."""
        self.readout: BBBReadout | None = None
        if config.bbb_readout:
            self.readout = BBBReadout(config.bridge.encoder_widths)
        if config.trainable.lora is not None:
            add_lora(self.llm, config.trainable.lora)
        self.prefix_cache = PrefixCacheSlot()
        """The constant prompt prefix's key/value cache, kept between forwards (``.cache`` is
        ``None`` until a forward used one)."""
        logger.info(
            "EDTFormer [%s, connector %s, mode %s]: %s",
            config.llm,
            config.bridge.connector,
            config.trainable.mode,
            self.parameter_counts().summary(),
        )

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        config: EDTFormerConfig,
        processor: MoleculeProcessor | None = None,
        llm: Any = None,
        tokenizer: Any = None,
    ) -> EDTFormer:
        """Load the LLM and encoders named in ``config`` (unless given) and derive the bridge widths."""
        if llm is None or tokenizer is None:
            llm, tokenizer = load_llm(config.llm)
        rule = config.patch_rule
        if processor is None:
            processor, used = build_processor(
                config.encoders, config.patch_rule, config.bridge.uses_dynamic
            )
            rule = used if config.bridge.uses_dynamic else rule
        bridge = replace(
            config.bridge, encoder_widths=processor.widths, llm_width=int(llm.config.hidden_size)
        )
        config = replace(config, bridge=bridge, encoders=processor.encoder_names, patch_rule=rule)
        return cls(config, llm, tokenizer, processor)

    @property
    def prompts(self) -> PromptBuilder:
        """The prompt builder (chat template, system prompt, ``<mol>`` markers) of
        :attr:`chat_processor`."""
        return self.chat_processor.prompts

    @property
    def processor(self) -> MoleculeProcessor | None:
        """The :class:`MoleculeProcessor` (records -> encoder streams + patches) of
        :attr:`chat_processor`."""
        return self.chat_processor.molecule_processor

    @processor.setter
    def processor(self, value: MoleculeProcessor | None) -> None:
        self.chat_processor.molecule_processor = value

    def train(self, mode: bool = True) -> EDTFormer:
        """Train mode for the connector (and LoRA adapters); encoders and frozen LLM stay in eval."""
        self.training = mode
        self.connector.train(mode)
        self.llm.train(mode and self.config.trainable.lora is not None)
        return self

    def parameter_counts(self) -> ParameterCounts:
        """Trainable / frozen parameters by part (encoders, connector, new token rows, LLM)."""
        return count_parameters(
            {
                "connector": self.connector,
                "new_token_rows": self.new_tokens,
                "llm": self.llm,
                "encoders": self.encoders,
            }
        )

    # -- batches ------------------------------------------------------------------------------
    def prepare(
        self,
        molecules: Sequence[Sequence[MolRecord | str]],
        conversations: Sequence[Sequence[Message]],
        generation: bool = False,
        sheet_questions: Sequence[str | None] | None = None,
    ) -> ChatBatch:
        """Build a :class:`ChatBatch` on the model's device (the one collate function of training
        and inference: :attr:`chat_processor`, given what the batch depends on in the model).

        Args:
            molecules: per prompt, its molecules (records or SMILES) in ``<mol>`` order.
            conversations: per prompt, chat messages whose user turns hold the ``<mol>`` markers
                (see :meth:`PromptBuilder.messages`); assistant turns are labelled.
            generation: end every prompt with the assistant header (generation / scoring).
            sheet_questions: per prompt, the text the fact sheet is cut for (default: its last
                user turn, also where an entry is ``None``); a lettered question scored on its
                bare stem passes the whole question, so the sheet also writes the elements and
                groups its options name.
        """
        batch = self.chat_processor(
            molecules,
            conversations,
            generation,
            sheet_questions,
            # every connector has num_tokens (typed as an nn.Module attribute)
            num_tokens=self.connector.num_tokens,  # type: ignore[arg-type]
            readout=self.readout,
            training=self.training,
            sheet_full_rate=self.sheet_full_rate,
            max_positions=self.max_positions,
        )
        return batch.to(self.new_tokens.rows.device)

    def prepare_qa(
        self,
        smiles: Sequence[MolRecord | str],
        questions: Sequence[str],
        answers: Sequence[str] | None = None,
        generation: bool = False,
    ) -> ChatBatch:
        """One molecule and one question (and answer) per prompt."""
        answers_: Sequence[str | None] = answers if answers is not None else [None] * len(questions)
        if not len(smiles) == len(questions) == len(answers_):
            raise EdtError(
                f"got {len(smiles)} molecules, {len(questions)} questions, {len(answers_)} answers"
            )
        convs = [
            self.chat_processor.messages(q, 1, a) for q, a in zip(questions, answers_, strict=True)
        ]
        return self.prepare([[s] for s in smiles], convs, generation=generation)

    # -- forward ------------------------------------------------------------------------------
    def embed(self, batch: ChatBatch) -> tuple[Tensor, BridgeOutput | None]:
        """Text embeddings with molecule tokens merged in: ``[B, L, d_llm]`` and the bridge output."""
        emb = self.new_tokens(batch.input_ids)  # [B, L, d]
        bridge = None
        feats = emb.new_zeros(0, emb.shape[-1])
        if batch.molecules is not None:
            instr: dict[str, Tensor] = {}
            if batch.instruction_ids is not None and batch.instruction_mask is not None:
                with torch.no_grad():  # the LLM's frozen input embeddings of the question
                    words = self.llm.get_input_embeddings()(batch.instruction_ids)  # [M, T, d]
                instr = {"instruction": words, "instruction_mask": batch.instruction_mask}
            bridge = self.connector(*batch.molecules.inputs(), **instr)
            feats = bridge.flat()  # [sum tokens, d]
            if self.zero_molecule_tokens:
                feats = torch.zeros_like(feats)
        return merge_molecule_tokens(emb, batch.input_ids, self.mol_ids.mol, feats), bridge

    def forward(
        self,
        batch: ChatBatch,
        use_prefix_cache: bool | None = None,
        return_logits: bool = False,
        per_answer: bool = False,
    ) -> EDTFormerOutput:
        """Next-token loss on the assistant tokens through the frozen LLM.

        With ``use_prefix_cache`` (default: whenever allowed) the constant prompt prefix is not
        recomputed: its key/value cache is built once and reused. LM-head logits are computed
        only where a label is predicted unless ``return_logits``. The loss is the mean over every
        answer token of the batch, or with ``per_answer`` the mean over prompts of each prompt's
        mean token loss (a one-word answer then weighs as much as a long description). Where
        ``batch.soft_yes`` is set, the first answer token's loss of those prompts is the
        cross-entropy against (P, 1 - P) over their ``soft_ids`` (yes, no) tokens.
        """
        emb, bridge = self.embed(batch)
        run = llm_logits(
            self.llm,
            self.prefix_cache,
            batch,
            emb,
            use_prefix_cache=use_prefix_cache,
            every_position=return_logits,
        )
        assert run.target is not None
        n_label = int((run.target != IGNORE_INDEX).sum())
        loss = None
        if n_label:
            loss = answer_loss(run.picked, run.target, batch.soft_yes, batch.soft_ids, per_answer)
        logits = run.logits if (return_logits or n_label) else None
        return EDTFormerOutput(loss, logits, n_label, bridge)

    @torch.no_grad()
    def answer_logprobs(self, batch: ChatBatch) -> Tensor:
        """Summed log-probability of each prompt's assistant tokens, float ``[B]`` (one forward).

        Used for cloze scoring of multiple-choice questions: each option's text is the answer of
        its own prompt (as lm-evaluation-harness scores small models).
        """
        emb, _ = self.embed(batch)
        run = llm_logits(self.llm, self.prefix_cache, batch, emb)
        assert run.target is not None
        if not run.target.shape[1]:
            raise EdtError("answer_logprobs: the batch has no assistant tokens")
        return summed_logprobs(run.picked, run.target)

    @torch.no_grad()
    def shared_prompt_logprobs(self, batch: ChatBatch, groups: Sequence[int]) -> Tensor:
        """:meth:`answer_logprobs` for rows that share their prompt, float ``[B]``.

        ``groups[i]`` names row ``i``'s prompt: rows of one group (e.g. the options of one
        multiple-choice question, cloze-scored) must have the same molecules and the same tokens
        before their answer. Each prompt is run once; its key/value cache is copied to its rows,
        which then run their answer tokens only. Equal to :meth:`answer_logprobs` up to float error.
        """
        return shared_prompt_answer_logprobs(self, batch, groups)[0]

    @torch.no_grad()
    def score(
        self, batch: ChatBatch, choices: Sequence[str], use_prefix_cache: bool | None = None
    ) -> ChoiceScores:
        """Score answer options (yes/no, A/B/C/D) by their first token's log-probability, one forward.

        ``batch`` must be prepared with ``generation=True`` (prompts end with the assistant header).
        """
        ids = choice_token_ids(self.tokenizer, choices)
        emb, bridge = self.embed(batch)
        last = batch.attention_mask.sum(dim=1) - 1  # [B]: each prompt's last token
        run = llm_logits(
            self.llm, self.prefix_cache, batch, emb, at=last, use_prefix_cache=use_prefix_cache
        )
        logits = run.picked.float()  # [B, V]
        logp = torch.log_softmax(logits, dim=-1)[:, ids]  # [B, C]
        return ChoiceScores(list(choices), ids, logp, torch.softmax(logp, dim=-1), bridge)

    # -- generation ---------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, batch: ChatBatch, max_new_tokens: int = 64, **kwargs: Any) -> list[str]:
        """Answers for a batch prepared with ``generation=True`` (greedy unless ``do_sample=True``)."""
        return self.generate_details(batch, max_new_tokens, **kwargs).texts

    @torch.no_grad()
    def generate_details(
        self, batch: ChatBatch, max_new_tokens: int = 64, **kwargs: Any
    ) -> GenerationOutput:
        """:meth:`generate` with what a server or an evaluation reports beside the text: the
        answers, the bridge output (token counts per molecule:
        :func:`~edtformer.model.outputs.molecule_token_counts`) and, per answer, whether it
        stopped at ``max_new_tokens``. ``kwargs`` go to the LLM's ``generate`` (``streamer``,
        ``stopping_criteria``, sampling settings).

        Raises:
            EdtError: ``max_new_tokens`` not an integer in 1 .. :data:`MAX_NEW_TOKENS`, or the
                prompt plus ``max_new_tokens`` longer than the LLM reads.
        """
        return generate_answers(self, batch, max_new_tokens, MAX_NEW_TOKENS, **kwargs)

    @property
    def max_positions(self) -> int | None:
        """Positions the LLM reads (prompt + answer), from its config; ``None`` if unknown."""
        n = getattr(getattr(self.llm, "config", None), "max_position_embeddings", None)
        return int(n) if isinstance(n, int) and n > 0 else None

    # -- questions (:mod:`edtformer.model.answering`) -------------------------------------------
    @torch.no_grad()
    def ask(
        self,
        smiles: str | Sequence[str],
        question: str,
        max_new_tokens: int = 64,
        history: Sequence[Message] | None = None,
        **kwargs: Any,
    ) -> Answer:
        """Answer a question about one molecule (or several, e.g. a reaction's).

        ``history``: the ``messages`` of the previous :class:`Answer` for a follow-up question.
        A first question with lettered options is answered by cloze scoring, as in
        :meth:`ask_many`.
        """
        return answering.ask(self, smiles, question, max_new_tokens, history, **kwargs)

    @contextmanager
    def molecule_tokens_zeroed(self) -> Iterator[EDTFormer]:
        """Inside the block the anchors and dynamic tokens reach the LLM as zeros (the zero-token
        control: prompt, fact sheet and question untouched; ``zero_molecule_tokens``); the
        previous setting comes back on leaving, also on an error."""
        before = self.zero_molecule_tokens
        self.zero_molecule_tokens = True
        try:
            yield self
        finally:
            self.zero_molecule_tokens = before

    @staticmethod
    def facts_text(batch: ChatBatch) -> list[str] | None:
        """The fact-sheet text the LLM read, one string per molecule (None without a sheet)."""
        return None if batch.sheets is None else list(batch.sheets)

    def begin_answer(
        self, question: str, messages: list[Message], smiles: Sequence[str] = ()
    ) -> tuple[list[Message], str | None]:
        """The prompt to generate ``question``'s answer from and the answer's fixed start
        (``None``: not begun): JSON under an asked key begun ``{"key":`` (``answer_prefix``), a
        question naming no sheet fact begun "I can't tell" (``decline_unnamed``); what
        :meth:`ask` and ``edt serve`` generate from (:func:`~edtformer.model.answering.started`)."""
        return answering.started(self, question, messages, smiles)

    def answer_names(
        self, question: str, smiles: Sequence[str], prefix: str | None = None
    ) -> AnswerSpec | None:
        """The names a generated answer to ``question`` must list (``constrain_lists``: the
        molecule's functional groups when the group list is the one fact asked), given the
        answer's start ``prefix`` from :meth:`begin_answer`; ``None``: free text.
        :meth:`ask` applies it; pass it as ``name_lists=[...]`` to :meth:`generate_details`
        (:func:`~edtformer.model.answering.name_list`)."""
        return answering.name_list(self, question, smiles, prefix)

    @torch.no_grad()
    def ask_many(
        self,
        molecules: Sequence[str | Sequence[str]],
        questions: str | Sequence[str],
        max_new_tokens: int = 64,
        batch_size: int = 16,
        progress: Callable[[int], None] | None = None,
        **kwargs: Any,
    ) -> list[Answer | EdtError]:
        """Answer many questions, ``batch_size`` prompts per forward.

        Args:
            molecules: one SMILES (or a list of SMILES, e.g. a reaction's) per question.
            questions: one question per molecule, or one question for all.
            progress: called with the number of prompts finished after each batch.

        Returns:
            One :class:`Answer` per input, in order, or the :class:`EdtError` that input raised
            (an invalid SMILES, a question too long, ...): one bad row never stops the others.
            Questions with lettered options are cloze-scored (:mod:`edtformer.model.answering`).
        """
        return answering.ask_many(
            self, molecules, questions, max_new_tokens, batch_size, progress, **kwargs
        )

    @torch.no_grad()
    def score_many(
        self,
        molecules: Sequence[str | Sequence[str]],
        questions: str | Sequence[str],
        choices: Sequence[str],
        batch_size: int = 16,
    ) -> list[dict[str, float] | EdtError]:
        """Option probabilities for many questions: one forward per ``batch_size`` prompts, no
        generation (``choices`` such as ``["yes", "no"]`` or ``["A", "B", "C", "D"]``, told apart
        by their first token, renormalised over the options as :meth:`score` does).

        Returns:
            One ``{option: probability}`` per input, in order, or the :class:`EdtError` that input
            raised (an invalid SMILES, a question too long, ...).
        """
        return answering.score_many(self, molecules, questions, choices, batch_size)

    # -- saving -------------------------------------------------------------------------------
    def trained_state_dict(self) -> dict[str, Tensor]:
        """What a checkpoint holds: connector, new token rows, LoRA adapters (never the frozen parts)."""
        state = {f"connector.{k}": v for k, v in self.connector.state_dict().items()}
        state["new_tokens.rows"] = self.new_tokens.rows
        if self.readout is not None:
            state.update({f"readout.{k}": v for k, v in self.readout.state_dict().items()})
        if self.config.trainable.lora is not None:
            state.update({f"llm.{n}": p for n, p in self.llm.named_parameters() if "lora_" in n})
        return {k: v.detach().cpu().contiguous() for k, v in state.items()}

    def save_pretrained(self, path: Any, dtype: torch.dtype | None = None) -> None:
        """Write ``config.json`` + ``model.safetensors`` atomically (see :mod:`edtformer.model.checkpoint`).

        ``dtype`` (e.g. ``torch.bfloat16``): store the trained floating-point tensors in it (half
        the file; they are cast back to the model's dtype on loading)."""
        save_model(self, path, dtype=dtype)

    @classmethod
    def from_pretrained(
        cls,
        path: Any,
        processor: MoleculeProcessor | None = None,
        llm: Any = None,
        tokenizer: Any = None,
    ) -> EDTFormer:
        """Rebuild a saved model: frozen parts from their ids, trained tensors from the folder."""
        return load_model(cls, path, processor=processor, llm=llm, tokenizer=tokenizer)


__all__ = [
    "MAX_NEW_TOKENS",
    "Answer",
    "ChatBatch",
    "EDTFormer",
    "EDTFormerConfig",
    "EDTFormerOutput",
    "GenerationOutput",
]

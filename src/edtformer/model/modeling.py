"""EDT-Former end to end: frozen encoder(s) -> trained bridge -> molecule tokens in a frozen LLM's chat.

Typical use::

    from edtformer.model import EDTFormer, EDTFormerConfig

    model = EDTFormer.build(EDTFormerConfig())            # minimol + SmolLM2 + smol bridge
    batch = model.prepare_qa(["CCO"], ["Is it an alcohol?"], answers=["Yes."])
    out = model(batch)                                    # out.loss: next-token loss on the answer
    model.ask("CCO", "What functional groups does it have?").answer
    model.score(model.prepare_qa(["CCO"], ["Is it an alcohol?"], generation=True), ["Yes", "No"]).best

Saving writes only what was trained (:mod:`edtformer.model.checkpoint`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edtformer.bridge import BridgeConfig, BridgeOutput, build_connector, smol
from edtformer.bridge.readout import BBBReadout
from edtformer.chem import MolRecord, parse_smiles
from edtformer.errors import EdtError
from edtformer.llm.generation import ChoiceScores, choice_token_ids, generate_from_embeds
from edtformer.llm.loading import DEFAULT_LLM, load_llm
from edtformer.llm.options import LetteredQuestion, cloze_probs, parse_options
from edtformer.llm.prefix import PrefixCache, cache_rows, returned_cache
from edtformer.llm.prompt import IGNORE_INDEX, Message, PromptBuilder, pad_samples
from edtformer.llm.tokens import (
    MOL_TOKEN,
    NewTokenEmbedding,
    add_molecule_tokens,
    merge_molecule_tokens,
)
from edtformer.llm.trainable import ParameterCounts, TrainableConfig, add_lora, count_parameters
from edtformer.model.outputs import Answer, ChatBatch, EDTFormerOutput
from edtformer.model.processing import MoleculeBatch, MoleculeProcessor, build_processor

logger = logging.getLogger(__name__)

#: Longest answer ``generate`` / ``ask`` produce (tokens).
MAX_NEW_TOKENS = 2048


def _soft_first_token(
    tok: Tensor, logits: Tensor, target: Tensor, soft_yes: Tensor, soft_ids: Tensor | None
) -> Tensor:
    """Replace each soft prompt's first answer-token loss by a soft cross-entropy.

    Args:
        tok: float ``[B, K]`` per-token losses (0 where ignored).
        logits: ``[B, K, V]`` logits at the same positions.
        target: int64 ``[B, K]`` next-token labels (``IGNORE_INDEX`` where none).
        soft_yes: float ``[B]``: P(yes), NaN for prompts with a hard answer.
        soft_ids: int64 ``[B, 2]``: (yes, no) token ids of each soft prompt's first answer token.

    Returns:
        ``tok`` with ``-(p log q(yes) + (1 - p) log q(no))`` at each soft prompt's first label.
    """
    rows = torch.nonzero(~torch.isnan(soft_yes)).flatten()  # [S]
    if not rows.numel():
        return tok
    if soft_ids is None:
        raise EdtError("soft answer targets need soft_ids (the yes / no token of each prompt)")
    labelled = target[rows] != IGNORE_INDEX  # [S, K]
    if not bool(labelled.any(dim=1).all()):
        raise EdtError("a prompt with a soft answer target has no answer tokens")
    col = labelled.to(torch.int8).argmax(dim=1)  # [S]: first labelled position
    logp = F.log_softmax(logits[rows, col].float(), dim=-1)  # [S, V]
    ids = soft_ids[rows].to(logp.device)  # [S, 2]
    pair = logp.gather(1, ids)  # [S, 2]
    p = soft_yes[rows].to(pair.dtype)
    soft = -(p * pair[:, 0] + (1 - p) * pair[:, 1])  # [S]
    out = tok.clone()
    out[rows, col] = soft.to(out.dtype)
    return out


def _summed_logprobs(logits: Tensor, target: Tensor) -> Tensor:
    """Summed log-probability of the ``target`` tokens, float ``[B]``, from the logits that
    predict them ``[B, K, V]``; ``IGNORE_INDEX`` targets ``[B, K]`` count 0."""
    logp = torch.log_softmax(logits.float(), dim=-1)  # [B, K, V]
    picked = logp.gather(-1, target.clamp_min(0).unsqueeze(-1)).squeeze(-1)  # [B, K]
    return (picked * (target != IGNORE_INDEX)).sum(dim=1)


def _starts(sizes: Sequence[int]) -> list[int]:
    """Start offset of each group of ``sizes`` in the flat order."""
    out, k = [], 0
    for n in sizes:
        out.append(k)
        k += n
    return out


def _question(conv: Sequence[Message]) -> str:
    """The text of a conversation's user turns (what a sheet is cut for: the lines any of them
    names, so a follow-up keeps the lines of the first question)."""
    return "\n".join(m["content"] for m in conv if m["role"] == "user")


def _with_sheets(conv: Sequence[Message], sheets: Sequence[str]) -> list[Message]:
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


@dataclass
class EDTFormerConfig:
    """The whole model. The bridge's input/output widths are derived from the encoders and the LLM."""

    encoders: tuple[str, ...] = ("minimol",)
    """Registry names of the frozen graph encoders; more than one = fused streams."""
    llm: str = DEFAULT_LLM
    """The frozen causal LLM: ``smollm2-135m-instruct`` (embedded), a hub id or a local folder."""
    bridge: BridgeConfig = field(default_factory=smol)
    """Connector kind and sizes (preset ``smol``; ``encoder_widths``/``llm_width`` derived)."""
    patch_rule: str = "combine"
    """Patching rule of :mod:`edtformer.patching` for the dynamic tokens."""
    system_prompt: str | None = None
    """System message; ``None`` keeps the chat template's default."""
    boundary_tokens: bool = True
    """Wrap each molecule's tokens in ``<mol_start>`` / ``<mol_end>``."""
    trainable: TrainableConfig = field(default_factory=TrainableConfig)
    """What trains (default: bridge only)."""
    fact_sheet: bool = False
    """Write each molecule's exact RDKit fact sheet (:func:`edtformer.facts.render_sheet`) as
    text right after its molecule tokens, for the LLM to read."""
    sheet_lines: str = "question"
    """With ``fact_sheet``: ``question`` writes only the sheet lines the question names
    (:func:`edtformer.facts.select.lines_for`; the whole sheet when it names none), ``all`` the
    whole sheet always."""
    sheet_asked: bool = True
    """With ``fact_sheet``: also write each element and functional group the question names as
    its own fact (``chlorine atoms: 2``, ``ester: no``; :func:`edtformer.facts.select.asked_facts`),
    so an absent one is a written 0 / no."""
    bbb_readout: bool = False
    """Keep a learned blood-brain-barrier read-out of the pooled frozen streams
    (:class:`~edtformer.bridge.readout.BBBReadout`); with ``fact_sheet`` its P(BBB+) is written
    on the sheet as a labelled estimate."""

    def __post_init__(self) -> None:
        self.encoders = tuple(self.encoders)
        if self.sheet_lines not in ("question", "all"):
            raise EdtError(f"sheet_lines must be 'question' or 'all', got {self.sheet_lines!r}")
        if isinstance(self.bridge, dict):
            self.bridge = BridgeConfig.from_dict(self.bridge)
        if isinstance(self.trainable, dict):
            self.trainable = TrainableConfig(**self.trainable)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "encoders": list(self.encoders),
            "llm": self.llm,
            "bridge": self.bridge.to_dict(),
            "patch_rule": self.patch_rule,
            "system_prompt": self.system_prompt,
            "boundary_tokens": self.boundary_tokens,
            "trainable": self.trainable.to_dict(),
            "fact_sheet": self.fact_sheet,
            "sheet_lines": self.sheet_lines,
            "sheet_asked": self.sheet_asked,
            "bbb_readout": self.bbb_readout,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EDTFormerConfig:
        """Inverse of :meth:`to_dict`; unknown keys, values of the wrong JSON type and unknown
        patch rules raise :class:`EdtError`."""
        from edtformer.bridge.config import check_json_types
        from edtformer.patching import RULES

        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise EdtError(f"unknown model config keys {unknown}")
        check_json_types(cls, {k: v for k, v in d.items() if k not in ("bridge", "trainable")},
                         "model config")  # fmt: skip
        if "patch_rule" in d and d["patch_rule"] not in (*RULES, "none"):
            raise EdtError(
                f"model config: patch_rule {d['patch_rule']!r} is not one of {[*RULES, 'none']}"
            )
        if not isinstance(d.get("bridge", {}), dict) or not isinstance(
            d.get("trainable", {}), dict
        ):
            raise EdtError("model config: bridge and trainable must be JSON objects")
        return cls(**d)


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
        self.prompts = PromptBuilder(
            tokenizer,
            self.mol_ids,
            config.system_prompt,
            config.boundary_tokens and not self.text_only,
        )
        self.processor = processor
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
        self._prefix: PrefixCache | None = None
        self._prefix_version: tuple[int, ...] = ()
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
        """Build a :class:`ChatBatch` (the one collate function of training and inference).

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
        if len(molecules) != len(conversations):
            raise EdtError(f"got {len(molecules)} molecule lists for {len(conversations)} prompts")
        records = [
            [m if isinstance(m, MolRecord) else parse_smiles(m) for m in mols] for mols in molecules
        ]
        flat = [r for rs in records for r in rs]
        mol_batch: MoleculeBatch | None = None
        sheets: list[str] | None = None
        asked = conversations  # the questions as asked (instruction-aware queries read these)
        if self.config.fact_sheet and flat:
            if not self.text_only and self.processor is not None:
                mol_batch = self.processor(flat)
            given = [None] * len(asked) if sheet_questions is None else list(sheet_questions)
            cut_for = [_question(c) if q is None else q for c, q in zip(asked, given, strict=True)]
            sheets = self._sheets(records, mol_batch, cut_for)
            conversations = [
                _with_sheets(c, sheets[k : k + len(rs)])
                for c, rs, k in zip(
                    conversations, records, _starts([len(rs) for rs in records]), strict=True
                )
            ]
        if self.text_only or not flat:
            counts = torch.zeros(len(flat), dtype=torch.long)
            conversations = [
                self._smiles_in_text(c, [r.smiles for r in rs])
                for c, rs in zip(conversations, records, strict=True)
            ]
        else:
            if self.processor is None:
                raise EdtError(
                    "this model has no MoleculeProcessor; build it with EDTFormer.build or pass one"
                )
            if mol_batch is None:
                mol_batch = self.processor(flat)
            counts = self._num_tokens(mol_batch).cpu()
        samples, start = [], 0
        for conv, rs in zip(conversations, records, strict=True):
            n = 0 if mol_batch is None else len(rs)  # text-only prompts carry SMILES, no <mol>
            samples.append(
                self.prompts.encode(conv, counts[start : start + n].tolist(), generation)
            )
            start += n
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids, mask, labels, n_prefix = pad_samples(samples, pad_id)
        limit = self.max_positions
        if limit is not None and ids.shape[1] > limit:
            raise EdtError(
                f"prompt of {ids.shape[1]:,} tokens; the LLM reads at most {limit:,} positions "
                "(shorten the question or the history)"
            )
        device = self.new_tokens.rows.device
        batch = ChatBatch(ids, mask, labels, n_prefix, mol_batch, counts, sheets=sheets)
        if mol_batch is not None and self.config.bridge.instruction_aware:
            batch.instruction_ids, batch.instruction_mask = self._instructions(
                asked, [len(rs) for rs in records], pad_id
            )
        return batch.to(device)

    def _sheets(
        self,
        records: Sequence[Sequence[MolRecord]],
        mol_batch: MoleculeBatch | None,
        questions: Sequence[str],
    ) -> list[str]:
        """The fact sheet of every molecule of ``records`` (prompt order), with the BBB read-out's
        estimate when the model has one and, for a prompt's later molecules, whether each is the
        same stereoisomer as its first; cut to the lines each prompt's question names
        (``sheet_lines=question``)."""
        import zlib

        from edtformer.facts import render_sheet, same_stereoisomer, sheet_values
        from edtformer.facts.select import asked_facts, lines_for

        bbb: list[float | None] = [None] * sum(len(rs) for rs in records)
        if self.readout is not None and mol_batch is not None:
            with torch.no_grad():
                feats = [h.to(self.readout.bbb_mean.device) for h in mol_batch.node_feats]
                mask = mol_batch.node_mask.to(self.readout.bbb_mean.device)
                bbb = [float(p) for p in self.readout(feats, mask).tolist()]
        cut = self.config.sheet_lines == "question"
        named = [lines_for(q, [r.smiles for r in rs]) if cut else None
                 for rs, q in zip(records, questions, strict=True)]  # fmt: skip
        # in training, whole batches (not single prompts: padding makes every batch as long as its
        # longest prompt) get the whole sheet: those with a question that names no line anyway,
        # and a share chosen by a hash of their questions
        key = "|".join(questions).encode()
        full = self.training and (
            any(n is None for n in named) or zlib.crc32(key) % 1000 < 1000 * self.sheet_full_rate
        )
        out: list[str] = []
        k = 0
        for rs, q, only in zip(records, questions, named, strict=True):
            only = None if full else only
            smiles = [r.smiles for r in rs]
            asked = asked_facts(q, smiles) if self.config.sheet_asked else []
            for j, r in enumerate(rs):
                same = None if j == 0 else same_stereoisomer(rs[0].mol, r.mol)
                values = sheet_values(r.mol)
                out.append(
                    render_sheet(values, bbb=bbb[k], same_as_first=same, only=only, asked=asked)
                )
                k += 1
        return out

    #: Longest question (tokens) an instruction-aware connector reads; longer ones are cut.
    MAX_INSTRUCTION_TOKENS = 96

    def _instructions(
        self, conversations: Sequence[Sequence[Message]], n_mols: Sequence[int], pad_id: int
    ) -> tuple[Tensor, Tensor]:
        """Each molecule's question ids ``[M, T]`` and mask ``[M, T]``.

        The question is the text of its prompt's last user turn with the ``<mol>`` markers
        removed (in a chat follow-up: the follow-up), tokenised without special tokens.
        """
        rows: list[list[int]] = []
        for conv, n in zip(conversations, n_mols, strict=True):
            users = [m["content"] for m in conv if m["role"] == "user"]
            text = " ".join((users[-1] if users else "").replace(MOL_TOKEN, " ").split())
            ids = self.prompts.text_ids(text)[: self.MAX_INSTRUCTION_TOKENS] or [pad_id]
            rows += [ids] * n
        t = max(len(r) for r in rows)
        out = torch.full((len(rows), t), pad_id, dtype=torch.long)
        mask = torch.zeros(len(rows), t, dtype=torch.bool)
        for i, r in enumerate(rows):
            out[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = True
        return out, mask

    def _num_tokens(self, mol_batch: MoleculeBatch) -> Tensor:
        """Molecule tokens per molecule, int64 ``[M]`` (without running the connector)."""
        fn = self.connector.num_tokens
        return fn(mol_batch.node_mask, mol_batch.patch_ids)  # type: ignore[operator,no-any-return]

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
        convs = [self.prompts.messages(q, 1, a) for q, a in zip(questions, answers_, strict=True)]
        return self.prepare([[s] for s in smiles], convs, generation=generation)

    def _smiles_in_text(self, conv: Sequence[Message], smiles: list[str]) -> list[Message]:
        out, k = [], 0
        for m in conv:
            n = m["content"].count(MOL_TOKEN)
            content = (
                PromptBuilder.smiles_text(m["content"], smiles[k : k + n]) if n else m["content"]
            )
            out.append({**m, "content": content})
            k += n
        return out

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

    def _prefix_kwargs(self, batch: ChatBatch, use: bool | None) -> tuple[int, dict[str, Any]]:
        """``(prefix length skipped, cache kwargs)`` for a forward over ``batch``."""
        trainable = [p for p in self.llm.parameters() if p.requires_grad]
        # with trainable LLM weights (LoRA) the cache is valid only at inference (no gradients,
        # eval mode), and only for the weights it was built with (their in-place version counts)
        inference = not torch.is_grad_enabled() and not self.llm.training
        allowed = batch.n_prefix > 0 and (not trainable or inference)
        if use and not allowed:
            raise EdtError(
                "the prefix KV cache needs a shared prompt prefix and a frozen LLM (with LoRA: "
                "inference only, under torch.no_grad() in eval mode)"
            )
        if not (allowed if use is None else use):
            return 0, {}
        prefix = batch.input_ids[0, : batch.n_prefix].tolist()
        version = tuple(p._version for p in trainable)
        if (
            self._prefix is None
            or list(self._prefix.prefix_ids) != prefix
            or self._prefix_version != version
        ):
            self._prefix = PrefixCache(self.llm, prefix)
            self._prefix_version = version
        return batch.n_prefix, {
            **self._prefix.for_batch(batch.input_ids.shape[0]),
            "use_cache": True,
        }

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
        skip, kwargs = self._prefix_kwargs(batch, use_prefix_cache)
        emb, labels = emb[:, skip:], batch.labels[:, skip:]  # [B, L', d], [B, L']
        target = labels[:, 1:]  # [B, L'-1]: position t predicts token t + 1
        keep = torch.nonzero((target != IGNORE_INDEX).any(dim=0)).flatten()  # [K]
        if return_logits:
            keep_arg: Any = 0
        else:
            keep_arg = keep if keep.numel() else torch.zeros(1, dtype=torch.long, device=emb.device)
        out = self.llm(
            inputs_embeds=emb,
            attention_mask=batch.attention_mask,
            logits_to_keep=keep_arg,
            **kwargs,
        )
        logits = out.logits  # [B, K, V] or [B, L', V]
        n_label = int((target != IGNORE_INDEX).sum())
        loss = None
        if n_label:
            picked = logits[:, keep] if return_logits else logits  # [B, K, V]
            tgt = target[:, keep]  # [B, K]
            tok = F.cross_entropy(
                picked.flatten(0, 1).float(),
                tgt.flatten(),
                ignore_index=IGNORE_INDEX,
                reduction="none",
            ).view(tgt.shape)  # [B, K], 0 where ignored
            if batch.soft_yes is not None:
                tok = _soft_first_token(tok, picked, tgt, batch.soft_yes, batch.soft_ids)
            if per_answer:
                n_tok = (tgt != IGNORE_INDEX).sum(dim=1)  # [B]
                has = n_tok > 0
                loss = (tok.sum(dim=1)[has] / n_tok[has]).mean()
            else:
                loss = tok.sum() / n_label
        return EDTFormerOutput(
            loss, logits if (return_logits or n_label) else None, n_label, bridge
        )

    @torch.no_grad()
    def answer_logprobs(self, batch: ChatBatch) -> Tensor:
        """Summed log-probability of each prompt's assistant tokens, float ``[B]`` (one forward).

        Used for cloze scoring of multiple-choice questions: each option's text is the answer of
        its own prompt (as lm-evaluation-harness scores small models).
        """
        emb, _ = self.embed(batch)
        skip, kwargs = self._prefix_kwargs(batch, None)
        target = batch.labels[:, skip:][:, 1:]  # [B, L'-1]
        keep = torch.nonzero((target != IGNORE_INDEX).any(dim=0)).flatten()  # [K]
        if not keep.numel():
            raise EdtError("answer_logprobs: the batch has no assistant tokens")
        out = self.llm(
            inputs_embeds=emb[:, skip:],
            attention_mask=batch.attention_mask,
            logits_to_keep=keep,
            **kwargs,
        )
        return _summed_logprobs(out.logits, target[:, keep])

    @torch.no_grad()
    def shared_prompt_logprobs(self, batch: ChatBatch, groups: Sequence[int]) -> Tensor:
        """:meth:`answer_logprobs` for rows that share their prompt, float ``[B]``.

        ``groups[i]`` names row ``i``'s prompt: rows of one group (e.g. the options of one
        multiple-choice question, cloze-scored) must have the same molecules and the same tokens
        before their answer. Each prompt is run once; its key/value cache is copied to its rows,
        which then run their answer tokens only. Equal to :meth:`answer_logprobs` up to float error.
        """
        return self._shared_prompt_logprobs(batch, groups)[0]

    def _shared_prompt_logprobs(
        self, batch: ChatBatch, groups: Sequence[int]
    ) -> tuple[Tensor, BridgeOutput | None]:
        """:meth:`shared_prompt_logprobs` ``[B]`` and the bridge output of the batch."""
        if len(groups) != batch.input_ids.shape[0]:
            raise EdtError(f"got {len(groups)} groups for {batch.input_ids.shape[0]} rows")
        labelled = batch.labels != IGNORE_INDEX  # [B, L]
        if not bool(labelled.any(dim=1).all()):
            raise EdtError("shared_prompt_logprobs: a row has no assistant tokens")
        first = labelled.int().argmax(dim=1)  # [B]: first answer position = prompt length
        ends = labelled.shape[1] - labelled.flip(1).int().argmax(dim=1)  # [B]: past the last
        first_row: dict[int, int] = {}  # group -> its first row, in order of appearance
        for i, g in enumerate(groups):
            first_row.setdefault(g, i)
        order = {g: k for k, g in enumerate(first_row)}
        leader = torch.tensor(list(first_row.values()))  # [G]
        row_group = torch.tensor([order[g] for g in groups])  # [B]
        plen = first[leader]  # [G]
        for i, g in enumerate(row_group.tolist()):
            r, n = int(leader[g]), int(plen[g])
            if int(first[i]) != n or not torch.equal(
                batch.input_ids[i, :n], batch.input_ids[r, :n]
            ):
                raise EdtError(f"row {i} does not share the prompt of row {r} (its group)")
        emb, bridge = self.embed(batch)  # [B, L, d]
        p_max = int(plen.max())
        pos = torch.arange(p_max)
        mask_p = (pos[None, :] < plen[:, None]).to(batch.attention_mask.dtype)  # [G, P]
        prompt_batch = replace(batch, input_ids=batch.input_ids[leader, :p_max])
        skip, kwargs = self._prefix_kwargs(prompt_batch, None)
        keep = torch.unique(plen - 1 - skip)  # [K]: positions predicting the first answer token
        out = self.llm(
            inputs_embeds=emb[leader, skip:p_max],
            attention_mask=mask_p,
            logits_to_keep=keep,
            **{**kwargs, "use_cache": True},
        )
        col = torch.searchsorted(keep, plen - 1 - skip)  # [G]
        first_logits = out.logits[torch.arange(len(leader)), col]  # [G, V]: the first answer token
        # answers: tokens first[i] .. ends[i] of each row, right-padded to T
        span = ends - first  # [B]
        t_max = int(span.max())
        idx = first[:, None] + torch.arange(t_max)[None, :]  # [B, T]
        valid = torch.arange(t_max)[None, :] < span[:, None]  # [B, T]
        idx = idx.clamp_max(batch.input_ids.shape[1] - 1)
        ans_emb = emb.gather(1, idx[..., None].expand(-1, -1, emb.shape[-1]))  # [B, T, d]
        target = batch.labels.gather(1, idx).masked_fill(~valid, IGNORE_INDEX)  # [B, T]
        mask = torch.cat([mask_p[row_group], valid.to(mask_p.dtype)], dim=1)  # [B, P + T]
        positions = first[:, None] + torch.arange(t_max)[None, :]  # [B, T]
        cont = self.llm(
            inputs_embeds=ans_emb,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **cache_rows(self.llm, returned_cache(out), row_group),
        )
        # the logits predicting answer tokens 0 .. T-1: the prompt's last, then the answer's own
        logits = torch.cat([first_logits[row_group].unsqueeze(1), cont.logits[:, :-1]], dim=1)
        return _summed_logprobs(logits, target), bridge  # [B]

    @torch.no_grad()
    def score(
        self, batch: ChatBatch, choices: Sequence[str], use_prefix_cache: bool | None = None
    ) -> ChoiceScores:
        """Score answer options (yes/no, A/B/C/D) by their first token's log-probability, one forward.

        ``batch`` must be prepared with ``generation=True`` (prompts end with the assistant header).
        """
        ids = choice_token_ids(self.tokenizer, choices)
        emb, _ = self.embed(batch)
        skip, kwargs = self._prefix_kwargs(batch, use_prefix_cache)
        last = batch.attention_mask.sum(dim=1) - 1 - skip  # [B]
        keep = torch.unique(last)  # [K], sorted
        out = self.llm(
            inputs_embeds=emb[:, skip:],
            attention_mask=batch.attention_mask,
            logits_to_keep=keep,
            **kwargs,
        )
        col = torch.searchsorted(keep, last)  # [B]
        logits = out.logits[torch.arange(len(last)), col].float()  # [B, V]
        logp = torch.log_softmax(logits, dim=-1)[:, ids]  # [B, C]
        return ChoiceScores(list(choices), ids, logp, torch.softmax(logp, dim=-1))

    @torch.no_grad()
    def generate(self, batch: ChatBatch, max_new_tokens: int = 64, **kwargs: Any) -> list[str]:
        """Answers for a batch prepared with ``generation=True`` (greedy unless ``do_sample=True``)."""
        return self._generate(batch, max_new_tokens, **kwargs)[0]

    @torch.no_grad()
    def generate_details(
        self, batch: ChatBatch, max_new_tokens: int = 64, **kwargs: Any
    ) -> tuple[list[str], BridgeOutput | None, list[bool]]:
        """:meth:`generate` with what a server or an evaluation reports beside the text: the
        answers, the bridge output (token counts per molecule) and, per answer, whether it
        stopped at ``max_new_tokens``. ``kwargs`` go to ``generate`` (``streamer``,
        ``stopping_criteria``, sampling settings)."""
        return self._generate(batch, max_new_tokens, **kwargs)

    @property
    def max_positions(self) -> int | None:
        """Positions the LLM reads (prompt + answer), from its config; ``None`` if unknown."""
        n = getattr(getattr(self.llm, "config", None), "max_position_embeddings", None)
        return int(n) if isinstance(n, int) and n > 0 else None

    def _generate(
        self, batch: ChatBatch, max_new_tokens: int, **kwargs: Any
    ) -> tuple[list[str], BridgeOutput | None, list[bool]]:
        """Answers, the bridge output, and whether each answer was cut at ``max_new_tokens``."""
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
            raise EdtError(f"max_new_tokens must be an integer, got {max_new_tokens!r}")
        if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
            raise EdtError(f"max_new_tokens must be 1 to {MAX_NEW_TOKENS:,}, got {max_new_tokens}")
        limit = self.max_positions
        if limit is not None and batch.input_ids.shape[1] + max_new_tokens > limit:
            raise EdtError(
                f"prompt ({batch.input_ids.shape[1]:,} tokens) + max_new_tokens ({max_new_tokens:,})"
                f" exceed the LLM's {limit:,} positions"
            )
        emb, bridge = self.embed(batch)
        new = generate_from_embeds(
            self.llm,
            self.tokenizer,
            emb,
            batch.attention_mask,
            max_new_tokens,
            suppress_ids=self.mol_ids.new_ids,
            **kwargs,
        )
        cut = [len(ids) >= max_new_tokens for ids in new]
        return [self.prompts.decode(ids) for ids in new], bridge, cut

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
        """
        mols = [smiles] if isinstance(smiles, str) else list(smiles)
        if not history and parse_options(question) is not None:  # lettered options: cloze-scored
            [chosen] = self.ask_many([mols], question, max_new_tokens, batch_size=1)
            if isinstance(chosen, EdtError):
                raise chosen
            return chosen
        if history:  # a follow-up: no molecule of its own, so a typed <mol> is plain text
            messages = [*history, {"role": "user", "content": self.prompts.user_text(question, 0)}]
        else:
            messages = self.prompts.messages(question, len(mols))
        batch = self.prepare([mols], [messages], generation=True)
        [text], bridge, [cut] = self._generate(batch, max_new_tokens, **kwargs)
        if cut:
            logger.warning("the answer stopped at max_new_tokens=%d", max_new_tokens)
        facts = self.facts_text(batch)
        n_anchor = bridge.n_anchors * len(mols) if bridge is not None else 0
        n_dyn = int(bridge.n_dynamic.sum()) if bridge is not None else 0
        return Answer(
            smiles=mols,
            question=question,
            answer=text,
            n_molecule_tokens=int(batch.mol_counts.sum()),
            n_anchor_tokens=n_anchor,
            n_dynamic_tokens=n_dyn,
            n_dropped_patches=int(bridge.n_dropped.sum()) if bridge is not None else 0,
            messages=[*messages, {"role": "assistant", "content": text}],
            truncated=cut,
            facts=facts,
        )

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

    def _many_prompts(
        self,
        molecules: Sequence[str | Sequence[str]],
        questions: str | Sequence[str],
        batch_size: int,
    ) -> tuple[list[str], list[tuple[int, list[MolRecord], list[Message]]], dict[int, EdtError]]:
        """The questions (one per molecule), the parsed prompts ``(index, records, messages)``
        and the error of each input that could not be parsed (:meth:`ask_many`, :meth:`score_many`)."""
        qs = [questions] * len(molecules) if isinstance(questions, str) else list(questions)
        if len(qs) != len(molecules):
            raise EdtError(f"got {len(molecules)} molecules and {len(qs)} questions")
        if batch_size < 1:
            raise EdtError(f"batch_size must be at least 1, got {batch_size}")
        ready: list[tuple[int, list[MolRecord], list[Message]]] = []
        errors: dict[int, EdtError] = {}
        for i, (mol, q) in enumerate(zip(molecules, qs, strict=True)):
            smiles = [mol] if isinstance(mol, str) else list(mol)
            try:
                records = [parse_smiles(s) for s in smiles]
                ready.append((i, records, self.prompts.messages(q, len(records))))
            except EdtError as exc:
                errors[i] = exc
        return qs, ready, errors

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
        """
        qs, ready, errors = self._many_prompts(molecules, questions, batch_size)
        out: list[Answer | EdtError] = [EdtError("not answered")] * len(qs)
        for i, exc in errors.items():
            out[i] = exc
        lettered = {i: parse_options(qs[i]) for i, _, _ in ready}
        for start in range(0, len(ready), batch_size):
            chunk = ready[start : start + batch_size]
            gen = [c for c in chunk if lettered[c[0]] is None]
            mc = [(i, r, m, q) for i, r, m in chunk if (q := lettered[i]) is not None]
            done: dict[int, Answer | EdtError] = {}
            try:
                done.update(self._generated(gen, qs, max_new_tokens, **kwargs) if gen else {})
            except EdtError as exc:
                done.update({i: exc for i, *_ in gen})
            try:
                done.update(self._chosen(mc, qs) if mc else {})
            except EdtError as exc:
                done.update({i: exc for i, *_ in mc})
            for i, a in done.items():
                out[i] = a
            if progress is not None:
                progress(len(chunk))
        return out

    def _answers(
        self,
        batch: ChatBatch,
        bridge: BridgeOutput | None,
        row_mols: Sequence[int],
        rows: Sequence[int],
        chunk: Sequence[tuple[int, list[MolRecord], list[Message]]],
        qs: Sequence[str],
        texts: Sequence[str],
        cuts: Sequence[bool] | None = None,
        options: Sequence[dict[str, float]] | None = None,
    ) -> dict[int, Answer]:
        """One :class:`Answer` per question of ``chunk`` (keyed by its input index).

        ``row_mols``: molecules of each batch row; ``rows[k]``: the batch row of question ``k``.
        """
        ends = torch.tensor(list(row_mols)).cumsum(0).tolist()
        counts = batch.mol_counts.tolist()
        facts = self.facts_text(batch)
        out: dict[int, Answer] = {}
        for k, (i, records, msgs) in enumerate(chunk):
            hi = ends[rows[k]]
            lo = hi - row_mols[rows[k]]
            out[i] = Answer(
                smiles=[r.smiles for r in records],
                question=qs[i],
                answer=texts[k],
                n_molecule_tokens=int(sum(counts[lo:hi])),
                n_anchor_tokens=0 if bridge is None else bridge.n_anchors * (hi - lo),
                n_dynamic_tokens=0 if bridge is None else int(bridge.n_dynamic[lo:hi].sum()),
                n_dropped_patches=0 if bridge is None else int(bridge.n_dropped[lo:hi].sum()),
                messages=[*msgs, {"role": "assistant", "content": texts[k]}],
                truncated=False if cuts is None else cuts[k],
                facts=None if facts is None else facts[lo:hi],
                options=None if options is None else options[k],
            )
        return out

    def _generated(
        self,
        chunk: Sequence[tuple[int, list[MolRecord], list[Message]]],
        qs: Sequence[str],
        max_new_tokens: int,
        **kwargs: Any,
    ) -> dict[int, Answer]:
        """Greedy (or sampled) answers of one batch of questions."""
        batch = self.prepare([r for _, r, _ in chunk], [m for *_, m in chunk], True)
        texts, bridge, cuts = self._generate(batch, max_new_tokens, **kwargs)
        n_mols = [len(r) for _, r, _ in chunk]
        return self._answers(batch, bridge, n_mols, range(len(chunk)), chunk, qs, texts, cuts)

    def _chosen(
        self,
        chunk: Sequence[tuple[int, list[MolRecord], list[Message], LetteredQuestion]],
        qs: Sequence[str],
    ) -> dict[int, Answer]:
        """Answers of questions with lettered options, by cloze scoring: each option's text is
        scored as the answer to the question without its options (summed log-likelihood over
        its length in characters, lm-evaluation-harness's ``acc_norm``); the reply names the
        best option's letter (and its text unless only the letter was asked)."""
        rows: list[tuple[int, list[MolRecord], list[Message]]] = []
        groups, first_row = [], []
        for k, (_, records, _, lq) in enumerate(chunk):
            first_row.append(len(rows))
            for text in lq.options:
                rows.append((k, records, self.prompts.messages(lq.stem, len(records), text)))
                groups.append(k)
        whole = [qs[chunk[k][0]] for k, _, _ in rows]  # the sheet is cut for the whole question
        batch = self.prepare([r for _, r, _ in rows], [m for *_, m in rows], sheet_questions=whole)
        logp, bridge = self._shared_prompt_logprobs(batch, groups)
        scores = logp.double().cpu().tolist()
        texts, probs = [], []
        for k, (*_, lq) in enumerate(chunk):
            lo = first_row[k]
            p = cloze_probs(scores[lo : lo + len(lq.options)], lq.options)
            texts.append(lq.reply(max(range(len(p)), key=p.__getitem__)))
            probs.append(dict(zip(lq.letters, p, strict=True)))
        n_mols = [len(r) for _, r, _ in rows]
        plain = [(i, records, msgs) for i, records, msgs, _ in chunk]
        return self._answers(batch, bridge, n_mols, first_row, plain, qs, texts, None, probs)

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
        options = [str(c) for c in choices]
        if len(options) < 2:
            raise EdtError(f"give at least two options to score, got {options}")
        choice_token_ids(self.tokenizer, options)  # options must differ in their first token
        qs, ready, errors = self._many_prompts(molecules, questions, batch_size)
        out: list[dict[str, float] | EdtError] = [EdtError("not scored")] * len(qs)
        for i, exc in errors.items():
            out[i] = exc
        for start in range(0, len(ready), batch_size):
            chunk = ready[start : start + batch_size]
            try:
                batch = self.prepare([r for _, r, _ in chunk], [m for *_, m in chunk], True)
                probs = self.score(batch, options).probs.tolist()  # [B, C]
            except EdtError as exc:
                for i, *_ in chunk:
                    out[i] = exc
                continue
            for (i, *_), row in zip(chunk, probs, strict=True):
                out[i] = dict(zip(options, (float(p) for p in row), strict=True))
        return out

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
        from edtformer.model.checkpoint import save_model

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
        from edtformer.model.checkpoint import load_model

        return load_model(cls, path, processor=processor, llm=llm, tokenizer=tokenizer)


__all__ = ["Answer", "ChatBatch", "EDTFormer", "EDTFormerConfig", "EDTFormerOutput"]

"""Chat prompts with molecule placeholders, built with the tokenizer's own chat template.

A prompt is ``[constant prefix] + [molecule tokens] + [question (+ answer)]``: the molecule comes
first in the user turn, so everything before it (system prompt, ``<|im_start|>user\\n``, ...)
is the same for every sample. Because the LLM is frozen, that prefix's key/value cache can be
computed once and reused (:class:`~edtformer.llm.prefix.PrefixCache`); :attr:`PromptSample.n_prefix`
says how long it is.

The chat template always comes from the tokenizer (``apply_chat_template``), never hand-built
per model family.

Message text can never produce a special token: the template is rendered around placeholders,
its own text is tokenised with special tokens honoured, and every message's text is tokenised
with special tokens treated as text (``split_special_tokens``). The only special tokens a user
can place are the ``<mol>`` markers of a user turn, one per molecule given; elsewhere a typed
``<mol>`` is plain text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from edtformer.errors import EdtError
from edtformer.llm.tokens import MOL_TOKEN, MoleculeTokenCountError, MolTokenIds

#: Label value ignored by the loss.
IGNORE_INDEX = -100
#: Longest question (characters) a prompt accepts; longer ones are refused before tokenising.
MAX_QUESTION_CHARS = 8000
#: Stands in for a message's text while the chat template is rendered (private-use characters).
_SLOT = "\ue000{}\ue001"
_SLOT_RE = re.compile("\ue000(\\d+)\ue001")
#: What a ``<mol>`` typed where no molecule goes becomes (plain text, not a marker).
MOL_TEXT = "<mol\u2060>"

Message = dict[str, str]


@dataclass
class PromptSample:
    """One tokenised conversation with its ``<mol>`` placeholders expanded.

    Attributes:
        input_ids: token ids; ``mol_counts[k]`` copies of ``<mol>`` for molecule ``k``.
        labels: ``input_ids`` on assistant tokens, :data:`IGNORE_INDEX` elsewhere.
        n_prefix: length of the constant prefix this sample starts with (0 if it does not).
        n_molecules: number of molecules in the prompt.
    """

    input_ids: list[int]
    labels: list[int]
    n_prefix: int
    n_molecules: int


class PromptBuilder:
    """Turn questions/conversations about molecules into token ids for the LLM.

    Args:
        tokenizer: a tokenizer with a ``chat_template`` and the molecule tokens added.
        mol_ids: ids of the added molecule tokens.
        system_prompt: a system message to put first; ``None`` keeps the template's default.
        boundary_tokens: wrap each molecule's tokens in ``<mol_start>`` / ``<mol_end>``.
    """

    def __init__(
        self,
        tokenizer: Any,
        mol_ids: MolTokenIds,
        system_prompt: str | None = None,
        boundary_tokens: bool = True,
    ) -> None:
        self.tokenizer = tokenizer
        self.mol_ids = mol_ids
        self.system_prompt = system_prompt
        self.boundary_tokens = boundary_tokens
        self.prefix_ids: list[int] = self._constant_prefix()

    # -- text ---------------------------------------------------------------------------------
    @staticmethod
    def user_text(question: str, n_molecules: int = 1) -> str:
        """The user turn: ``question`` if it already holds ``n_molecules`` ``<mol>`` markers,
        else one ``<mol>`` line per molecule followed by the question. In a turn without
        molecules (a chat follow-up) a typed ``<mol>`` is kept as plain text."""
        if not isinstance(question, str):
            raise EdtError(f"a question must be text, got {type(question).__name__}")
        if len(question) > MAX_QUESTION_CHARS:
            raise EdtError(
                f"question of {len(question):,} characters; at most {MAX_QUESTION_CHARS:,} are accepted"
            )
        found = question.count(MOL_TOKEN)
        if n_molecules == 0:
            return question.replace(MOL_TOKEN, MOL_TEXT)
        if found == n_molecules:
            return question
        if found:
            raise MoleculeTokenCountError(
                found,
                n_molecules,
                " (the question text has a different number of <mol> markers than molecules given)",
            )
        return "".join(f"{MOL_TOKEN}\n" for _ in range(n_molecules)) + question

    @staticmethod
    def smiles_text(text: str, smiles: Sequence[str]) -> str:
        """Replace each ``<mol>`` of ``text`` by its SMILES (the ``none`` connector's prompt)."""
        parts = text.split(MOL_TOKEN)
        if len(parts) - 1 != len(smiles):
            raise MoleculeTokenCountError(len(parts) - 1, len(smiles), " (SMILES given)")
        out = parts[0]
        for s, rest in zip(smiles, parts[1:], strict=True):
            out += f"SMILES: {s}" + rest
        return out

    def messages(
        self, question: str, n_molecules: int = 1, answer: str | None = None
    ) -> list[Message]:
        """Chat messages for one question (and optionally its answer)."""
        msgs: list[Message] = []
        if self.system_prompt is not None:
            msgs.append({"role": "system", "content": self.system_prompt})
        msgs.append({"role": "user", "content": self.user_text(question, n_molecules)})
        if answer is not None:
            msgs.append({"role": "assistant", "content": answer})
        return msgs

    # -- ids ----------------------------------------------------------------------------------
    def _render(self, messages: Sequence[Message], add_generation_prompt: bool) -> list[int]:
        """Token ids of the templated conversation; message text never yields special tokens
        except the ``<mol>`` markers of user turns. With ``add_generation_prompt`` and a last
        message from the assistant, that message is left open (the start of an answer that
        generation continues)."""
        slots = [{**m, "content": _SLOT.format(k)} for k, m in enumerate(messages)]
        open_answer = (
            add_generation_prompt and bool(messages) and messages[-1]["role"] == "assistant"
        )
        text = self.tokenizer.apply_chat_template(
            slots,
            tokenize=False,
            add_generation_prompt=add_generation_prompt and not open_answer,
            continue_final_message=open_answer,
        )
        ids: list[int] = []
        pos = 0
        for match in _SLOT_RE.finditer(text):
            ids += self._ids(text[pos : match.start()], special=True)  # the template's own text
            msg = messages[int(match.group(1))]
            parts = msg["content"].split(MOL_TOKEN) if msg["role"] == "user" else [msg["content"]]
            for j, part in enumerate(parts):
                if j:
                    ids.append(self.mol_ids.mol)
                ids += self._ids(part, special=False)
            pos = match.end()
        return ids + self._ids(text[pos:], special=True)

    def _ids(self, text: str, special: bool) -> list[int]:
        if not text:
            return []
        enc = self.tokenizer(text, add_special_tokens=False, split_special_tokens=not special)
        return list(enc["input_ids"])

    def text_ids(self, text: str) -> list[int]:
        """Ids of user text with any special-token strings in it treated as plain text."""
        return self._ids(text, special=False)

    def _constant_prefix(self) -> list[int]:
        ids = self._render(self.messages("?", 1), add_generation_prompt=True)
        return ids[: ids.index(self.mol_ids.mol)]

    def encode(
        self,
        messages: Sequence[Message],
        mol_counts: Sequence[int],
        add_generation_prompt: bool = False,
    ) -> PromptSample:
        """Tokenise a conversation and expand its ``<mol>`` markers.

        Args:
            messages: chat messages; user turns hold one ``<mol>`` per molecule, in order.
            mol_counts: molecule tokens per molecule (``connector.num_tokens``), in order.
            add_generation_prompt: end with the assistant header (for generation / scoring).

        Returns:
            :class:`PromptSample` with labels on every assistant turn.
        """
        ids = self._render(messages, add_generation_prompt)
        labels = [IGNORE_INDEX] * len(ids)
        for i, msg in enumerate(messages):
            if msg["role"] != "assistant":
                continue
            start = len(self._render(messages[:i], add_generation_prompt=True))
            end = len(self._render(messages[: i + 1], add_generation_prompt=False))
            labels[start:end] = ids[start:end]
        n_found = ids.count(self.mol_ids.mol)
        if n_found != len(mol_counts):
            raise MoleculeTokenCountError(
                n_found, len(mol_counts), " (molecules given for this prompt)"
            )
        out_ids: list[int] = []
        out_labels: list[int] = []
        k = 0
        for tok, lab in zip(ids, labels, strict=True):
            if tok != self.mol_ids.mol:
                out_ids.append(tok)
                out_labels.append(lab)
                continue
            span = [self.mol_ids.mol] * int(mol_counts[k])
            if self.boundary_tokens:
                span = [self.mol_ids.start, *span, self.mol_ids.end]
            out_ids += span
            out_labels += [IGNORE_INDEX] * len(span)
            k += 1
        p = len(self.prefix_ids)
        n_prefix = p if out_ids[:p] == self.prefix_ids else 0
        return PromptSample(out_ids, out_labels, n_prefix, len(mol_counts))

    def decode(self, ids: Sequence[int] | Tensor) -> str:
        """Text of generated ids, without special tokens."""
        return str(self.tokenizer.decode(ids, skip_special_tokens=True)).strip()


def pad_samples(samples: Sequence[PromptSample], pad_id: int) -> tuple[Tensor, Tensor, Tensor, int]:
    """Right-pad samples into tensors.

    Returns:
        ``input_ids [B, L]``, ``attention_mask [B, L]``, ``labels [B, L]`` and the length of
        the constant prefix shared by all samples (0 if they do not all start with it).
    """
    if not samples:
        raise EdtError("no prompts to pad")
    length = max(len(s.input_ids) for s in samples)
    b = len(samples)
    ids = torch.full((b, length), pad_id, dtype=torch.long)
    mask = torch.zeros(b, length, dtype=torch.long)
    labels = torch.full((b, length), IGNORE_INDEX, dtype=torch.long)
    for i, s in enumerate(samples):
        n = len(s.input_ids)
        ids[i, :n] = torch.tensor(s.input_ids)
        mask[i, :n] = 1
        labels[i, :n] = torch.tensor(s.labels)
    n_prefix = min(s.n_prefix for s in samples)
    return ids, mask, labels, n_prefix

"""Stage 2: alignment tuning through the frozen LLM (next-token loss on assistant tokens only).

A sample is an instruction record of ``edt data build`` (question with ``<mol>`` placeholders,
answer). The collator is :meth:`EDTFormer.prepare` — the same function inference uses — so the
prompt a model is trained on is the prompt it is asked with. The constant chat prefix's key/value
cache is computed once and reused (the LLM is frozen), which is what makes CPU training feasible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn

from edtformer.data.schema import render_question
from edtformer.llm.options import parse_options


def record_to_sample(rec: dict[str, Any]) -> tuple[list[str], str, str]:
    """``(smiles list, rendered question, answer)`` of a dataset record (MC choices appended)."""
    return list(rec["smiles"]), render_question(rec), str(rec["answer"])  # type: ignore[arg-type]


class Stage2Module(nn.Module):
    """Wraps an :class:`~edtformer.model.EDTFormer` so that ``forward(batch)`` returns ``{"loss"}``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Any) -> dict[str, Tensor]:
        out = self.model(batch)
        if out.loss is None:
            raise ValueError("stage-2 batch has no assistant tokens to learn from")
        return {"loss": out.loss}


def as_scored(question: str, answer: str) -> tuple[str, str | None]:
    """The question a sample is trained on, and the text its fact sheet is cut for (``None``:
    the question itself).

    A question with lettered options whose answer is one of the options' *texts* (not a letter)
    is trained as inference answers it (:meth:`~edtformer.model.EDTFormer.ask_many` cloze-scores
    each option's text as the answer to the bare stem): on the stem, with the sheet cut for the
    whole question, so the sheet writes the elements and groups the options name. Anything
    else (a letter answer, no options) is trained as written.
    """
    lettered = parse_options(question)
    if lettered is None:
        return question, None
    wanted = answer.strip().casefold()
    if not any(wanted == o.casefold() for o in lettered.options):
        return question, None
    return lettered.stem, question


class Stage2Collator:
    """``[(smiles list, question, answer), ...]`` -> :class:`~edtformer.model.ChatBatch`
    (lettered questions answered by an option's text: see :func:`as_scored`)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, items: Sequence[tuple[list[str], str, str]]) -> Any:
        prompts = self.model.prompts
        scored = [as_scored(q, a) for _, q, a in items]
        convs = [
            prompts.messages(q, len(smi), a)
            for (smi, _, a), (q, _) in zip(items, scored, strict=True)
        ]
        cut = [c for _, c in scored]
        return self.model.prepare(
            [smi for smi, _, _ in items],
            convs,
            sheet_questions=cut if any(c is not None for c in cut) else None,
        )

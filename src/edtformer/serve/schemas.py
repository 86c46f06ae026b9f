"""Request bodies of the HTTP API and the one function that turns OpenAI chat messages with
attached molecules into the model's conversation (:func:`build_conversation`).

Molecules are attached to user messages, in either of two ways (both may be combined):

- a content part ``{"type": "molecule", "smiles": "CCO"}`` among the message's parts;
- a top-level ``"molecules": ["CCO", ...]`` list: they belong to the *first* user message,
  before its own molecule parts.

A ``<mol>`` in a user message's text marks where each of its molecules' tokens go (one marker per
molecule); without markers the molecules come first, one per line, in part order. Follow-up
turns without molecules are plain text (a typed ``<mol>`` there is text), as in ``edt chat``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from edtformer.chem import MolRecord, parse_smiles
from edtformer.errors import EdtError
from edtformer.llm.prompt import Message, PromptBuilder
from edtformer.llm.tokens import MOL_TOKEN
from edtformer.serve.errors import ApiError, from_edt_error


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Body):
    """``{"type": "text", "text": ...}``."""

    type: Literal["text"]
    text: str


class MoleculePart(_Body):
    """``{"type": "molecule", "smiles": ...}``: a molecule attached to a user message."""

    type: Literal["molecule"]
    smiles: str


ContentPart = Annotated[TextPart | MoleculePart, Field(discriminator="type")]


class ChatMessage(_Body):
    """One message: text, or a list of text and molecule parts."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


class ChatRequest(_Body):
    """``POST /v1/chat/completions`` (OpenAI's fields that apply; unknown ones are ignored)."""

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    molecules: list[str] | None = None
    """Molecules of the first user message (an extension of OpenAI's format)."""
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    """``None`` or 0: greedy (the default, unlike OpenAI); above 0: sampling."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    n: int | None = None
    stop: str | list[str] | None = None


class ScoreRequest(_Body):
    """``POST /v1/score``: probabilities of answer options (by their first token)."""

    model: str
    smiles: str | list[str]
    question: str
    options: list[str] = Field(min_length=2, max_length=26)


class PatchRequest(_Body):
    """``POST /v1/patch``: per-atom entropy, patches and an SVG drawing of one molecule."""

    smiles: str
    rule: Literal["quantile", "threshold", "monotonic", "brics", "combine"] = "combine"
    q: float | None = Field(default=None, gt=0, lt=1)
    threshold: float | None = None
    margin: float | None = None
    max_patch_len: int | None = Field(default=None, ge=1)
    draw: bool = True


def parse_molecules(smiles: list[str], param: str) -> list[MolRecord]:
    """Records of ``smiles`` through the strict front end; a bad one is a 400 naming it."""
    out = []
    for s in smiles:
        try:
            out.append(parse_smiles(s))
        except EdtError as exc:
            raise from_edt_error(exc, param) from None
    return out


def build_conversation(
    req: ChatRequest, system_prompt: str | None, max_molecules: int
) -> tuple[list[MolRecord], list[Message]]:
    """The molecules (in ``<mol>`` order) and chat messages of a chat request.

    Raises:
        ApiError: no molecule, too many, a molecule outside a user message, an invalid SMILES,
            a question too long, marker counts that disagree, or a last message not from the user.
    """
    if req.messages[-1].role != "user":
        raise ApiError("the last message must be the user's question", param="messages")
    first_user = next(i for i, m in enumerate(req.messages) if m.role == "user")
    smiles: list[str] = []
    messages: list[Message] = []
    for i, msg in enumerate(req.messages):
        role = "system" if msg.role == "developer" else msg.role
        parts: list[TextPart | MoleculePart]
        if isinstance(msg.content, list):
            parts = list(msg.content)
        else:
            parts = [TextPart(type="text", text=msg.content or "")]
        if i == first_user and req.molecules:
            attached: list[TextPart | MoleculePart] = [
                MoleculePart(type="molecule", smiles=s) for s in req.molecules
            ]
            parts = attached + parts
        own = [p.smiles for p in parts if isinstance(p, MoleculePart)]
        if own and role != "user":
            raise ApiError(
                f"messages[{i}]: molecules can only be attached to user messages, not {msg.role}",
                param=f"messages.{i}.content",
                code="invalid_molecule_part",
            )
        texts = [p.text for p in parts if isinstance(p, TextPart)]
        if role != "user":
            messages.append({"role": role, "content": "\n".join(texts)})
            continue
        if any(MOL_TOKEN in t for t in texts) or not own:
            text = "\n".join(texts)
        else:  # molecules where their parts are, one per line
            text = "".join(
                f"{MOL_TOKEN}\n" if isinstance(p, MoleculePart) else p.text for p in parts
            )
        try:
            content = PromptBuilder.user_text(text, len(own))
        except EdtError as exc:
            raise from_edt_error(exc, f"messages.{i}.content") from None
        smiles += own
        messages.append({"role": "user", "content": content})
    if not smiles:
        raise ApiError(
            "no molecule given: attach one to a user message as a content part "
            '{"type": "molecule", "smiles": "CCO"} or send a top-level "molecules": ["CCO"]',
            param="messages",
            code="missing_molecule",
        )
    if len(smiles) > max_molecules:
        raise ApiError(
            f"{len(smiles)} molecules given; at most {max_molecules} per request",
            param="messages",
            code="too_many_molecules",
        )
    if system_prompt is not None and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    return parse_molecules(smiles, "messages"), messages

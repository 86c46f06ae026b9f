"""Questions about molecules in, :class:`Answer` s out: :meth:`EDTFormer.ask
<edtformer.model.EDTFormer.ask>`, :meth:`~edtformer.model.EDTFormer.ask_many` and
:meth:`~edtformer.model.EDTFormer.score_many` call these functions.

A question with lettered options (``"... A) 1 B) 2"``) is answered by cloze scoring, never by
generation: each option's text is scored as the answer to the bare question (the stem), its
summed log-likelihood over its length in characters (lm-evaluation-harness's ``acc_norm``), all
options of a question sharing one run of its prompt
(:meth:`~edtformer.model.EDTFormer.shared_prompt_logprobs`). Any other question is generated
(:meth:`~edtformer.model.EDTFormer.generate_details`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from edtformer.bridge import BridgeOutput
from edtformer.chem import MolRecord, parse_smiles
from edtformer.errors import EdtError
from edtformer.facts.groups import present_groups
from edtformer.facts.select import (
    group_choice,
    list_qualified,
    narrow,
    ring_kinds_only,
    scalar_type,
    strip_smiles,
    value_type,
)
from edtformer.facts.sheet import fragment_smiles, hill_formula, sheet_values
from edtformer.llm.constrained import AnswerSpec, JsonScalar, NameList, tokens_needed
from edtformer.llm.formats import VALUE_OPENINGS, answer_prefix, join_prefix, json_key
from edtformer.llm.generation import choice_token_ids
from edtformer.llm.options import LetteredQuestion, cloze_probs, parse_options
from edtformer.llm.prompt import Message
from edtformer.model.llm_forward import shared_prompt_answer_logprobs
from edtformer.model.outputs import Answer, ChatBatch, molecule_token_counts

if TYPE_CHECKING:
    from edtformer.model.modeling import EDTFormer

logger = logging.getLogger(__name__)

#: How an answer to a question naming no fact of the sheet begins (``decline_unnamed``): the
#: start of the decline the bridge was trained to give (:data:`edtformer.facts.questions.DECLINE`).
DECLINE_START = "I can't tell"

#: One parsed input of :func:`ask_many` / :func:`score_many`: ``(input index, records, messages)``.
Prompt = tuple[int, list[MolRecord], list[Message]]


def ask(
    model: EDTFormer,
    smiles: str | Sequence[str],
    question: str,
    max_new_tokens: int,
    history: Sequence[Message] | None,
    **kwargs: Any,
) -> Answer:
    """:meth:`EDTFormer.ask <edtformer.model.EDTFormer.ask>` (see there)."""
    mols = [smiles] if isinstance(smiles, str) else list(smiles)
    if not history and parse_options(question) is not None:  # lettered options: cloze-scored
        [chosen] = ask_many(model, [mols], question, max_new_tokens, batch_size=1)
        if isinstance(chosen, EdtError):
            raise chosen
        return chosen
    if history:  # a follow-up: no molecule of its own, so a typed <mol> is plain text
        messages = model.chat_processor.follow_up(history, question)
    else:
        messages = model.chat_processor.messages(question, len(mols))
    prompt, prefix = started(model, question, messages, mols)
    batch = model.prepare([mols], [prompt], generation=True)
    names = name_list(model, question, mols, prefix) if not history else None
    if names is not None:
        kwargs["name_lists"] = [names]
        max_new_tokens = _budget(model, max_new_tokens, [names])
    gen = model.generate_details(batch, max_new_tokens, **kwargs)
    [text], [cut] = gen.texts, gen.truncated
    if prefix is not None:
        text = join_prefix(prefix, text)
    if cut:
        logger.warning("the answer stopped at max_new_tokens=%d", max_new_tokens)
    n_tok, n_anchor, n_dyn = molecule_token_counts(batch, gen.bridge, 0, len(mols))
    return Answer(
        smiles=mols,
        question=question,
        answer=text,
        n_molecule_tokens=n_tok,
        n_anchor_tokens=n_anchor,
        n_dynamic_tokens=n_dyn,
        n_dropped_patches=int(gen.bridge.n_dropped.sum()) if gen.bridge is not None else 0,
        messages=[*messages, {"role": "assistant", "content": text}],
        truncated=cut,
        facts=model.facts_text(batch),
    )


def many_prompts(
    model: EDTFormer,
    molecules: Sequence[str | Sequence[str]],
    questions: str | Sequence[str],
    batch_size: int,
) -> tuple[list[str], list[Prompt], dict[int, EdtError]]:
    """The questions (one per molecule), the parsed prompts and the error of each input that
    could not be parsed (:func:`ask_many`, :func:`score_many`)."""
    qs = [questions] * len(molecules) if isinstance(questions, str) else list(questions)
    if len(qs) != len(molecules):
        raise EdtError(f"got {len(molecules)} molecules and {len(qs)} questions")
    if batch_size < 1:
        raise EdtError(f"batch_size must be at least 1, got {batch_size}")
    ready: list[Prompt] = []
    errors: dict[int, EdtError] = {}
    for i, (mol, q) in enumerate(zip(molecules, qs, strict=True)):
        smiles = [mol] if isinstance(mol, str) else list(mol)
        try:
            records = [parse_smiles(s) for s in smiles]
            ready.append((i, records, model.chat_processor.messages(q, len(records))))
        except EdtError as exc:
            errors[i] = exc
    return qs, ready, errors


def ask_many(
    model: EDTFormer,
    molecules: Sequence[str | Sequence[str]],
    questions: str | Sequence[str],
    max_new_tokens: int = 64,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
    **kwargs: Any,
) -> list[Answer | EdtError]:
    """:meth:`EDTFormer.ask_many <edtformer.model.EDTFormer.ask_many>` (see there)."""
    qs, ready, errors = many_prompts(model, molecules, questions, batch_size)
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
            done.update(_generated(model, gen, qs, max_new_tokens, **kwargs) if gen else {})
        except EdtError as exc:
            done.update({i: exc for i, *_ in gen})
        try:
            done.update(_chosen(model, mc, qs) if mc else {})
        except EdtError as exc:
            done.update({i: exc for i, *_ in mc})
        for i, a in done.items():
            out[i] = a
        if progress is not None:
            progress(len(chunk))
    return out


def _answers(
    model: EDTFormer,
    batch: ChatBatch,
    bridge: BridgeOutput | None,
    row_mols: Sequence[int],
    rows: Sequence[int],
    chunk: Sequence[Prompt],
    qs: Sequence[str],
    texts: Sequence[str],
    cuts: Sequence[bool] | None = None,
    options: Sequence[dict[str, float]] | None = None,
) -> dict[int, Answer]:
    """One :class:`Answer` per question of ``chunk`` (keyed by its input index).

    ``row_mols``: molecules of each batch row; ``rows[k]``: the batch row of question ``k``.
    """
    ends = list(accumulate(row_mols))  # past each row's last molecule
    facts = model.facts_text(batch)
    out: dict[int, Answer] = {}
    for k, (i, records, msgs) in enumerate(chunk):
        hi = ends[rows[k]]
        lo = hi - row_mols[rows[k]]
        n_tok, n_anchor, n_dyn = molecule_token_counts(batch, bridge, lo, hi)
        out[i] = Answer(
            smiles=[r.smiles for r in records],
            question=qs[i],
            answer=texts[k],
            n_molecule_tokens=n_tok,
            n_anchor_tokens=n_anchor,
            n_dynamic_tokens=n_dyn,
            n_dropped_patches=0 if bridge is None else int(bridge.n_dropped[lo:hi].sum()),
            messages=[*msgs, {"role": "assistant", "content": texts[k]}],
            truncated=False if cuts is None else cuts[k],
            facts=None if facts is None else facts[lo:hi],
            options=None if options is None else options[k],
        )
    return out


def _generated(
    model: EDTFormer,
    chunk: Sequence[Prompt],
    qs: Sequence[str],
    max_new_tokens: int,
    **kwargs: Any,
) -> dict[int, Answer]:
    """Greedy (or sampled) answers of one batch of questions."""
    begun = [started(model, qs[i], m, [x.smiles for x in r]) for i, r, m in chunk]
    batch = model.prepare([r for _, r, _ in chunk], [p for p, _ in begun], True)
    names = [name_list(model, qs[i], [x.smiles for x in r], pre)
             for (i, r, _), (_, pre) in zip(chunk, begun, strict=True)]  # fmt: skip
    if any(n is not None for n in names):
        kwargs["name_lists"] = names
        max_new_tokens = _budget(model, max_new_tokens, names)
    gen = model.generate_details(batch, max_new_tokens, **kwargs)
    texts = [t if pre is None else join_prefix(pre, t)
             for t, (_, pre) in zip(gen.texts, begun, strict=True)]  # fmt: skip
    n_mols = [len(r) for _, r, _ in chunk]
    return _answers(
        model, batch, gen.bridge, n_mols, range(len(chunk)), chunk, qs, texts, gen.truncated
    )


def _budget(model: EDTFormer, max_new_tokens: int, specs: Sequence[AnswerSpec | None]) -> int:
    """``max_new_tokens``, stretched so that a one-name answer of ``specs`` is never cut
    (:func:`~edtformer.llm.constrained.tokens_needed`)."""
    need = [tokens_needed(model.tokenizer, s) for s in specs if s is not None]
    return max(max_new_tokens, *need)


def started(
    model: EDTFormer, question: str, messages: list[Message], smiles: Sequence[str] = ()
) -> tuple[list[Message], str | None]:
    """The prompt to generate from and the answer's fixed start (model config): with
    ``decline_unnamed`` (and a fact sheet), a question that names no fact of the sheet is begun
    "I can't tell" (:data:`DECLINE_START`); with ``answer_prefix``, a question asking for JSON
    under a named key is begun ``{"key":`` (:func:`~edtformer.llm.formats.answer_prefix`), and
    further ``["`` / ``"`` when the one fact it asks is a list / a label
    (:func:`~edtformer.facts.select.value_type`).
    Follow-ups are never begun."""
    cfg = model.config
    if messages[-1]["role"] != "user" or sum(m["role"] == "user" for m in messages) > 1:
        return messages, None
    prefix = None
    request = narrow(question, smiles) if cfg.fact_sheet else None
    if request is not None and cfg.decline_unnamed and request.lines is None:
        prefix = DECLINE_START
    elif cfg.answer_prefix:
        kind = value_type(request, question, smiles) if request is not None else None
        prefix = answer_prefix(question, _JSON_VALUE.get(kind or ""))
    if prefix is None:
        return messages, None
    return [*messages, {"role": "assistant", "content": prefix}], prefix


#: :func:`~edtformer.facts.select.value_type` -> the JSON value that holds it
#: (:data:`~edtformer.llm.formats.VALUE_OPENINGS`): a fragment's SMILES is a string.
_JSON_VALUE = {"list": "list", "text": "text", "fragment": "text", "formula": "text"}
#: A question naming a stereocentre or bond by position ("the configuration at atom 5"): one
#: label of several, which the whole label list would not answer.
_AT_A_POSITION = re.compile(r"\batoms? ?#?\d|\bpositions? ?\d|\bC ?\d+\b|\bbond ?\d", re.I)


def stereo_labels(mol: Any, item: str) -> str | None:
    """The sheet's label list of ``item`` for ``mol``: its CIP labels (``"S,R"``) for ``cip``,
    its E/Z labels for ``ez``, as the sheet writes them (SMILES order); ``None`` when it has none."""
    values = sheet_values(mol, groups=False)
    labels = ",".join(lab for *_, lab in values[item])
    return labels or None


def name_list(
    model: EDTFormer, question: str, smiles: Sequence[str], prefix: str | None
) -> AnswerSpec | None:
    """The names the answer to ``question`` must list (``constrain_lists``, a fact sheet, one
    molecule): the molecule's functional groups, every one (some, the LLM's choice, when the
    question picks them by a property: :func:`~edtformer.facts.select.list_qualified`), when the
    one fact asked is the group list (:func:`~edtformer.facts.select.value_type` ``"list"``), as text or inside the JSON list
    the answer was begun with (``prefix`` ``{"key": ["``); one of its fragments' SMILES when
    it is the largest fragment (``"fragment"``); its formula, as the sheet writes it, when the
    formula is asked (``"formula"``: "value" or "sum" are never written in its place); all
    its CIP or E/Z labels as the sheet lists them when those are asked, not at one position
    (``"text"``: "S,S,S", never one "S" for three centres); a
    JSON number or boolean when the one fact asked is one
    (:func:`~edtformer.facts.select.scalar_type`, JSON begun ``{"key":``); ``None`` otherwise
    (also for JSON asked without a key, whose shape the LLM writes itself)."""
    cfg = model.config
    if not (cfg.fact_sheet and cfg.constrain_lists and len(smiles) == 1):
        return None
    request = narrow(question, smiles)
    kind = value_type(request, question, smiles)
    if kind is None:  # a number or a yes/no: typed when its JSON value was begun {"key":
        scalar = scalar_type(request, question, smiles)
        begun = prefix is not None and prefix.startswith("{") and prefix.endswith(":")
        if scalar is not None and begun:
            return JsonScalar(scalar)
        if scalar == "number" and prefix is None and "json" not in question.lower():
            # a count or a measure asked in words; the LLM may still decline
            return JsonScalar(scalar, plain=True, or_begun=DECLINE_START)
        return None
    if kind not in ("list", "fragment", "formula", "text"):
        return None
    in_json = prefix is not None and prefix.endswith(VALUE_OPENINGS[_JSON_VALUE[kind]].strip())
    if prefix is not None and not in_json:
        return None  # begun otherwise (a decline)
    if not in_json and "json" in question.lower() and json_key(question) is None:
        return None
    mol = parse_smiles(smiles[0]).mol
    if kind == "fragment":
        return NameList(tuple(fragment_smiles(mol)), json=in_json, single=True)
    if kind == "formula":
        return NameList((hill_formula(mol),), json=in_json, single=True)
    if kind == "text":  # the CIP or E/Z labels, all of them, as the sheet lists them
        item = next(iter(set(request.items) & {"cip", "ez"}), None)
        if item is None or _AT_A_POSITION.search(strip_smiles(question, smiles)):
            return None
        labels = stereo_labels(mol, item)
        return NameList((labels,), json=in_json, single=True) if labels else None
    names = present_groups(mol)  # the whole list asked: every name, in the LLM's order
    if ring_kinds_only(question, smiles):  # "What ring types are present?": the ring names
        names = [n for n in names if "ring" in n or n == "heterocycle"]
    # "Which groups make it acidic?": some of the names, as many as the LLM writes
    every = not list_qualified(question, smiles)
    return NameList(tuple(names), json=in_json, every=every) if names else None


def _chosen(
    model: EDTFormer,
    chunk: Sequence[tuple[int, list[MolRecord], list[Message], LetteredQuestion]],
    qs: Sequence[str],
) -> dict[int, Answer]:
    """Answers of questions with lettered options, by cloze scoring: each option's text is
    scored as the answer to the question without its options (summed log-likelihood over
    its length in characters, lm-evaluation-harness's ``acc_norm``); the reply names the
    best option's letter (and its text unless only the letter was asked)."""
    polar = [group_choice(lq.stem, lq.options) if model.config.fact_sheet else None
             for *_, lq in chunk]  # fmt: skip
    by_group = [k for k, p in enumerate(polar) if p is not None]
    if by_group:  # "which of these groups does it contain / lack?": option by option
        done = group_options(
            model, [chunk[k] for k in by_group], qs, [polar[k] == "absent" for k in by_group]
        )
        rest = [c for k, c in enumerate(chunk) if polar[k] is None]
        return {**done, **(_chosen(model, rest, qs) if rest else {})}
    rows: list[tuple[int, list[MolRecord], list[Message]]] = []
    groups, first_row = [], []
    for k, (_, records, _, lq) in enumerate(chunk):
        first_row.append(len(rows))
        for text in lq.options:
            rows.append((k, records, model.chat_processor.messages(lq.stem, len(records), text)))
            groups.append(k)
    whole = [qs[chunk[k][0]] for k, _, _ in rows]  # the sheet is cut for the whole question
    batch = model.prepare([r for _, r, _ in rows], [m for *_, m in rows], sheet_questions=whole)
    logp, bridge = shared_prompt_answer_logprobs(model, batch, groups)
    scores = logp.double().cpu().tolist()
    texts, probs = [], []
    for k, (*_, lq) in enumerate(chunk):
        lo = first_row[k]
        p = cloze_probs(scores[lo : lo + len(lq.options)], lq.options)
        texts.append(lq.reply(max(range(len(p)), key=p.__getitem__)))
        probs.append(dict(zip(lq.letters, p, strict=True)))
    n_mols = [len(r) for _, r, _ in rows]
    plain = [(i, records, msgs) for i, records, msgs, _ in chunk]
    return _answers(model, batch, bridge, n_mols, first_row, plain, qs, texts, None, probs)


#: How :func:`group_options` asks about each option (a train wording of the group yes/no kind).
GROUP_QUESTION = "Does this molecule contain the group {group}?"


def group_options(
    model: EDTFormer,
    chunk: Sequence[tuple[int, list[MolRecord], list[Message], LetteredQuestion]],
    qs: Sequence[str],
    absent: Sequence[bool],
) -> dict[int, Answer]:
    """Answers of lettered questions whose options are all functional groups
    (:func:`~edtformer.facts.select.group_choice`): each option asked as the yes/no question the
    sheet answers (:data:`GROUP_QUESTION`, its own ``group: yes / no`` line), the reply the
    option most likely present ("which does it contain?") or, where ``absent``, absent ("which
    does it lack?"). ``Answer.options`` holds each letter's share of P(yes) (or of P(no))."""
    rows: list[tuple[list[MolRecord], list[Message]]] = []
    starts: list[int] = []
    for _, records, _, lq in chunk:
        starts.append(len(rows))
        for text in lq.options:
            q = GROUP_QUESTION.format(group=text.strip().rstrip("."))
            rows.append((records, model.chat_processor.messages(q, len(records))))
    batch = model.prepare([r for r, _ in rows], [m for _, m in rows], True)
    scored = model.score(batch, ["yes", "no"])
    yes = scored.probs[:, 0].double().tolist()  # [rows]
    texts, probs = [], []
    for (*_, lq), first, lack in zip(chunk, starts, absent, strict=True):
        p_yes = yes[first : first + len(lq.options)]
        want = [1 - p for p in p_yes] if lack else p_yes
        total = sum(want) or 1.0
        texts.append(lq.reply(max(range(len(want)), key=want.__getitem__)))
        probs.append({letter: w / total for letter, w in zip(lq.letters, want, strict=True)})
    plain = [(i, records, msgs) for i, records, msgs, _ in chunk]
    n_mols = [len(r) for r, _ in rows]
    bridge = scored.molecule_tokens
    return _answers(model, batch, bridge, n_mols, starts, plain, qs, texts, None, probs)


def score_many(
    model: EDTFormer,
    molecules: Sequence[str | Sequence[str]],
    questions: str | Sequence[str],
    choices: Sequence[str],
    batch_size: int = 16,
) -> list[dict[str, float] | EdtError]:
    """:meth:`EDTFormer.score_many <edtformer.model.EDTFormer.score_many>` (see there)."""
    options = [str(c) for c in choices]
    if len(options) < 2:
        raise EdtError(f"give at least two options to score, got {options}")
    choice_token_ids(model.tokenizer, options)  # options must differ in their first token
    qs, ready, errors = many_prompts(model, molecules, questions, batch_size)
    out: list[dict[str, float] | EdtError] = [EdtError("not scored")] * len(qs)
    for i, exc in errors.items():
        out[i] = exc
    for start in range(0, len(ready), batch_size):
        chunk = ready[start : start + batch_size]
        try:
            batch = model.prepare([r for _, r, _ in chunk], [m for *_, m in chunk], True)
            probs = model.score(batch, options).probs.tolist()  # [B, C]
        except EdtError as exc:
            for i, *_ in chunk:
                out[i] = exc
            continue
        for (i, *_), row in zip(chunk, probs, strict=True):
            out[i] = dict(zip(options, (float(p) for p in row), strict=True))
    return out

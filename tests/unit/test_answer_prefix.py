"""JSON answers begun with the asked key: the key a question names, the open assistant turn
the LLM continues, and an :class:`Answer` that starts with ``{"key":``."""

from __future__ import annotations

import json

import pytest
import torch
from tests.fixtures.llm.tiny import TOKENIZER_DIR, make_tiny_llm

from edtformer.bridge import tiny
from edtformer.errors import EdtError
from edtformer.llm.formats import answer_prefix, join_prefix, json_key
from edtformer.llm.prompt import PromptBuilder
from edtformer.llm.tokens import add_molecule_tokens
from edtformer.model import EDTFormer, EDTFormerConfig


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ('How many rings? Give the answer as JSON with the key "n_rings".', "n_rings"),
        ("TPSA? Reply in JSON, key 'tpsa'.", "tpsa"),
        ('Store the count under "count" and answer in json.', "count"),
        ("What's the compound's logP? Answer as JSON.", None),  # no key named
        ('How many rings? Answer "yes" or "no".', None),  # no JSON asked
        ("Give JSON under “mw”.", "mw"),
        ('Return {"rings": N} for ibuprofen.', "rings"),  # the answer's shape written out
    ],
)
def test_json_key(question: str, key: str | None) -> None:
    assert json_key(question) == key
    prefix = answer_prefix(question)
    assert prefix == (None if key is None else "{" + json.dumps(key) + ":")


def test_join_prefix_makes_json() -> None:
    assert json.loads(join_prefix('{"n":', " 3}")) == {"n": 3}
    assert join_prefix('{"n":', "  ") == '{"n": null}'
    assert join_prefix("I can't tell", " that.") == "I can't tell that."


def test_open_answer_is_continued_not_closed() -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(TOKENIZER_DIR)
    pb = PromptBuilder(tok, add_molecule_tokens(tok))
    msgs = pb.messages('How many rings? JSON, key "n".', 1)
    closed = pb.encode(msgs, [2], True).input_ids
    begun = pb.encode([*msgs, {"role": "assistant", "content": '{"n":'}], [2], True).input_ids
    assert begun[: len(closed)] == closed  # the prompt, then the answer's start ...
    tail = tok.decode(begun[len(closed) :])
    assert tail.strip() == '{"n":'  # ... left open: no end-of-turn token after it


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> EDTFormer:
    llm = make_tiny_llm(tmp_path_factory.mktemp("llm") / "tiny-llama")
    torch.manual_seed(0)
    cfg = EDTFormerConfig(encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics")
    return EDTFormer.build(cfg).eval()


def test_answers_start_with_the_asked_key(model: EDTFormer) -> None:
    q = 'How many rings? Emit JSON; store the result under "rings".'
    one = model.ask("c1ccccc1", q, max_new_tokens=3)
    assert one.answer.startswith('{"rings":')
    assert one.messages[-1] == {"role": "assistant", "content": one.answer}
    many = model.ask_many(["c1ccccc1", "CCO"], [q, "How many rings?"], max_new_tokens=3)
    assert not isinstance(many[0], EdtError) and many[0].answer.startswith('{"rings":')
    assert not isinstance(many[1], EdtError) and not many[1].answer.startswith("{")
    model.config.answer_prefix = False
    try:
        plain = model.ask("c1ccccc1", q, max_new_tokens=3)
    finally:
        model.config.answer_prefix = True
    assert not plain.answer.startswith('{"rings":')  # off: the tiny random LLM's own words


def test_config_round_trip_and_modes() -> None:
    cfg = EDTFormerConfig(sheet_lines="facts", answer_prefix=False)
    back = EDTFormerConfig.from_dict(cfg.to_dict())
    assert back.sheet_lines == "facts" and back.answer_prefix is False
    with pytest.raises(EdtError, match="sheet_lines must be one of"):
        EDTFormerConfig(sheet_lines="lines")


def test_unnamed_questions_are_begun_as_a_decline(model: EDTFormer) -> None:
    from edtformer.model.answering import DECLINE_START, started

    msgs = model.chat_processor.messages("What is its melting point?", 1)
    assert started(model, "What is its melting point?", msgs)[1] is None  # off by default
    model.config.fact_sheet, model.config.decline_unnamed = True, True
    try:
        prompt, prefix = started(model, "What is its melting point?", msgs, ["CCO"])
        assert prefix == DECLINE_START and prompt[-1]["content"] == DECLINE_START
        ask = 'How many rings? JSON under "n".'
        assert started(model, ask, model.chat_processor.messages(ask, 1))[1] == '{"n":'
        describe = "Describe this molecule."
        assert started(model, describe, model.chat_processor.messages(describe, 1))[1] is None
    finally:
        model.config.fact_sheet, model.config.decline_unnamed = False, False


@pytest.mark.parametrize(
    ("continuation", "expected"),
    [
        (" C9H13N3O5}", {"mf": "C9H13N3O5"}),  # a bare formula, quoted
        (' 25, "c25H31ClN2O5"}', {"mf": 25}),  # junk after the first value dropped
        (' ["ester", "amide"', {"mf": ["ester", "amide"]}),  # a list cut short, closed
        (' "S,R"', {"mf": "S,R"}),  # an unclosed object, closed
        ("", {"mf": None}),
    ],
)
def test_begun_json_always_parses(continuation: str, expected: dict) -> None:
    assert json.loads(join_prefix('{"mf":', continuation)) == expected


def test_valid_json_is_kept_as_written() -> None:
    text = join_prefix('{"a":', ' "S,S", "name": "x"}')
    assert text == '{"a": "S,S", "name": "x"}'

"""JSON answers begun with the asked key: the key a question names, the open assistant turn
the LLM continues, and an :class:`Answer` that starts with ``{"key":``."""

from __future__ import annotations

import json

import pytest
from tests.fixtures.llm.tiny import TOKENIZER_DIR

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


def test_answers_start_with_the_asked_key(tiny_edt: EDTFormer) -> None:
    q = 'How many rings? Emit JSON; store the result under "rings".'
    one = tiny_edt.ask("c1ccccc1", q, max_new_tokens=3)
    assert one.answer.startswith('{"rings":')
    assert one.messages[-1] == {"role": "assistant", "content": one.answer}
    many = tiny_edt.ask_many(["c1ccccc1", "CCO"], [q, "How many rings?"], max_new_tokens=3)
    assert not isinstance(many[0], EdtError) and many[0].answer.startswith('{"rings":')
    assert not isinstance(many[1], EdtError) and not many[1].answer.startswith("{")
    tiny_edt.config.answer_prefix = False
    try:
        plain = tiny_edt.ask("c1ccccc1", q, max_new_tokens=3)
    finally:
        tiny_edt.config.answer_prefix = True
    assert not plain.answer.startswith('{"rings":')  # off: the tiny random LLM's own words


def test_config_round_trip_and_modes() -> None:
    cfg = EDTFormerConfig(sheet_lines="facts", answer_prefix=False)
    back = EDTFormerConfig.from_dict(cfg.to_dict())
    assert back.sheet_lines == "facts" and back.answer_prefix is False
    with pytest.raises(EdtError, match="sheet_lines must be one of"):
        EDTFormerConfig(sheet_lines="lines")


def test_unnamed_questions_are_begun_as_a_decline(tiny_edt: EDTFormer) -> None:
    from edtformer.model.answering import DECLINE_START, started

    msgs = tiny_edt.chat_processor.messages("What is its melting point?", 1)
    assert started(tiny_edt, "What is its melting point?", msgs)[1] is None  # off by default
    tiny_edt.config.fact_sheet, tiny_edt.config.decline_unnamed = True, True
    try:
        prompt, prefix = started(tiny_edt, "What is its melting point?", msgs, ["CCO"])
        assert prefix == DECLINE_START and prompt[-1]["content"] == DECLINE_START
        ask = 'How many rings? JSON under "n".'
        assert started(tiny_edt, ask, tiny_edt.chat_processor.messages(ask, 1))[1] == '{"n":'
        describe = "Describe this molecule."
        assert started(tiny_edt, describe, tiny_edt.chat_processor.messages(describe, 1))[1] is None
    finally:
        tiny_edt.config.fact_sheet, tiny_edt.config.decline_unnamed = False, False


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


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ('Which groups does it carry? Put the answer in JSON as the value of "g".', "list"),
        ('Functional groups of the compound? JSON under "value".', "list"),
        ('CIP descriptors of the compound? Please output a JSON object keyed by "s".', "text"),
        ('Which configuration, R or S, do its stereocentres have? JSON under "c".', "text"),
        ('What formula would you write (element counts)? JSON under "mf".', "formula"),
        ('E or Z? JSON key "ez"', "text"),
        ('How many stereocentres does it have? JSON under "n".', None),  # a count
        ('How many chiral centres carry R/S labels? JSON under "n".', None),
        ('Does it have an ester? JSON under "x".', None),  # a yes/no about one group
        ('Formula and molecular weight? JSON under "v".', None),  # two facts
        ('What is its melting point? JSON under "mp".', None),  # names no fact
    ],
)
def test_value_type_of_the_one_fact_asked(question: str, kind: str | None) -> None:
    from edtformer.facts.select import narrow, value_type
    from edtformer.model.answering import _JSON_VALUE

    assert value_type(narrow(question, ["CCO"]), question, ["CCO"]) == kind
    prefix = answer_prefix(question, _JSON_VALUE.get(kind or ""))
    ending = {"list": '["', "text": '"', "formula": '"', None: ":"}[kind]
    assert prefix is not None and prefix.endswith(ending)


@pytest.mark.parametrize(
    ("prefix", "continuation", "expected"),
    [
        ('{"g": ["', 'ester", "amide"]}', {"g": ["ester", "amide"]}),
        ('{"g": ["', 'ester", "amide', {"g": ["ester"]}),  # a name cut short is dropped
        ('{"g": ["', "ester, amide]}", {"g": ["ester", "amide"]}),  # unquoted names
        ('{"s": "', 'S,R"}', {"s": "S,R"}),
        ('{"s": "', "S,R,R", {"s": "S,R,R"}),  # unclosed: the label whole, not cut at a comma
        ('{"s": "', "", {"s": ""}),
    ],
)
def test_begun_values_finish_as_json(prefix: str, continuation: str, expected: dict) -> None:
    assert json.loads(join_prefix(prefix, continuation)) == expected


def test_a_json_list_question_is_begun_with_its_list(tiny_edt: EDTFormer) -> None:
    from edtformer.model.answering import started

    q = 'Which functional groups does it have? Answer in JSON under "groups".'
    tiny_edt.config.fact_sheet = True
    try:
        _, prefix = started(tiny_edt, q, tiny_edt.chat_processor.messages(q, 1), ["CCO"])
    finally:
        tiny_edt.config.fact_sheet = False
    assert prefix == '{"groups": ["'
    with pytest.raises(ValueError, match="unknown JSON value type"):
        answer_prefix(q, "number")

"""Answers decoded as a list of the sheet's names: the allowed texts, the token mask, and a
model whose list answers hold only the molecule's own groups."""

from __future__ import annotations

import json

import pytest
import torch

from edtformer.llm.constrained import NameList, NameListConstraint

PLAIN = NameList(("amine", "amide", "ester"))
JSON = NameList(("amine", "ester"), json=True)


@pytest.mark.parametrize(
    ("spec", "text", "allows", "complete"),
    [
        (PLAIN, "", True, False),
        (PLAIN, " am", True, False),  # a prefix of two names
        (PLAIN, "amine", True, True),  # plain text may stop after any whole name
        (PLAIN, "amine, ", True, False),
        (PLAIN, "amine, ester", True, True),
        (PLAIN, "amine, amine", False, False),  # no name twice
        (PLAIN, "amine, group", False, False),  # no name the list lacks
        (PLAIN, "amines", False, False),
        (JSON, 'ester"', True, False),  # a JSON list must be closed
        (JSON, 'ester", "amine"]}', True, True),
        (JSON, 'ester", "am', True, False),
        (JSON, 'ester"]', True, False),
        (JSON, "ester, amine", False, False),  # names must be quoted
    ],
)
def test_allowed_texts(spec: NameList, text: str, allows: bool, complete: bool) -> None:
    assert spec.allows(text) is allows
    assert spec.complete(text) is complete


class CharTokenizer:
    """One token per character (id = code point); id 0 is the end of the answer."""

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids if i != 0)

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return [ord(c) for c in text]


def test_mask_keeps_only_tokens_that_stay_in_the_list() -> None:
    proc = NameListConstraint(CharTokenizer(), [PLAIN, None], eos_ids=[0], top_k=200)
    so_far = torch.tensor([[ord(c) for c in "amine, "], [ord(c) for c in "amine, "]])
    scores = torch.zeros(2, 128)
    scores[:, ord("g")] = 5.0  # the LLM prefers "group"
    out = proc(so_far, scores)
    allowed = {chr(i) for i in torch.isfinite(out[0]).nonzero().flatten().tolist()}
    assert allowed == {"a", "e"}  # "amide" or "ester"; "amine" was listed already
    assert torch.equal(out[1], scores[1])  # an unconstrained row is untouched
    done = torch.tensor([[ord(c) for c in "ester"]])
    out = NameListConstraint(CharTokenizer(), [PLAIN], eos_ids=[0], top_k=200)(done, scores[:1])
    assert torch.isfinite(out[0, 0])  # after a whole name the answer may end
    narrow = NameListConstraint(CharTokenizer(), [PLAIN], eos_ids=[0], top_k=1)
    out = narrow(so_far[:1], scores[:1])  # the best token leaves the list: go on with the list
    assert {chr(i) for i in torch.isfinite(out[0]).nonzero().flatten().tolist()} == {"a", "e"}


ONE = NameList(("CCO", "Cl"), single=True)
ONE_JSON = NameList(("CCO", "Cl"), json=True, single=True)


@pytest.mark.parametrize(
    ("spec", "text", "allows", "complete"),
    [
        (ONE, "CC", True, False),
        (ONE, "CCO", True, True),
        (ONE, "CCO, Cl", False, False),  # one name, never a list
        (ONE, "CCN", False, False),
        (ONE_JSON, 'CCO"', True, False),
        (ONE_JSON, 'CCO"}', True, True),
        (ONE_JSON, 'CCO", "Cl"', False, False),
    ],
)
def test_one_name_of_a_few(spec: NameList, text: str, allows: bool, complete: bool) -> None:
    assert spec.allows(text) is allows
    assert spec.complete(text) is complete


EVERY = NameList(("amine", "amide", "ester"), every=True)
EVERY_JSON = NameList(("amine", "ester"), json=True, every=True)


@pytest.mark.parametrize(
    ("spec", "text", "allows", "complete"),
    [
        (EVERY, "amine", True, False),  # not yet: two names are missing
        (EVERY, "amine, ester", True, False),
        (EVERY, "amine, ester, amide", True, True),  # every name, in the LLM's order
        (EVERY, "ester, amide, amine", True, True),
        (EVERY, "amine, amine", False, False),
        (EVERY, "amine, ester, amide, ", False, False),  # no separator after the last name
        (PLAIN, "amine, ester, amide,", False, False),
        (EVERY_JSON, 'ester"]}', False, False),  # closed before the last name
        (EVERY_JSON, 'ester"]', False, False),
        (EVERY_JSON, 'ester", "amine"]}', True, True),
        (EVERY_JSON, 'ester", "amine"]', True, False),
    ],
)
def test_every_name_lists_end_only_after_the_last(
    spec: NameList, text: str, allows: bool, complete: bool
) -> None:
    assert spec.allows(text) is allows
    assert spec.complete(text) is complete


def test_every_name_lists_offer_no_closing_before_the_last() -> None:
    assert sorted(EVERY_JSON.continuations('ester"')) == [', "amine"']
    assert sorted(EVERY_JSON.continuations('ester", "amine"')) == ["]}"]
    proc = NameListConstraint(CharTokenizer(), [EVERY], eos_ids=[0], top_k=200)
    scores = torch.zeros(1, 128)
    scores[0, 0] = 9.0  # the LLM would stop after one name
    out = proc(torch.tensor([[ord(c) for c in "amine"]]), scores)
    assert not torch.isfinite(out[0, 0]) and torch.isfinite(out[0, ord(",")])
    out = proc(torch.tensor([[ord(c) for c in "amine, ester, amide"]]), scores)
    assert torch.isfinite(out[0, 0])


def test_continuations() -> None:
    assert sorted(PLAIN.continuations("amine")) == [", amide", ", ester"]
    assert sorted(JSON.continuations('ester"')) == [', "amine"', "]}"]
    assert " amine" in PLAIN.continuations("")


def test_list_answers_hold_only_the_molecules_groups(tiny_edt) -> None:  # type: ignore[no-untyped-def]
    from edtformer.chem import parse_smiles
    from edtformer.facts.groups import present_groups

    smi = "CC(=O)Oc1ccccc1C(=O)O"
    names = set(present_groups(parse_smiles(smi).mol))
    tiny_edt.config.fact_sheet = True
    try:
        plain = tiny_edt.ask(smi, "Which functional groups does it have?", max_new_tokens=24)
        q = 'Which functional groups does it have? Answer in JSON under "groups".'
        begun = tiny_edt.ask(smi, q, max_new_tokens=64)
        tiny_edt.config.constrain_lists = False
        free = tiny_edt.ask(smi, "Which functional groups does it have?", max_new_tokens=24)
    finally:
        tiny_edt.config.fact_sheet, tiny_edt.config.constrain_lists = False, True
    listed = [w.strip() for w in plain.answer.split(",") if w.strip()]
    # the whole list, each once (the budget stretched to hold it, 24 tokens asked)
    assert set(listed) == names and len(listed) == len(set(listed))
    value = json.loads(begun.answer)["groups"]
    assert isinstance(value, list) and set(value) == names and len(value) == len(names)
    assert free.answer != plain.answer  # the tiny random LLM's own words, unconstrained
    salt = "CCCCOc1ccc(C(=O)CCN2CCCCC2)cc1.Cl"
    tiny_edt.config.fact_sheet = True
    try:
        main = tiny_edt.ask(salt, "What is the main component of this salt?", max_new_tokens=40)
        q = 'Which fragment remains without the salt? Return JSON with the key "smiles".'
        kept = tiny_edt.ask(salt, q, max_new_tokens=40)
    finally:
        tiny_edt.config.fact_sheet = False
    frags = ("CCCCOc1ccc(C(=O)CCN2CCCCC2)cc1", "Cl")
    assert main.answer.strip() in frags  # whole: the budget covers the longest fragment
    assert json.loads(kept.answer)["smiles"] in frags


def test_one_name_answers_are_whole_and_the_formula_is_the_sheets(tiny_edt) -> None:  # type: ignore[no-untyped-def]
    from edtformer.llm.constrained import tokens_needed

    long = NameList(("C" * 60, "Cl"), single=True)
    assert tokens_needed(tiny_edt.tokenizer, long) >= len(
        tiny_edt.tokenizer.encode("C" * 60, add_special_tokens=False)
    )
    assert tokens_needed(tiny_edt.tokenizer, NameList(("ester", "amide"))) == 0  # a list: free
    whole = tiny_edt.tokenizer.encode(" ester, amide", add_special_tokens=False)
    assert tokens_needed(tiny_edt.tokenizer, NameList(("ester", "amide"), every=True)) == 2 + len(
        whole
    )
    tiny_edt.config.fact_sheet = True
    try:
        salt = "CCCCOc1ccc(C(=O)CCN2CCCCC2)cc1.Cl"
        main = tiny_edt.ask(salt, "What is the main component of this salt?", max_new_tokens=2)
        q = 'What is the molecular formula? Put the answer in JSON as the value of "mf".'
        formula = tiny_edt.ask("OC(=O)c1ccccc1", q, max_new_tokens=2)
        plain = tiny_edt.ask("[NH4+]", "Give the sum formula.", max_new_tokens=2)
    finally:
        tiny_edt.config.fact_sheet = False
    assert main.answer.strip() in ("CCCCOc1ccc(C(=O)CCN2CCCCC2)cc1", "Cl")
    assert json.loads(formula.answer) == {"mf": "C7H6O2"}  # the random LLM, kept to the sheet
    assert plain.answer.strip() == "H4N+"


def test_group_choices_are_asked_option_by_option(tiny_edt) -> None:  # type: ignore[no-untyped-def]
    from edtformer.facts.select import group_choice

    assert group_choice("Which of these groups does it lack?", ["ester", "amide", "phenol"]) == (
        "absent"
    )
    assert group_choice("Which does it contain?", ["ester", "amide"]) == "present"
    assert group_choice("How many rings?", ["1", "2"]) is None
    assert group_choice("Which one?", ["ester", "ester"]) is None
    q = "Which of these groups does it contain? A) ester B) amide C) phenol D) nitrile"
    tiny_edt.config.fact_sheet = True
    try:
        ans = tiny_edt.ask("CC(=O)Oc1ccccc1C(=O)O", q)
    finally:
        tiny_edt.config.fact_sheet = False
    assert ans.options is not None and set(ans.options) == {"A", "B", "C", "D"}
    assert abs(sum(ans.options.values()) - 1) < 1e-6
    best = max(ans.options, key=ans.options.__getitem__)
    assert ans.answer.startswith(best) and ans.n_anchor_tokens > 0


@pytest.mark.parametrize(
    ("kind", "allowed", "whole", "refused"),
    [
        ("number", [" ", " 3", "-", "36", "363.", "363.91", "363.91}"], ["3", " 363.91", "-2}"],
         [" value", "3a", "363.}", "C19", "1.2.3", '"3"']),
        ("boolean", [" t", "fa", "true", "false}"], [" true", "false", "true}"],
         [" 4", "yes", "truex", '"true"']),
    ],
)  # fmt: skip
def test_json_scalars_keep_their_type(
    kind: str, allowed: list[str], whole: list[str], refused: list[str]
) -> None:
    from edtformer.llm.constrained import JsonScalar

    spec = JsonScalar(kind)
    assert all(spec.allows(t) for t in allowed + whole)
    assert all(spec.complete(t) for t in whole)
    assert not any(spec.allows(t) for t in refused)
    assert all(spec.allows(c) for c in spec.continuations(""))
    with pytest.raises(ValueError, match="number"):
        JsonScalar("string")


def test_plain_numbers_are_the_number_alone() -> None:
    from edtformer.llm.constrained import JsonScalar

    spec = JsonScalar("number", plain=True)
    assert spec.allows(" 2") and spec.complete(" 2") and spec.complete("180.16")
    assert not spec.allows("2}") and not spec.allows("no") and not spec.allows("2 rings")
    assert "}" not in spec.continuations("2") and "." in spec.continuations("2")
    with pytest.raises(ValueError, match="plain"):
        JsonScalar("boolean", plain=True)
    may_decline = JsonScalar("number", plain=True, or_begun="I can't tell")
    assert may_decline.allows(" I can") and not may_decline.complete("I can")
    assert may_decline.complete("I can't tell that from the structure alone.")
    assert not may_decline.allows("I know") and not may_decline.allows("no")
    assert " I can't tell" in may_decline.continuations("") and "'t tell" in (
        may_decline.continuations("I can")
    )


def test_a_count_asked_in_words_is_answered_with_a_number(tiny_edt) -> None:  # type: ignore[no-untyped-def]
    from edtformer.llm.constrained import JsonScalar
    from edtformer.model.answering import name_list

    smi = "CC(=O)Oc1ccccc1C(=O)O"
    tiny_edt.config.fact_sheet = True
    try:
        q = "Can you tally the Lipinski rule breaches of the molecule?"
        spec = name_list(tiny_edt, q, [smi], None)
        assert spec == JsonScalar("number", plain=True, or_begun="I can't tell")
        answer = tiny_edt.ask(smi, q, max_new_tokens=4).answer.strip()
        assert answer.lstrip("-").replace(".", "", 1).isdigit() or answer.startswith("I can't"), (
            answer
        )
        assert name_list(tiny_edt, "Is its weight above 500?", [smi], None) is None  # a verdict
        assert name_list(tiny_edt, "What is the formula?", [smi], None) != JsonScalar(
            "number", plain=True
        )
    finally:
        tiny_edt.config.fact_sheet = False


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ('Would Veber\'s rule accept this molecule? Please output a JSON object keyed by "v".',
         "boolean"),
        ('Does any ring have at least 13 members? JSON under "m".', "boolean"),
        ('Report the formula weight in g/mol. Please output a JSON object keyed by "w".', "number"),
        ('Quick check: separate components in this structure? JSON under "n".', "number"),
        ('How many rotatable bonds? JSON under "n".', "number"),
        ('Is its molecular weight above 500? JSON under "x".', None),  # a comparison
        ('How many chlorine atoms? JSON under "n".', None),  # an element asked by name
        ('Formula and molecular weight? JSON under "v".', None),  # two facts
        ('Which groups does it have? JSON under "g".', None),  # a list
        ('The functional groups and ring types of it? JSON under "g".', None),  # two lines
        ("Would Veber's rule (at most 10 rotatable bonds, TPSA at most 140) accept it? JSON "
         'under "v".', "boolean"),  # a rule named with its thresholds: its verdict
        ('What are its TPSA and its Veber verdict? JSON under "v".', None),  # two facts
        ("Quick check: non-aromatic rings in it? Respond numerically, without units or words.",
         "number"),  # the "or" of a format request asks no choice
        ('Is the number of rings above 3 or not? JSON under "x".', None),
    ],
)  # fmt: skip
def test_scalar_type_of_the_one_fact_asked(question: str, kind: str | None) -> None:
    from edtformer.facts.select import narrow, scalar_type

    assert scalar_type(narrow(question, ["CCO"]), question, ["CCO"]) == kind


def test_json_numbers_and_booleans_are_typed(tiny_edt) -> None:  # type: ignore[no-untyped-def]
    qs = [
        'Would Veber\'s rule accept this molecule? Please output a JSON object keyed by "v".',
        'Report the formula weight in g/mol. Please output a JSON object keyed by "w".',
    ]
    tiny_edt.config.fact_sheet = True
    try:
        veber, weight = (tiny_edt.ask("CC(=O)Oc1ccccc1C(=O)O", q, max_new_tokens=8) for q in qs)
    finally:
        tiny_edt.config.fact_sheet = False
    assert isinstance(json.loads(veber.answer)["v"], bool)  # the random LLM, kept to the type
    value = json.loads(weight.answer)["w"]
    assert value is None or isinstance(value, int | float)  # (a number cut short: no value)


def test_stereo_labels_asked_are_the_sheets_whole_list(tiny_edt) -> None:  # type: ignore[no-untyped-def]
    """CIP or E/Z labels asked are decoded as the sheet lists them (all of them, never one "S"
    for three centres); a question about one position is left to the LLM."""
    from edtformer.model.answering import name_list

    smi = "N[C@@H](C)C(=O)N[C@@H](CO)C(=O)O"  # two specified centres, both S
    tiny_edt.config.fact_sheet = True
    try:
        q = "Which configuration, R or S, do the stereocentres of the molecule have?"
        assert name_list(tiny_edt, q, [smi], None) == NameList(("S,S",), single=True)
        assert tiny_edt.ask(smi, q, max_new_tokens=2).answer.strip() == "S,S"
        q = "Is this R or S?"
        assert name_list(tiny_edt, q, ["C[C@H](F)Cl"], None) == NameList(("R",), single=True)
        q = 'Give the E/Z labels as JSON with the key "ez".'
        spec = name_list(tiny_edt, q, ["C/C=C/C=C\\C"], '{"ez": "')
        assert spec == NameList(("E,Z",), json=True, single=True)
        assert name_list(tiny_edt, "What is the configuration at atom 2?", [smi], None) is None
        assert name_list(tiny_edt, "Is this R or S?", ["CC(F)Cl"], None) is None  # no labels
    finally:
        tiny_edt.config.fact_sheet = False


def test_group_lists_picked_by_a_property_leave_the_length_to_the_llm(tiny_edt) -> None:  # type: ignore[no-untyped-def]
    """ "Which groups make it acidic?" is some of the groups (names kept to the sheet's list, as
    many as the LLM writes); "Which functional groups?" is every one."""
    from edtformer.model.answering import name_list

    smi = "OC(=O)c1ccccc1N"
    tiny_edt.config.fact_sheet = True
    try:
        whole = name_list(tiny_edt, "Which functional groups does it contain?", [smi], None)
        some = name_list(tiny_edt, "Which functional groups make it acidic?", [smi], None)
        assert isinstance(whole, NameList) and isinstance(some, NameList)
        assert whole.every and not some.every and some.names == whole.names
    finally:
        tiny_edt.config.fact_sheet = False

"""Answer parsers: the multiple-choice parser is position-unbiased and never defaults to a letter."""

from __future__ import annotations

import pytest

from edtformer.evaluation import extract_smiles, parse_choice, parse_number

OPTIONS = ["a hydroxyl group", "an amine group", "a nitro group", "a carboxylic acid group"]
LETTERS = "ABCD"


@pytest.mark.parametrize("letter", list(LETTERS))
@pytest.mark.parametrize(
    "template",
    [
        "{L}",
        "{l}",
        "({L})",
        "{L}.",
        "Answer: {L}",
        "answer: {l}",
        "**Answer:** ({L})",
        "({L}) {opt}",
        "{L}. {opt}",
        "{L}) {opt}",
        "I think the answer is {L}.",
        "The answer is {L} because the molecule has {opt}.",
        "The correct option is ({L}).",
        "Option {L} is correct.",
        "{L} is correct.",
        "I would choose {L}.",
        # distractors: "A" as an article must not be read as a choice
        "A molecule like this is polar. The answer is {L}.",
        "A molecule with this scaffold usually has {opt}, so the answer is ({L}).",
        "A careful look shows {opt}. {L}.",
        # the option text alone, without a letter
        "{opt}",
        "The molecule contains {opt}.",
        "A molecule like this contains {opt}.",
        "It has {OPT} attached to the ring.",
    ],
)
def test_parser_is_position_unbiased(template: str, letter: str) -> None:
    opt = OPTIONS[LETTERS.index(letter)]
    text = template.format(L=letter, l=letter.lower(), opt=opt, OPT=opt.upper())
    assert parse_choice(text, OPTIONS) == letter, text


@pytest.mark.parametrize(
    "text",
    [
        "A molecule like this is hard to classify.",
        "A compound of this kind is usually polar.",
        "I am not sure.",
        "",
        "   ",
        "The answer is A molecule with two rings.",  # "A" is an article here, not a label
    ],
)
def test_no_letter_gives_none(text: str) -> None:
    assert parse_choice(text, OPTIONS) is None
    assert parse_choice(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "Answer: B or C",
        "The answer is (B) and (D).",
        "The answer is B. No wait, the answer is C.",
        "It has an amine group and a nitro group.",  # two option texts
        "(A) or (C)",
    ],
)
def test_contradictory_evidence_gives_none(text: str) -> None:
    assert parse_choice(text, OPTIONS) is None


def test_none_input_and_letters() -> None:
    assert parse_choice(None) is None
    assert parse_choice("E", letters="ABCDE") == "E"
    assert parse_choice("E") is None  # only A-D by default
    assert parse_choice("(e)", ["1", "2", "3", "4", "5"]) == "E"  # letters follow the options


def test_strong_evidence_wins_over_option_text() -> None:
    # the explanation names option A's text, but the answer phrase says C
    assert parse_choice("Although it has a hydroxyl group, the answer is C.", OPTIONS) == "C"


def test_longer_option_shadows_contained_option() -> None:
    opts = ["benzene", "benzene ring with a nitro group", "pyridine", "furan"]
    assert parse_choice("It is a benzene ring with a nitro group.", opts) == "B"
    assert parse_choice("It is benzene.", opts) == "A"


def test_names_with_letters_are_not_labels() -> None:
    assert parse_choice("It is a vitamin C derivative.") is None
    assert parse_choice("It is an analogue of coenzyme A.") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("−3.2", -3.2),  # Unicode minus
        ("-3.2 kcal/mol", -3.2),
        ("about 1e-3", 1e-3),
        ("The logS is approximately +0.5.", 0.5),
        ("1.5 × 10^-3 M", 1.5e-3),
        ("1.5 × 10⁻³ M", 1.5e-3),
        ("2.0E+2", 200.0),
        ("1,234.5 g/mol", 1234.5),
        ("C6H6 has a logP of 2.1", 2.1),  # digits in a formula skipped
        ("2-methylpropan-1-ol: logP 0.8", 0.8),  # IUPAC locants skipped
        ("2,4-dinitrophenol has pKa 4.1", 4.1),
        ("1H-indole, logP 2.1", 2.1),
        ("Reasoning: 3 rings... Answer: -1.25", -1.25),  # after the last answer marker
        (".5", 0.5),
        (7, 7.0),
        (-2.5, -2.5),
    ],
)
def test_parse_number(text: str | float, expected: float) -> None:
    assert parse_number(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["none", "", "I cannot tell.", None, float("nan"), "C6H6"])
def test_parse_number_none(text: str | float | None) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CCO", "CCO"),
        ("The product is CC(=O)O.", "CC(=O)O"),
        ("[START_I_SMILES]c1ccccc1O[END_I_SMILES]", "c1ccccc1O"),
        ("<smiles>C[C@H](N)C(=O)O</smiles>", "C[C@H](N)C(=O)O"),
        ("SMILES: c1ccncc1", "c1ccncc1"),
        ("Here it is: `CC(C)O` done", "CC(C)O"),
        ("```\nCCN\n```", "CCN"),
        ("Either CO or CCCO; I pick the longer.", "CCCO"),  # the valid token with most atoms
        ('"F/C=C/F",', "F/C=C/F"),
    ],
)
def test_extract_smiles(text: str, expected: str) -> None:
    assert extract_smiles(text) == expected


@pytest.mark.parametrize("text", ["", None, "I cannot answer that.", "NO idea", "c1ccccc"])
def test_extract_smiles_none(text: str | None) -> None:
    assert extract_smiles(text) is None

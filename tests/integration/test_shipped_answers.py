"""The shipped default bridge answers a chemist's questions from its fact sheet (real SmolLM2 +
MiniMol; ``slow``): the asked fact read, JSON with the asked key, an unanswerable question
declined. Wordings written for this test, apart from every template."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

DICLOFENAC = "OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl"


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    import torch

    from edtformer.model import EDTFormer

    torch.set_num_threads(2)
    return EDTFormer.from_pretrained("default").eval()


def test_the_shipped_config_reads_facts_and_begins_answers(model) -> None:  # type: ignore[no-untyped-def]
    cfg = model.config
    assert cfg.fact_sheet and cfg.sheet_lines == "facts"
    assert cfg.answer_prefix and cfg.decline_unnamed


def test_answers_a_chemist_reads(model) -> None:  # type: ignore[no-untyped-def]
    qs = [
        "Chlorine count of diclofenac?",
        'Diclofenac: store its number of H-bond donors in JSON under "donors".',
        "What colour are diclofenac crystals?",
        "Average molar mass of diclofenac in g/mol?",
    ]
    out = model.ask_many([DICLOFENAC] * len(qs), qs, max_new_tokens=48)
    cl, donors, colour, mass = (a.answer for a in out)
    assert cl.strip().rstrip(".") == "2"
    assert json.loads(donors) == {"donors": 2}
    assert colour.startswith("I can't tell")
    assert "296.15" in mass
    assert out[0].facts is not None and out[0].facts[0].splitlines()[1:] == ["chlorine atoms: 2"]


def test_lists_choices_and_topics_off_the_sheet(model) -> None:  # type: ignore[no-untyped-def]
    """Group lists name only the molecule's groups, each once; a lettered group choice is
    answered from the sheet's yes/no lines; a topic no structure answers is declined even
    beside a sheet word; a salt's main component is one of its fragments."""
    from edtformer.chem import parse_smiles
    from edtformer.facts.groups import present_groups

    names = set(present_groups(parse_smiles(DICLOFENAC).mol))
    qs = [
        "Name the functional groups you can find in diclofenac.",
        'Diclofenac\'s functional groups as JSON, key "fg", please.',
        "Which research group first made diclofenac?",
        "Diclofenac sodium: which piece is left without the sodium ion?",
    ]
    mols = [DICLOFENAC, DICLOFENAC, DICLOFENAC, "O=C([O-])Cc1ccccc1Nc1c(Cl)cccc1Cl.[Na+]"]
    plain, as_json, who, parent = (a.answer for a in model.ask_many(mols, qs, max_new_tokens=64))
    listed = [w.strip() for w in plain.split(",")]
    assert listed and set(listed) <= names and len(listed) == len(set(listed))
    fg = json.loads(as_json)["fg"]
    assert isinstance(fg, list) and fg and set(fg) <= names
    assert who.startswith("I can't tell")
    assert parent.strip() in {"O=C([O-])Cc1ccccc1Nc1c(Cl)cccc1Cl", "[Na+]"}
    choice = model.ask(
        DICLOFENAC,
        "Which of these does diclofenac lack? A) carboxylic acid B) nitrile "
        "C) chlorine D) benzene ring",
    )
    assert choice.answer.startswith("B")

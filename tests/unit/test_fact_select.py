"""The sheet lines a question names: every *train* wording of an on-sheet fact keeps the line
that answers it (or falls back to the whole sheet); the molecule's SMILES never matches a word."""

from __future__ import annotations

import random

import pytest
from rdkit import Chem

from edtformer.facts.questions import fact_kinds, generate
from edtformer.facts.select import lines_for, strip_smiles
from edtformer.facts.sheet import (
    LINE_FIELDS,
    LINE_NAMES,
    render_sheet,
    sheet_lines,
    sheet_values,
)

#: The sheet line that answers each fact kind: a scalar field's line, or the line that writes it.
LINE_OF: dict[str, str] = {
    **{key: line for line, keys in LINE_FIELDS.items() for key in keys},
    "element_count": "composition", "cip": "stereo", "largest_fragment": "fragments",
    "has_group": "groups", "groups": "groups",
}  # fmt: skip

MOLS = ["CC(=O)Oc1ccccc1C(=O)O", "N[C@@H](CO)C(=O)O", "[Na+].[O-]C(=O)C", "C/C=C/Cl"]


def test_every_fact_kind_has_a_line() -> None:
    assert set(LINE_OF) == set(fact_kinds())
    assert set(LINE_OF.values()) <= set(LINE_NAMES)


@pytest.mark.parametrize("kind", fact_kinds())
def test_train_wordings_keep_the_answering_line(kind: str) -> None:
    rng = random.Random(0)
    for smi in MOLS:
        values = sheet_values(Chem.MolFromSmiles(smi))
        for form in ("plain", "json", "mc"):
            for _ in range(12):
                item = generate(values, smi, rng, "train", kind=kind, form=form)
                lines = lines_for(item.question, [smi])
                assert lines is None or LINE_OF[kind] in lines, (item.question, lines)
                text = render_sheet(values, only=lines)
                assert item.answer in text or item.answer_type != "int" or lines is None


def test_smiles_atoms_are_not_words() -> None:
    assert strip_smiles("How many rings does ClC(Cl)Cl have?", ["ClC(Cl)Cl"]).split() == [
        "How", "many", "rings", "does", "have?",
    ]  # fmt: skip
    assert lines_for("How many rings does ClC(Cl)Cl have?", ["ClC(Cl)Cl"]) == {"rings"}
    assert "composition" in (lines_for("How many chlorine atoms are there?") or set())
    assert lines_for("What is its melting point?") is None  # off the sheet: the whole sheet


def test_selected_sheet_holds_only_the_named_lines() -> None:
    values = sheet_values(Chem.MolFromSmiles("CC(C)Cc1ccc(cc1)C(C)C(=O)O"))
    lines = sheet_lines(values, bbb=0.5)
    text = render_sheet(values, bbb=0.5, only={"rotatable"})
    assert lines["rotatable"] in text and lines["descriptors"] not in text and "P(BBB+)" not in text


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("How many chlorine atoms?", ["element:Cl", "group:chlorine"]),
        ("How many Cl atoms in OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl?", ["element:Cl"]),
        ("nN?", ["element:N"]),
        ("How many sulphur atoms are there", ["element:S"]),
        ("Number of O atoms", ["element:O"]),
        ("Does it contain an ester?", ["group:ester"]),
        ("Is there a carboxylic acid group?", ["group:carboxylic acid"]),
        ("A benzene ring or a pyridine ring?", ["group:benzene ring", "group:pyridine ring"]),
        ("How many rings?", []),
        ("Which functional groups are present?", []),
    ],
)
def test_asked_facts(question: str, asked: list[str]) -> None:
    from edtformer.facts.select import asked_facts

    assert asked_facts(question, ["OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl"]) == asked


def test_asked_facts_are_written_absent_ones_included() -> None:
    from edtformer.facts import render_sheet, sheet_of

    values = sheet_of("OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl")  # diclofenac: Cl 2, no boron, no ester
    text = render_sheet(
        values, only={"groups"}, asked=["element:Cl", "element:B", "group:ester", "group:amine"]
    )
    assert "chlorine atoms: 2" in text and "boron atoms: 0" in text
    assert "ester: no" in text and "amine: yes" in text
    assert text.count("\n") == 2  # heading, composition (added for the elements), groups

"""The sheet cut to the single facts a question names (``sheet_lines="facts"``): every *train*
wording of a fact keeps the item that answers it; hand-written chemists' wordings read the one
item they ask; lines the question does not ask about are dropped; the whole sheet still comes
when nothing is named."""

from __future__ import annotations

import random

import pytest
from rdkit import Chem

from edtformer.facts.questions import fact_kinds, generate
from edtformer.facts.select import narrow
from edtformer.facts.sheet import SHEET_FIELDS, element_name, field, render_sheet, sheet_values
from edtformer.facts.vocabulary import ITEM_WORDS, NARROWED_LINES

MOLS = [
    "CC(=O)Oc1ccccc1C(=O)O",
    "N[C@@H](CO)C(=O)O",
    "[Na+].[O-]C(=O)C",
    "C/C=C/Cl",
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
]


def _sheet(question: str, smiles: str) -> str:
    values = sheet_values(Chem.MolFromSmiles(smiles))
    want = narrow(question, [smiles])
    items = None if want.lines is None else want.items
    return render_sheet(values, only=want.lines, asked=list(want.asked), items=items)


def _must_show(kind: str, item: object, smiles: str) -> str:
    """The text the narrowed sheet must hold for ``item`` (a generated question of ``kind``)."""
    if kind == "element_count":
        sym = item.meta["subject"]  # type: ignore[attr-defined]
        return f"{element_name(sym)} atoms:"
    if kind == "cip":
        return "CIP labels:"
    if kind == "has_group":  # the asked group (or every lettered option's) written out alone
        subject = item.meta.get("subject")  # type: ignore[attr-defined]
        return f"{subject}: " if subject else ": yes"
    if kind == "groups":  # the group list, or (lettered lists) every option's group written out
        return "groups:" if "options" not in item.meta else ": yes"  # type: ignore[attr-defined]
    if kind == "largest_fragment":
        return "fragments:"
    return field(kind).label + ":"


def test_every_narrowed_item_has_words() -> None:
    assert {k for keys in NARROWED_LINES.values() for k in keys} <= set(ITEM_WORDS)
    assert set(ITEM_WORDS) <= {f.key for f in SHEET_FIELDS} | {"atoms", "cip", "ez"}


@pytest.mark.parametrize("kind", fact_kinds())
def test_train_wordings_keep_the_answering_item(kind: str) -> None:
    rng = random.Random(1)
    for smi in MOLS:
        values = sheet_values(Chem.MolFromSmiles(smi))
        for form in ("plain", "json", "mc"):
            for _ in range(12):
                try:
                    item = generate(values, smi, rng, "train", kind=kind, form=form)
                except ValueError:
                    break  # a kind this molecule cannot be asked about (no fragments, ...)
                if "subject" not in item.meta and kind == "element_count":
                    continue
                text = _sheet(item.question, smi)
                assert _must_show(kind, item, smi) in text, (item.question, text)


@pytest.mark.parametrize(
    ("question", "shown", "hidden"),
    [
        ("What's the average molar mass of this compound?", "molecular weight:", "monoisotopic"),
        ("Give me the monoisotopic mass for HRMS.", "monoisotopic mass:", "molecular weight:"),
        ("Count the aromatic rings.", "aromatic rings:", "aliphatic rings:"),
        ("How many non-aromatic rings are there?", "aliphatic rings:", "aromatic rings: 1"),
        ("What size is its biggest ring?", "largest ring size:", "ring systems:"),
        ("How many H-bond donors does it have?", "H-bond donors:", "acceptors"),
        ("Number of hydrogen-bond acceptors?", "H-bond acceptors:", "hydrogen atoms"),
        ("How many stereocentres have no configuration given?", "unspecified stereocentres:",
         "CIP labels"),
        ("Is it chiral?", "chiral:", "stereocentres:"),
        ("What is the TPSA?", "TPSA:", "logP:"),
        ("clogP please", "logP:", "TPSA:"),
        ("How many hydrogens does it have?", "hydrogen atoms:", "formula:"),
        ("Heavy atom count, ignoring hydrogens?", "heavy atoms:", "hydrogen atoms"),
        ("How many atoms form its largest ring?", "largest ring size:", "formula:"),
        ("How many hydrogen-bond donating groups?", "H-bond donors:", "acceptors"),
        ("How many H-bond accepting atoms?", "H-bond acceptors:", "donors"),
        ("molecular wieght of this compound (g/mol)", "molecular weight:", "monoisotopic"),
    ],
)  # fmt: skip
def test_chemists_wordings_read_the_asked_item(question: str, shown: str, hidden: str) -> None:
    text = _sheet(question, "CC(C)Cc1ccc(cc1)C(C)C(=O)O")  # ibuprofen, written without stereo
    assert shown in text and hidden not in text, text


def test_double_bond_questions_drop_the_stereocentre_line() -> None:
    text = _sheet("How many stereo double bonds are specified?", "C/C=C/[C@H](F)Cl")
    assert "specified stereo double bonds: 1" in text and "stereocentres" not in text


def test_unnamed_questions_read_the_whole_sheet() -> None:
    want = narrow("What is its melting point?")
    assert want.lines is None and not want.items
    text = _sheet("What is its melting point?", "CCO")
    assert "formula: C2H6O" in text and "TPSA:" in text


def test_render_items() -> None:
    values = sheet_values(Chem.MolFromSmiles("OC(=O)Cc1ccccc1Nc1c(Cl)cccc1Cl"))
    whole = render_sheet(values, only={"mass"})
    assert "molecular weight" in whole and "monoisotopic" in whole
    assert render_sheet(values, only={"mass"}, items=set()) == whole  # none named: whole line
    one = render_sheet(values, only={"mass"}, items={"exact_mass"})
    assert "monoisotopic mass: 295.0167" in one and "molecular weight" not in one
    cl = render_sheet(values, only={"composition"}, asked=["element:Cl"], items=set())
    assert cl.splitlines()[1:] == ["chlorine atoms: 2"]
    assert "formula" in render_sheet(values, only={"composition"}, asked=["element:Cl"])


def test_asked_groups_alone_in_facts_mode() -> None:
    text = _sheet("Does it have an ester or an amide?", "CC(=O)Oc1ccccc1C(=O)O")
    assert text.splitlines()[1:] == ["ester: yes; amide: no"]
    whole = _sheet("Which functional groups does it have?", "CC(=O)Oc1ccccc1C(=O)O")
    assert "groups: " in whole and "carboxylic acid" in whole


@pytest.mark.parametrize(
    ("question", "line"),
    [
        ("How many double bonds?", "double bonds (Kekulé structure): 3"),
        ("How many triple bonds?", "triple bonds: 1"),
        ("Count the heteroatoms.", "heteroatoms (not C or H): 2"),
        ("How heavy is this molecule?", "molecular weight: 133.15"),
        ("Is it neutral?", "net charge: 0"),
    ],
)
def test_counts_written_only_when_asked(question: str, line: str) -> None:
    text = _sheet(question, "C#CCOc1ccncc1")  # pyridine: 3 double bonds in Kekulé form
    assert line in text.splitlines(), text
    assert "double bonds (Kekulé" not in _sheet("Describe this molecule.", "C#CCOc1ccncc1")


def test_stereo_double_bond_questions_are_not_counts() -> None:
    text = _sheet("How many stereo double bonds are specified?", "C/C=C/C")
    assert "Kekulé" not in text and "specified stereo double bonds: 1" in text


@pytest.mark.parametrize(
    ("question", "kind", "rings_only"),
    [
        ("I'd like to know the functional groups and ring types in this compound.", "list", False),
        ("What ring types are present?", "list", True),
        ("What kinds of rings does it contain?", "list", True),
        ("Which functional groups does this molecule contain?", "list", False),
        ("How many rings does it have?", None, False),  # a count: the ring line
        ("How many types of rings?", None, False),
    ],
)
def test_ring_types_are_the_group_lists_ring_names(
    question: str, kind: str | None, rings_only: bool
) -> None:
    """ "Ring types" asks the ring kinds by name (the group list: "benzene ring"), not the ring
    count; asked alone, the list holds only the ring names."""
    from edtformer.facts.select import narrow, ring_kinds_only, value_type

    request = narrow(question)
    assert value_type(request, question) == kind
    if kind == "list":
        assert request.lines == {"groups"}
    else:
        assert "rings" in request.lines
    assert ring_kinds_only(question) is rings_only


@pytest.mark.parametrize(
    ("question", "qualified"),
    [
        ("Which functional groups make it acidic?", True),
        ("Which of its groups could be hydrolysed?", True),
        ("Which groups are responsible for its basicity?", True),
        ("Which functional groups does this molecule contain?", False),
        ("List every functional group, e.g. carboxylic acid or amino acid.", False),
        ("Does it have an acid chloride or a Schiff base? List its groups.", False),
        ("What ring types are present?", False),
    ],
)
def test_group_lists_picked_by_a_property_are_not_the_whole_list(
    question: str, qualified: bool
) -> None:
    """A group list asked through a property no rule decides ("make it acidic") is some of the
    groups, the LLM's choice; a group's own name ("carboxylic acid") is no such property."""
    from edtformer.facts.select import list_qualified

    assert list_qualified(question) is qualified

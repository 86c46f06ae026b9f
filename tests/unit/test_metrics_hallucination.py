"""Functional-group hallucination rate, checked by RDKit substructure matching."""

from __future__ import annotations

import math

import pytest
from rdkit import Chem

from edtformer.errors import InvalidSmilesError
from edtformer.evaluation import (
    FUNCTIONAL_GROUPS,
    MetricInputError,
    UndefinedMetricWarning,
    check_claims,
    find_claims,
    hallucination_rate,
)

#: a molecule that has each group (its SMARTS must match) and one that does not.
EXAMPLES: dict[str, tuple[str, str]] = {
    "hydroxyl": ("CCO", "CCOC"),
    "alcohol": ("CCO", "Oc1ccccc1"),
    "phenol": ("Oc1ccccc1", "CCO"),
    "carboxylic acid": ("CC(=O)O", "CC(=O)OC"),
    "ester": ("CC(=O)OC", "CC(=O)O"),
    "amide": ("CC(N)=O", "CC(=O)O"),
    "amine": ("CCN", "CC(N)=O"),
    "nitrile": ("CC#N", "CCN"),
    "nitro": ("C[N+](=O)[O-]", "CO[N+](=O)[O-]"),  # methyl nitrate is not a nitro compound
    "halogen": ("CCBr", "CCO"),
    "fluorine": ("CF", "CCl"),
    "chlorine": ("CCl", "CF"),
    "bromine": ("CBr", "CCl"),
    "iodine": ("CI", "CBr"),
    "ketone": ("CC(C)=O", "CC=O"),
    "aldehyde": ("CC=O", "CC(C)=O"),
    "carbonyl": ("CC=O", "CCO"),
    "ether": ("COC", "COC(C)=O"),
    "thiol": ("CS", "CSC"),
    "thioether": ("CSC", "CS"),
    "sulfonamide": ("CS(N)(=O)=O", "CS(=O)(=O)O"),
    "sulfonic acid": ("CS(=O)(=O)O", "CS(N)(=O)=O"),
    "phosphate": ("COP(=O)(O)O", "CP(C)(C)=O"),
    "urea": ("NC(N)=O", "CC(N)=O"),
    "carbamate": ("COC(N)=O", "NC(N)=O"),
    "alkene": ("C=CC", "c1ccccc1"),
    "alkyne": ("C#CC", "C=CC"),
    "phenyl": ("Cc1ccccc1", "c1ccncc1"),
    "aromatic ring": ("c1ccncc1", "C1CCCCC1"),
    "pyridine": ("c1ccncc1", "c1ccccc1"),
}


def test_every_group_has_an_example() -> None:
    assert set(EXAMPLES) == set(FUNCTIONAL_GROUPS)


@pytest.mark.parametrize("group", sorted(FUNCTIONAL_GROUPS))
def test_smarts_match_positive_not_negative(group: str) -> None:
    query = Chem.MolFromSmarts(FUNCTIONAL_GROUPS[group][0])
    has, lacks = EXAMPLES[group]
    assert Chem.MolFromSmiles(has).HasSubstructMatch(query)
    assert not Chem.MolFromSmiles(lacks).HasSubstructMatch(query)


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("It has a hydroxyl group.", {"hydroxyl"}),
        ("A primary alcohol.", {"alcohol"}),
        ("An aromatic carboxylic acid.", {"aromatic ring", "carboxylic acid"}),
        ("A sulfonamide drug.", {"sulfonamide"}),  # not also "amide"
        ("A nitrogen-containing heterocycle.", set()),  # "nitrogen" is not "nitro"
        ("2,4-dinitrophenol", {"nitro", "phenol"}),
        ("4-chloro-2-fluorobenzoic acid", {"chlorine", "fluorine", "carboxylic acid"}),
        ("a trifluoromethyl group on a benzene ring", {"fluorine", "phenyl"}),
        ("an ester and an ether", {"ester", "ether"}),
        ("Hydroxyl, hydroxyl and HYDROXYL.", {"hydroxyl"}),  # one claim per group
        ("It is a small molecule.", set()),
    ],
)
def test_find_claims(text: str, groups: set[str]) -> None:
    assert {g for g, _, _ in find_claims(text)} == groups


def test_negation_scope() -> None:
    claims = {g: neg for g, _, neg in find_claims("It has no nitro group, but a ketone.")}
    assert claims == {"nitro": True, "ketone": False}
    claims = {g: neg for g, _, neg in find_claims("a non-aromatic ketone")}
    assert claims == {"aromatic ring": True, "ketone": False}
    claims = {g: neg for g, _, neg in find_claims("It lacks any halogen or amine.")}
    assert claims == {"halogen": True, "amine": True}


def test_negated_claim_is_hallucinated_when_group_present() -> None:
    (claim,) = check_claims("It has no hydroxyl group.", Chem.MolFromSmiles("CCO"))
    assert claim.negated and claim.present and claim.hallucinated
    (claim,) = check_claims("It has no hydroxyl group.", Chem.MolFromSmiles("CCC"))
    assert not claim.hallucinated


def test_hallucination_rate_hand_worked() -> None:
    texts = [
        # benzoic acid: carboxylic acid (true), benzene ring (true), no nitro (true) -> 0 of 3
        "A carboxylic acid with a benzene ring and no nitro group.",
        # ethanol: nitro (false), amine (false) -> 2 of 2
        "This molecule contains a nitro group and an amine.",
        # no group named
        "It is a small molecule.",
        # ethanol: alcohol (true), halogen (false) -> 1 of 2
        "An alcohol bearing a halogen.",
    ]
    smiles = ["OC(=O)c1ccccc1", "CCO", "CCO", "CCO"]
    r = hallucination_rate(texts, smiles)
    # corpus: 3 hallucinated of 3 + 2 + 2 = 7 claims
    assert r.n_claims == 7 and r.n_hallucinated == 3
    assert r.rate == pytest.approx(3 / 7)
    # per molecule: 0, 1, NaN, 1/2 -> mean over molecules with claims = 1.5 / 3
    assert r.per_molecule[:2] == [0.0, 1.0] and math.isnan(r.per_molecule[2])
    assert r.per_molecule[3] == 0.5
    assert r.mean_per_molecule == pytest.approx(0.5)
    assert r.n_without_claims == 1
    assert r.hallucinated_groups == {"nitro": 1, "amine": 1, "halogen": 1}
    assert r.as_dict()["hallucination_rate"] == pytest.approx(3 / 7)


def test_hallucination_rate_degenerate() -> None:
    with pytest.raises(MetricInputError):
        hallucination_rate([], [])
    with pytest.raises(InvalidSmilesError, match="molecule 1"):
        hallucination_rate(["a", "b"], ["C", "C1CC"])
    with pytest.warns(UndefinedMetricWarning):
        r = hallucination_rate(["Nothing here."], ["CCO"])
    assert math.isnan(r.rate) and r.n_claims == 0

"""Molecule generation metrics on canonical SMILES against hand-worked values."""

from __future__ import annotations

import math

import pytest
from rdkit import Chem

from edtformer.errors import InvalidSmilesError
from edtformer.evaluation import (
    MetricInputError,
    UndefinedMetricWarning,
    canonical_smiles,
    levenshtein,
    molecule_generation_metrics,
    tanimoto,
)
from edtformer.evaluation.molecules import FINGERPRINTS


def test_canonical_smiles() -> None:
    assert canonical_smiles("OCC") == canonical_smiles("C(O)C") == "CCO"
    assert canonical_smiles("C[C@H](N)O") != canonical_smiles("C[C@@H](N)O")
    assert canonical_smiles("C[C@H](N)O", isomeric=False) == canonical_smiles("CC(N)O")
    assert canonical_smiles("not a smiles") is None
    assert canonical_smiles("") is None and canonical_smiles(None) is None


def test_levenshtein() -> None:
    assert levenshtein("kitten", "sitting") == 3  # k->s, e->i, +g
    assert levenshtein("", "abc") == levenshtein("abc", "") == 3
    assert levenshtein("abc", "abc") == 0


@pytest.mark.parametrize("fp", sorted(FINGERPRINTS))
def test_tanimoto_is_bit_set_jaccard(fp: str) -> None:
    a, b = Chem.MolFromSmiles("c1ccccc1O"), Chem.MolFromSmiles("Cc1ccccc1O")
    bits_a = set(FINGERPRINTS[fp](a).GetOnBits())
    bits_b = set(FINGERPRINTS[fp](b).GetOnBits())
    assert tanimoto(a, b, fp) == pytest.approx(len(bits_a & bits_b) / len(bits_a | bits_b))
    assert tanimoto(a, a, fp) == 1.0
    assert 0.0 < tanimoto(a, b, fp) < 1.0


def test_generation_metrics_hand_worked() -> None:
    preds = ["OCC", "c1ccccc1O", "not a smiles", None]
    refs = ["CCO", "Oc1ccccc1C", "CC", "CCN"]
    m = molecule_generation_metrics(preds, refs)
    assert m["n"] == 4
    assert m["validity"] == 0.5  # 2 of 4 parse
    assert m["exact_match"] == 0.25  # only OCC == CCO after canonicalisation
    # fingerprint similarity is the mean over the 2 valid pairs: (1 + T(phenol, o-cresol)) / 2
    phenol, cresol = Chem.MolFromSmiles("Oc1ccccc1"), Chem.MolFromSmiles("Cc1ccccc1O")
    for fp in FINGERPRINTS:
        assert m[f"{fp}_fts"] == pytest.approx((1 + tanimoto(phenol, cresol, fp)) / 2)
    # canonical strings: CCO|CCO -> 0; Oc1ccccc1|Cc1ccccc1O -> 2 (O->C, +O);
    # "not a smiles"|CC -> 12 (2 substitutions + 10 deletions); ""|CCN -> 3
    assert m["levenshtein"] == pytest.approx((0 + 2 + 12 + 3) / 4)


def test_char_bleu_on_canonical_smiles() -> None:
    # characters C C C C O vs C C C C N: p1 = 4/5, p2 = 3/4, p3 = 2/3, p4 = 1/2, BP = 1
    m = molecule_generation_metrics(["OCCCC"], ["NCCCC"])  # canonical: CCCCO, CCCCN
    assert m["bleu"] == pytest.approx(0.2**0.25)
    assert molecule_generation_metrics(["OCCCC"], ["CCCCO"])["bleu"] == pytest.approx(1.0)


def test_no_valid_prediction_gives_nan_similarity() -> None:
    with pytest.warns(UndefinedMetricWarning, match="no valid prediction"):
        m = molecule_generation_metrics(["xyz", None], ["CC", "CCO"])
    assert m["validity"] == 0.0 and m["exact_match"] == 0.0
    assert math.isnan(m["morgan_fts"])


def test_generation_metrics_bad_input() -> None:
    with pytest.raises(MetricInputError):
        molecule_generation_metrics([], [])
    with pytest.raises(MetricInputError):
        molecule_generation_metrics(["C"], ["C", "CC"])
    with pytest.raises(InvalidSmilesError, match="reference 1"):
        molecule_generation_metrics(["C", "C"], ["C", "C1CC"])

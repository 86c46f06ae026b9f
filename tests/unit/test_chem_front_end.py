"""The strict molecule front end: the molecule RDKit reads from the *whole* string, or a named
refusal — never a silently different molecule, never a traceback, never a 1 MB error line."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem, RDLogger

from edtformer.chem import parse_smiles
from edtformer.chem.molecule import MAX_SMILES_LENGTH
from edtformer.errors import QUOTE_LIMIT, InvalidSmilesError, UnsupportedMoleculeError

REFUSED = [
    ("C C", "whitespace at position 1"),
    ("CC\tO", "whitespace"),
    ("CC\nO", "whitespace"),
    ("CC\rO", "whitespace"),
    ("Cé", "non-ASCII character 'é'"),
    ("CCО", "non-ASCII"),  # Cyrillic O: a look-alike must not turn ethanol into ethane
    ("C\x00C", "control character"),
    ("C\x7fC", "control character"),
    ("CCO |$;;$|", "CXSMILES"),
    ("CCO |c:1|", "CXSMILES"),
    ("c1ccccc1 benzene", "name must go in its own column"),
    ("[N+5]", "formal charge +5"),
    ("[C+15]", "formal charge +15"),
    ("[C-9]", "formal charge -9"),
    ("", "empty"),
    ("   ", "empty"),
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_refused_with_a_named_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidSmilesError, match=re.escape(reason)):
        parse_smiles(text)


@pytest.mark.parametrize(
    "text", ["CCO", " CCO\n", "[Na+].[Cl-]", "[O-2]", "[Fe+3]", "C[N+](C)(C)C", "[13CH4]", "*C"]
)
def test_plain_smiles_still_read(text: str) -> None:
    record = parse_smiles(text)
    assert record.canonical_smiles == Chem.MolToSmiles(Chem.MolFromSmiles(text.strip()))


def test_huge_inputs_refused_fast_with_a_short_message() -> None:
    for text, error in [
        ("C" * 3_000, UnsupportedMoleculeError),  # 3,000 atoms: counted on the text
        ("C1" * 5_000, InvalidSmilesError),  # 5,000 ring closures: the length cap
        ("C" * 1_000_000, InvalidSmilesError),  # 1 MB
    ]:
        start = time.perf_counter()
        with pytest.raises(error) as info:
            parse_smiles(text)
        assert time.perf_counter() - start < 0.5
        assert len(str(info.value)) < QUOTE_LIMIT + 150
    assert MAX_SMILES_LENGTH >= 1000


SMILES_CHARS = "CNOSPFIBrlcnosp()[]=#@+-123456789%/\\.*H"
NASTY = " \t\n\r\x00\x0b\x7féОß|$;:,"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=SMILES_CHARS + NASTY, min_size=0, max_size=40))
def test_whole_string_or_named_refusal(text: str) -> None:
    """Property: parse_smiles returns exactly RDKit's molecule for the whole (stripped) string,
    or raises one of our named errors; RDKit never reads a prefix of the input."""
    try:
        record = parse_smiles(text)
    except (InvalidSmilesError, UnsupportedMoleculeError) as exc:
        assert exc.reason  # named
        return
    stripped = text.strip()
    assert all(" " < ch < "\x7f" for ch in stripped)
    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]
    try:
        reference = Chem.MolFromSmiles(stripped)
    finally:
        RDLogger.EnableLog("rdApp.*")  # type: ignore[attr-defined]
    assert reference is not None
    assert record.canonical_smiles == Chem.MolToSmiles(reference)
    assert record.n_atoms == reference.GetNumAtoms()

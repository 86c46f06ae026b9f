"""Every SMILES refusal names RDKit's own reason and, where RDKit gives one, the position."""

from __future__ import annotations

import pytest
from rdkit import Chem

from edtformer.chem import parse_smiles
from edtformer.chem.problems import diagnose, rdkit_log
from edtformer.errors import InvalidSmilesError

#: (SMILES, kind, words the message must hold, 1-based position or None).
KINDS = [
    ("C1CCCC", "ring", ["unclosed ring", "ring bond 1 opened at position 2"], None),
    ("C1CC2CC1", "ring", ["unclosed ring", "ring bond 2 opened at position 5"], None),
    ("C%10CC", "ring", ["ring bond 10 opened at position 2"], None),
    ("c1cccc1", "kekulize", ["kekulize", "Unkekulized atoms: 0 1 2 3 4"], None),
    ("CC)C", "parenthesis", ["extra close parentheses", "at position 3 (')')"], 3),
    ("CC(C", "parenthesis", ["extra open parentheses", "at position 3 ('(')"], 3),
    ("CCL", "syntax", ["syntax error at position 3 ('L')", "no element 'L'"], 3),
    ("[Xx]", "syntax", ["position 2 ('X')", "not an element symbol"], 2),
    ("C==C", "syntax", ["syntax error at position 3 ('=')"], 3),
    ("C#C#C", "valence", ["Explicit valence for atom # 1 C, 6"], None),
    ("C[N+5]C", "charge", ["atom 1 (N) has formal charge +5"], None),
    ("[N+5]", "charge", ["atom 0 (N) has formal charge +5"], None),
    ("[Na+]c", "aromatic", ["non-ring atom 1 marked aromatic"], None),
]


@pytest.mark.parametrize(("smiles", "kind", "words", "position"), KINDS, ids=[k[0] for k in KINDS])
def test_each_kind_names_rdkits_reason(
    smiles: str, kind: str, words: list[str], position: int | None
) -> None:
    with pytest.raises(InvalidSmilesError) as info:
        parse_smiles(smiles)
    exc = info.value
    assert (exc.kind, exc.position) == (kind, position)
    message = str(exc)
    assert message.startswith(f"invalid SMILES {smiles!r}: ")
    assert "could not parse it" not in message and "\n" not in message
    for w in words:
        assert w in message


def test_rdkit_log_is_captured_not_printed(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InvalidSmilesError):
        parse_smiles("CC)C")
    with rdkit_log() as log:
        Chem.MolFromSmiles("C1CC")
    assert any("unclosed ring" in line for line in log.lines)
    assert not any(line.startswith("[") for line in log.lines)  # no timestamps
    assert capfd.readouterr().err == ""


def test_diagnose_without_a_captured_log() -> None:
    assert diagnose("CC)C").position == 3
    assert diagnose("C#C#C").kind == "valence"

"""Daily use of the file commands: RDKit's reason in every refusal, one molecule-file reader and
one set of file options for ``patch``, ``ask`` and ``encode``, empty input refused everywhere."""

from __future__ import annotations

import pytest

from edtformer.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("smiles", "words"),
    [
        ("C1CCCC", "unclosed ring (ring bond 1 opened at position 2"),
        ("c1cccc1", "Can't kekulize mol"),
        ("CC)C", "extra close parentheses at position 3"),
        ("CCL", "syntax error at position 3 ('L')"),
        ("C#C#C", "Explicit valence for atom # 1 C, 6"),
        ("C[N+5]C", "formal charge +5"),
    ],
)
def test_patch_names_rdkits_reason(
    capsys: pytest.CaptureFixture[str], smiles: str, words: str
) -> None:
    code, out, err = run(capsys, "patch", smiles, "--json")
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"edt patch: error: invalid SMILES {smiles!r}: ") and words in line

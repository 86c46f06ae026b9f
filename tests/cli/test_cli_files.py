"""Daily use of the file commands: RDKit's reason in every refusal, one molecule-file reader and
one set of file options for ``patch``, ``ask`` and ``encode``, empty input refused everywhere."""

from __future__ import annotations

import json
from pathlib import Path

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


# -- one reader, one set of file options ---------------------------------------------------------
def test_patch_reads_files_like_ask(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "mols.csv"
    f.write_text("cid,name,SMI\n7,ethanol,CCO\n8,bad,CC)C\n9,benzene,c1ccccc1\n")
    argv = ["patch", "--input", str(f), "--smiles-column", "SMI", "--id-column", "cid", "--json"]
    code, out, err = run(capsys, *argv)
    assert code == 2
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["id"], r["smiles"]) for r in rows] == [("7", "CCO"), ("9", "c1ccccc1")]
    [line] = err.strip().splitlines()
    assert line.startswith(f"edt patch: error: {f}:3 (cid 8): invalid SMILES 'CC)C'")
    code, out, _ = run(
        capsys, "patch", "CCO", "--input", str(f), "--smiles-column", "SMI", "--json"
    )
    assert [json.loads(x)["id"] for x in out.splitlines()] == [1, 2, 4]  # argument 1, then lines


def test_json_ids_keep_their_types(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "mols.jsonl"
    f.write_text('{"smiles": "CCO", "id": 1}\n{"smiles": "CCN", "id": "b"}\n')
    code, out, _ = run(capsys, "patch", "-i", str(f), "--id-column", "id", "--json")
    assert code == 0 and [json.loads(x)["id"] for x in out.splitlines()] == [1, "b"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--id-column", "nope"], "no column 'nope' (--id-column); its columns: name"),
        (["--smiles-column", "nope"], "no column 'nope'"),
    ],
)
def test_missing_columns_are_one_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    f = tmp_path / "m.csv"
    f.write_text("name,smiles\nethanol,CCO\n")
    code, out, err = run(capsys, "patch", "--input", str(f), *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and message in err


def test_column_options_without_input_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "patch", "CCO", "--id-column", "id")
    assert code == 2 and "--id-column name columns of --input FILE" in err


@pytest.mark.parametrize("content", ["", "smiles,name\n", "\n\n# only a comment\n"])
@pytest.mark.parametrize("command", ["patch", "encode", "entropy-eval", "entropy-train"])
def test_empty_input_is_a_named_error_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, command: str
) -> None:
    f = tmp_path / ("m.csv" if content.startswith("smiles") else "m.smi")
    f.write_text(content)
    argv = {
        "patch": ["patch", "--input", str(f)],
        "encode": ["encode", "--encoder", "random", "--input", str(f), "--cache", str(tmp_path)],
        "entropy-eval": ["entropy", "eval", "--test-file", str(f)],
        "entropy-train": ["entropy", "train", "--train-file", str(f), "--out", str(tmp_path / "o")],
    }[command]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.strip() == f"edt {argv[0]}: error: {f}: no molecules " + (
        "(the file is empty or a header only)" if f.suffix == ".csv" else "(no molecule lines)"
    )


def test_encode_rows_are_named_by_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "m.csv"
    f.write_text("key,smiles\na,CCO\nb,CCL\n")
    argv = ["encode", "--encoder", "random", "--input", str(f), "--cache", str(tmp_path / "c")]
    code, _, err = run(capsys, *argv, "--id-column", "key")
    assert code == 1
    assert f"edt encode: error: {f}:3 (key b): invalid SMILES 'CCL': RDKit: syntax error" in err

"""One molecule-file reader: names stay out of SMILES, bad bytes and ragged rows are named."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from edtformer.chem.files import read_molecule_rows
from edtformer.errors import DataError


def test_smi_name_is_a_separate_field(tmp_path: Path) -> None:
    f = tmp_path / "m.smi"
    f.write_text("# comment\nCCO ethanol absolute\n\nc1ccccc1\tbenzene\nC\n")
    rows = list(read_molecule_rows(f))
    assert [(r.line, r.smiles, r.fields.get("name")) for r in rows] == [
        (2, "CCO", "ethanol absolute"),
        (4, "c1ccccc1", "benzene"),
        (5, "C", None),
    ]


def test_csv_quoted_comma_stays_in_its_column(tmp_path: Path) -> None:
    f = tmp_path / "m.csv"
    f.write_text('id,name,SMILES\n7,"ethanol, dry",CCO\n8,short\n9,x,"C C"\n')
    rows = list(read_molecule_rows(f))
    assert rows[0].smiles == "CCO" and rows[0].fields == {"id": "7", "name": "ethanol, dry"}
    assert rows[1].error == "2 cells, the header has 3" and rows[1].line == 3
    assert rows[2].smiles == "C C"  # kept as written: parse_smiles refuses it by name


def test_tsv_jsonl_and_gzip(tmp_path: Path) -> None:
    (tmp_path / "m.tsv").write_text("smiles\tlabel\nCCO\t1\n")
    assert [r.smiles for r in read_molecule_rows(tmp_path / "m.tsv")] == ["CCO"]
    (tmp_path / "m.jsonl").write_text('{"smiles": "CCN", "id": 3}\nnot json\n{"x": 1}\n')
    rows = list(read_molecule_rows(tmp_path / "m.jsonl"))
    assert rows[0].smiles == "CCN" and rows[0].fields == {"id": 3}  # JSON types kept
    assert rows[1].error is not None and "not JSON" in rows[1].error
    assert rows[2].error == "no string field 'smiles'"
    (tmp_path / "m.smi.gz").write_bytes(gzip.compress(b"CCO\n"))
    assert [r.smiles for r in read_molecule_rows(tmp_path / "m.smi.gz")] == ["CCO"]


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("b.smi", b"C\x00C\n", "binary file"),
        ("u16.smi", "CCO\n".encode("utf-16"), "UTF-16 text"),
        ("l.smi", "CCO caf\xe9\n".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 7)"),
        ("x.sdf", b"CCO\n", "unknown molecule file type"),
        ("n.csv", b"id,name\n1,x\n", "no column 'smiles'"),
        ("g.smi.gz", b"not gzip", "cannot read"),
    ],
)
def test_bad_files_one_clear_error(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    f = tmp_path / name
    f.write_bytes(data)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        list(read_molecule_rows(f))


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        list(read_molecule_rows(tmp_path / "none.smi"))
    (tmp_path / "d.smi").mkdir()
    with pytest.raises(DataError, match="is not a file"):
        list(read_molecule_rows(tmp_path / "d.smi"))

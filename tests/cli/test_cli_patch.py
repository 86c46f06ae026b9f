"""``edt patch`` and ``edt entropy``: JSON lines, bad input among good, drawings (shipped model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.conftest import TRICKY_SMILES

from edtformer.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_patch_json_one_line_per_molecule(capsys: pytest.CaptureFixture[str]) -> None:
    smiles = [s for s, _ in TRICKY_SMILES]
    code, out, _ = run(capsys, "patch", *smiles, "--json")
    assert code == 0
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["smiles"] for x in lines] == smiles
    for row, (_, n) in zip(lines, TRICKY_SMILES, strict=True):
        assert len(row["atoms"]) == len(row["entropy"]) == len(row["patch_ids"]) == n
        assert row["rule"] == "combine" and row["n_patches"] == max(row["patch_ids"]) + 1  # default
        assert len(row["brics_ids"]) == n
        assert sorted(set(row["patch_ids"])) == list(range(row["n_patches"]))


def test_patch_bad_smiles_among_good(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "patch", "CCO", "C1CC(", "c1ccccc1", "--json")
    assert code == 2
    assert [json.loads(x)["smiles"] for x in out.splitlines()] == ["CCO", "c1ccccc1"]
    assert len(err.strip().splitlines()) == 1 and "C1CC(" in err


def test_patch_combine_and_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "mols.csv"
    csv.write_text("name,smiles\naspirin,CC(=O)Oc1ccccc1C(=O)O\nsalt,[K+].[Cl-]\n")
    code, out, _ = run(capsys, "patch", "--input", str(csv), "--rule", "combine", "--json")
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and len(rows) == 2
    assert rows[0]["rule"] == "combine" and len(rows[0]["brics_ids"]) == 13
    assert rows[1]["brics_ids"] == [0, 1]


def test_patch_table_and_no_input(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "patch", "CC(=O)Oc1ccccc1C(=O)O", "--rule", "threshold")
    assert code == 0 and "threshold" in out and "13" in out
    code, _, err = run(capsys, "patch")
    assert code == 2 and "no molecules" in err


@pytest.mark.parametrize("ext", [".svg", ".png"])
def test_patch_draw(tmp_path: Path, ext: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"patches{ext}"
    code, _, _ = run(capsys, "patch", "CCO", "c1ccncc1", "[K+].[Cl-]", "--draw", str(path))
    assert code == 0 and path.stat().st_size > 1000
    head = path.read_bytes()[:8]
    assert head.startswith(b"\x89PNG") if ext == ".png" else b"<?xml" in head or b"<svg" in head


def test_patch_draw_bad_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "patch", "CCO", "--draw", str(tmp_path / "x.gif"))
    assert code == 2 and ".svg or .png" in err


def test_entropy_eval_small_sample(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "entropy", "eval", "--n", "300", "--json")
    result = json.loads(out)
    assert code == 0 and result["n_molecules"] == 300
    assert result["bits_per_token"] < result["unigram_bits_per_token"]


def test_demo_patching_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--out", str(tmp_path), "--steps", "patching")
    assert code == 0 and "Aspirin" in out
    rows = [
        json.loads(x) for x in (tmp_path / "patching" / "patches.jsonl").read_text().splitlines()
    ]
    assert len(rows) >= 5 and all(len(r["entropy"]) == len(r["brics_ids"]) for r in rows)
    assert (tmp_path / "patching" / "drugs.png").stat().st_size > 1000
    assert (tmp_path / "patching" / "01_aspirin.svg").is_file()
    summary = json.loads((tmp_path / "demo.json").read_text())
    assert summary["steps"]["patching"]["n_molecules"] == len(rows)
    code, _, err = run(capsys, "demo", "--out", str(tmp_path), "--steps", "nope")
    assert code == 2 and "unknown demo step" in err

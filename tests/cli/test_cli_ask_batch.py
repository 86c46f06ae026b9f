"""``edt ask --input``: arguments checked once before any row or output file, JSONL types kept,
``--show-facts`` as a column, the same exit code with and without ``--resume``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.cli.main import main
from edtformer.model import EDTFormer, EDTFormerConfig


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("batch")
    llm = make_tiny_llm(root / "llm")
    conf = json.loads((llm / "config.json").read_text())
    conf["max_position_embeddings"] = 4096  # the tiny tokenizer spells a whole sheet long
    (llm / "config.json").write_text(json.dumps(conf))
    torch.manual_seed(0)
    cfg = EDTFormerConfig(  # a model that writes the fact sheet, so that it can be shown
        encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics", fact_sheet=True
    )
    EDTFormer.build(cfg).save_pretrained(root / "model")
    return root / "model"


@pytest.fixture
def mols(tmp_path: Path) -> Path:
    f = tmp_path / "mols.csv"
    f.write_text("id,smiles,question\n1,CCO,What is it?\n2,CCL,What is it?\n")
    return f


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "no column 'question' (no --question TEXT was given"),
        (["--question-column", "q"], "no column 'q' (--question-column); its columns: id"),
        (["--question", "x?", "--question-column", "question"], "not both"),
        (["--id-column", "nope"], "no column 'nope' (--id-column)"),
        (["--smiles-column", "nope"], "no column 'nope'"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_bad_arguments_one_line_exit_2_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    f = tmp_path / "m.csv"
    f.write_text("id,smiles\n1,CCO\n2,CCN\n")
    out = tmp_path / "o.jsonl"
    assert main(["ask", "--input", str(f), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["CCO", "q?", "--out", "x.csv"], "--out only apply to a file of molecules"),
        (["CCO", "q?", "--question", "x"], "--question only apply"),
        (["CCO", "q?", "--resume"], "--resume only apply"),
        (["--input", "m.csv"], "--input needs --out"),
        (["CCO", "--input", "m.csv", "--out", "o.csv"], "not both"),
    ],
)
def test_batch_options_without_a_file_or_with_a_smiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(["ask", *[str(tmp_path / a) if a in ("x.csv", "o.csv") else a for a in argv]]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("content", ["", "id,smiles,question\n"])
def test_empty_input_named_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    f = tmp_path / "m.csv"
    f.write_text(content)
    out = tmp_path / "o.csv"
    assert main(["ask", "--input", str(f), "--out", str(out)]) == 2
    assert "no molecules (the file is empty or a header only)" in capsys.readouterr().err
    assert not out.exists()


def test_jsonl_keeps_types_and_facts_column(
    model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "m.jsonl"
    f.write_text(
        '{"id": 1, "smiles": "CCO", "ok": true}\n{"id": 2, "smiles": "CCL", "ok": false}\n'
    )
    out = tmp_path / "o.jsonl"
    argv = ["ask", "--input", str(f), "--out", str(out), "--question", "What is it?",
            "--model", str(model_dir), "--max-new-tokens", "2", "--show-facts"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{f}:2: invalid SMILES 'CCL': RDKit: syntax error at position 3" in err
    good, bad = (json.loads(x) for x in out.read_text().splitlines())
    assert (good["id"], good["ok"], good["line"]) == (1, True, 1)
    assert isinstance(good["truncated"], bool) and good["error"] is None
    assert isinstance(good["facts"], list) and "heavy atoms" in good["facts"][0]
    assert (bad["id"], bad["ok"], bad["answer"], bad["truncated"]) == (2, False, None, None)
    assert "syntax error at position 3 ('L')" in bad["error"] and bad["facts"] is None


def test_resume_gives_the_same_exit_code(
    model_dir: Path, mols: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o.csv"
    argv = ["ask", "--input", str(mols), "--out", str(out), "--model", str(model_dir),
            "--max-new-tokens", "2", "--show-facts"]  # fmt: skip
    assert main(argv) == 2
    assert main([*argv, "--resume"]) == 2
    assert "(1 of them failed)" in capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["1", "2"] and "heavy atoms" in rows[0]["facts"]
    assert rows[1]["truncated"] == "" and rows[1]["answer"] == ""


def test_single_question_json_choices_carries_facts(
    model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["ask", "CCO", "Is it an alcohol?", "--model", str(model_dir), "--json"]
    assert main([*argv, "--choices", "yes,no"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert main([*argv, "--max-new-tokens", "2"]) == 0
    answered = json.loads(capsys.readouterr().out)
    assert scored["facts"] == answered["facts"] and "alcohol: yes" in scored["facts"][0]


def test_ask_says_what_it_loads_and_where_repeated_questions_go(
    model_dir: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from edtformer.cli.main import build_parser

    with caplog.at_level(logging.INFO, logger="edtformer.cli.ask"):
        assert (
            main(["ask", "CCO", "What?", "--model", str(model_dir), "--max-new-tokens", "2"]) == 0
        )
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("loaded ")]
    assert f"loaded {model_dir} bridge + " in line and "encoders random" in line
    assert "imports" in line and "weights and encoders" in line and "since edt started" in line
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    text = " ".join(sub.choices["ask"].format_help().split())  # type: ignore[union-attr]
    assert "`edt chat SMILES`" in text and "`edt serve`" in text and "Python" in text
    assert "BATCH_QUESTION" not in text and "--question TEXT" in text

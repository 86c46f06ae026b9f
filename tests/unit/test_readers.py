"""Readers for MoleculeQA, Mol-Instructions and TDC/MoleculeNet CSV, on fixture files in their formats."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from edtformer.data.readers import read_csv_dataset, read_mol_instructions, read_moleculeqa
from edtformer.data.schema import render_question, validate_record
from edtformer.data.splits import SplitTable
from edtformer.errors import DataError

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def test_moleculeqa_jsonl() -> None:
    recs = list(read_moleculeqa(FIX / "moleculeqa" / "test.jsonl"))
    assert [r["answer"] for r in recs] == ["A", "B", "B"]  # letter, dict options, index
    assert [r["category"] for r in recs] == ["Structure", "Structure", "Source"]
    assert {r["split"] for r in recs} == {"test"}  # from the file name
    assert recs[1]["smiles"] == ["C[C@H](N)C(=O)O"]
    for r in recs:
        validate_record(r)
        assert "A. " in render_question(r)


def test_moleculeqa_biot5_selfies() -> None:
    recs = list(read_moleculeqa(FIX / "moleculeqa" / "Structure" / "biot5_valid.json"))
    assert [r["smiles"] for r in recs] == [["C[C@H](N)C(=O)O"], ["Oc1ccccc1"]]
    assert [r["answer"] for r in recs] == ["B", "A"]
    assert recs[0]["question"] == "<mol>\nWhich kind of residue does this molecule have?"
    assert recs[0]["split"] == "valid" and recs[0]["category"] == "Structure"


def test_moleculeqa_molt5_tsv_needs_cid_map() -> None:
    path = FIX / "moleculeqa" / "Structure" / "molt5_train.txt"
    with pytest.raises(DataError, match=r"molt5_train.txt line \d+: CID 702"):
        list(read_moleculeqa(path))
    recs = list(read_moleculeqa(path, cid_to_smiles={"702": "CCO"}))
    assert [r["smiles"][0] for r in recs] == ["CC(=O)Oc1ccccc1C(=O)O", "CCO"]
    assert recs[0]["choices"][1] == "As a nonsteroidal anti-inflammatory drug."
    assert {r["split"] for r in recs} == {"train"}


def test_moleculeqa_bad_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.jsonl"
    bad.write_text(
        '{"smiles": "CCO", "question": "q", "options": ["a","b","c","d"], "answer": "A"}\n{oops\n'
    )
    with pytest.raises(DataError, match=r"x\.jsonl line 2: invalid JSON"):
        list(read_moleculeqa(bad))
    bad.write_text(
        '{"smiles": "C1CC", "question": "q", "options": ["a","b","c","d"], "answer": "A"}\n'
    )
    with pytest.raises(DataError, match=r"x\.jsonl line 1: invalid SMILES"):
        list(read_moleculeqa(bad))
    bad.write_text(
        '{"smiles": "CCO", "question": "q", "options": ["a","b","c","d"], "answer": "E"}\n'
    )
    with pytest.raises(DataError, match="line 1: answer 'E'"):
        list(read_moleculeqa(bad))


def test_mol_instructions_tasks() -> None:
    d = FIX / "mol_instructions"
    fwd = list(read_mol_instructions(d / "forward_reaction_prediction.json"))
    assert fwd[0]["smiles"] == ["CC(=O)O", "CCO"] and fwd[0]["answer"] == "CCOC(C)=O"
    assert fwd[0]["answer_type"] == "smiles" and fwd[0]["question"].endswith("<mol> + <mol>")
    assert [r["split"] for r in fwd] == ["train", "test"]  # from metadata
    retro = next(read_mol_instructions(d / "retrosynthesis.json"))
    assert retro["answer"] == "CC(=O)OC(C)=O.Nc1ccc(O)cc1"
    reagent = next(read_mol_instructions(d / "reagent_prediction.json"))
    assert len(reagent["smiles"]) == 3 and "<mol> + <mol> >> <mol>" in reagent["question"]
    prop = list(read_mol_instructions(d / "property_prediction.json"))
    assert [r["answer"] for r in prop] == ["-0.2497", "0.0612"] and prop[0][
        "answer_type"
    ] == "number"
    desc = next(read_mol_instructions(d / "molecular_description_generation.json"))
    assert desc["answer_type"] == "text" and desc["task"] == "molecular_description_generation"
    for r in [*fwd, retro, reagent, *prop, desc]:
        validate_record(r)


def test_mol_instructions_text_input_is_an_error() -> None:
    with pytest.raises(DataError, match=r"record 0: input .* is not SELFIES"):
        list(
            read_mol_instructions(
                FIX / "mol_instructions" / "description_guided_molecule_design.json"
            )
        )


def test_mol_instructions_bad_selfies(tmp_path: Path) -> None:
    bad = tmp_path / "t.json"
    bad.write_text(json.dumps([{"instruction": "i", "input": "[C][Bogus", "output": "1"}]))
    with pytest.raises(DataError, match=r"t\.json record 0"):
        list(read_mol_instructions(bad))


def test_tdc_csv() -> None:
    recs = list(
        read_csv_dataset(
            FIX / "csv" / "bbb_martins.csv",
            question="Can this molecule cross the blood-brain barrier?",
        )
    )
    assert [r["answer"] for r in recs] == ["no", "yes", "yes"]
    assert recs[0]["question"] == "<mol>\nCan this molecule cross the blood-brain barrier?"
    reg = list(read_csv_dataset(FIX / "csv" / "freesolv_tdc.csv", decimals=1))
    assert [r["answer"] for r in reg] == ["-5.0", "-0.9"] and reg[0]["answer_type"] == "number"


def test_moleculenet_multitask_csv_skips_empty_cells() -> None:
    recs = list(read_csv_dataset(FIX / "csv" / "tox21_mini.csv"))
    assert Counter(r["meta"]["target"] for r in recs) == {"NR-AR": 2, "NR-AhR": 2, "SR-p53": 2}
    assert all(r["answer_type"] == "yesno" for r in recs)
    # one molecule -> one split for all of its targets
    by_mol: dict[str, set[str]] = {}
    for r in recs:
        by_mol.setdefault(r["smiles"][0], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_mol.values())


def test_csv_bad_smiles_and_table_split() -> None:
    path = FIX / "csv" / "bad_smiles.csv"
    with pytest.raises(DataError, match=r"bad_smiles\.csv line 3: invalid SMILES"):
        list(read_csv_dataset(path))
    table = SplitTable({"c1ccccc1": "test", "acyclic:CCO": "train"})
    recs = list(read_csv_dataset(path, skip_invalid=True, table=table))
    assert [(r["smiles"][0], r["split"]) for r in recs] == [("CCO", "train"), ("c1ccccc1", "test")]
    with pytest.raises(DataError, match="target column"):
        list(read_csv_dataset(path, target_columns=["nope"]))


def test_csv_smiles_and_id_columns(tmp_path: Path) -> None:
    """``--smiles-column`` / ``--id-column`` of `edt eval --input`: the id names the records
    and is never read as a target; a missing id column is one named error."""
    f = tmp_path / "props.csv"
    f.write_text("name,structure,logS\nethanol,CCO,1.1\nphenol,Oc1ccccc1,-0.04\n")
    recs = list(read_csv_dataset(f, smiles_column="structure", id_column="name"))
    assert [r["id"] for r in recs] == ["ethanol", "phenol"]
    assert {r["meta"]["target"] for r in recs} == {"logS"}
    with pytest.raises(DataError, match="no id column 'code'"):
        list(read_csv_dataset(f, smiles_column="structure", id_column="code"))

"""A tiny `edt data build`: schema, determinism, atomicity and — the issue's check — no test
molecule (by scaffold) in any training file, verified over the built output."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from edtformer.data import (
    TASKS,
    build_datasets,
    list_tasks,
    load_split_table,
    load_task,
    preset,
    read_manifest,
    record_molecules,
    scaffold_key,
)
from edtformer.data.audit import audit_splits
from edtformer.errors import DataError


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data") / "tiny"
    build_datasets(out, preset("tiny"))
    return out


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_every_task_and_split_is_written(built: Path) -> None:
    assert list_tasks(built) == sorted(TASKS)
    manifest = read_manifest(built)
    assert manifest["format_version"] == 1 and manifest["config"]["size"] == "tiny"
    for task in TASKS:
        total = 0
        for split in ("train", "valid", "test"):
            recs = load_task(built, task, split)  # validates every record
            assert len(recs) == manifest["counts"][task][split]
            assert all(r["task"] == task and r["split"] == split for r in recs)
            total += len(recs)
        assert total > 0, task
    ids = [
        r["id"] for t in TASKS for s in ("train", "valid", "test") for r in load_task(built, t, s)
    ]
    assert len(ids) == len(set(ids))


def test_no_test_scaffold_in_any_training_file(built: Path) -> None:
    """The issue's acceptance check, recomputed from the SMILES in the files."""
    table = load_split_table(built)
    train_keys: set[str] = set()
    for task in list_tasks(built):
        for rec in load_task(built, task, "train"):
            train_keys.update(scaffold_key(s) for s in record_molecules(dict(rec)))
    held_out = {k for k, s in table.assignment.items() if s != "train"}
    assert not train_keys & held_out
    for task in list_tasks(built):
        for rec in load_task(built, task, "test"):
            keys = [scaffold_key(s) for s in record_molecules(dict(rec))]
            assert any(k not in train_keys for k in keys), rec["id"]
            if len(keys) == 1:
                assert table.assignment[keys[0]] == "test"
    report = audit_splits(built)
    assert report["ok"], report


def test_same_molecule_same_split_across_tasks(built: Path) -> None:
    split_of: dict[str, str] = {}
    for task in list_tasks(built):
        for split in ("train", "valid", "test"):
            for rec in load_task(built, task, split):
                if len(rec["smiles"]) == 1 and rec["answer_type"] != "smiles":
                    assert split_of.setdefault(rec["smiles"][0], split) == split


def test_mc_letters_balanced_and_stereo_present(built: Path) -> None:
    for split in ("train", "valid", "test"):
        recs = load_task(built, "struct_mc", split)
        counts = Counter(r["answer"] for r in recs)
        assert max(counts.values()) - min(counts.values()) <= 1
        for r in recs:
            assert len(r["choices"]) == 4 and len(set(r["choices"])) == 4
    kinds = Counter(
        r["meta"]["kind"] for s in ("train", "valid", "test") for r in load_task(built, "stereo", s)
    )
    assert {"n_stereocentres", "rs", "same_stereoisomer"} <= set(kinds)


def test_reaction_answers_are_canonical(built: Path) -> None:
    from rdkit import Chem

    for rec in load_task(built, "retro", "train") + load_task(built, "forward", "train"):
        for smi in rec["answer"].split("."):
            assert Chem.MolToSmiles(Chem.MolFromSmiles(smi)) == smi


def test_build_is_deterministic(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build_datasets(again, preset("tiny"))
    assert _digest(again) == _digest(built)


def test_failed_build_leaves_old_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "data"
    out.mkdir()
    (out / "keep.txt").write_text("old")

    def boom(*args: object, **kwargs: object) -> None:
        raise DataError("simulated failure")

    monkeypatch.setattr("edtformer.data.build.template_reactions", boom)
    with pytest.raises(DataError, match="simulated"):
        build_datasets(out, preset("tiny"))
    assert (out / "keep.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_unknown_size() -> None:
    with pytest.raises(DataError, match="unknown data size"):
        preset("huge")


@pytest.mark.slow
def test_small_build_has_no_leak(tmp_path: Path) -> None:
    build_datasets(tmp_path / "small", preset("small"))
    assert audit_splits(tmp_path / "small")["ok"]

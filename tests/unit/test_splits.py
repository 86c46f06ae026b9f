"""Scaffold keys and the shared scaffold split."""

from __future__ import annotations

import pytest

from edtformer.data.splits import SplitTable, hash_split, scaffold_key, scaffold_split
from edtformer.errors import DataError, InvalidSmilesError


def test_scaffold_key_ignores_stereo_and_substituents() -> None:
    assert scaffold_key("C[C@H](N)c1ccccc1") == scaffold_key("C[C@@H](N)c1ccccc1") == "c1ccccc1"
    assert scaffold_key("Oc1ccccc1") == "c1ccccc1"


def test_acyclic_molecules_get_their_own_key() -> None:
    assert scaffold_key("CCO") == "acyclic:CCO"
    assert scaffold_key("C[C@H](O)CC") == scaffold_key("C[C@@H](O)CC") == "acyclic:CCC(C)O"
    assert scaffold_key("CCO") != scaffold_key("CCCO")


def test_scaffold_key_rejects_bad_smiles() -> None:
    with pytest.raises(InvalidSmilesError):
        scaffold_key("C1CC")


def test_split_is_whole_scaffolds_and_deterministic() -> None:
    mols = {f"m{i}": f"key{i % 37}" for i in range(500)}
    a = scaffold_split(mols, (0.8, 0.1, 0.1), seed=3)
    b = scaffold_split(mols, (0.8, 0.1, 0.1), seed=3)
    assert a.assignment == b.assignment
    stats = a.stats()
    assert sum(v["molecules"] for v in stats.values()) == 500
    assert stats["test"]["molecules"] > 0 and stats["valid"]["molecules"] > 0
    assert stats["train"]["molecules"] >= 0.7 * 500


def test_big_groups_go_to_train() -> None:
    mols = {f"big{i}": "benzene" for i in range(100)} | {f"s{i}": f"k{i}" for i in range(100)}
    assert scaffold_split(mols).assignment["benzene"] == "train"


def test_record_goes_to_most_held_out_split() -> None:
    table = SplitTable({"c1ccccc1": "train", "C1CCCCC1": "test", "c1ccncc1": "valid"})
    assert table.split_of_record(["Oc1ccccc1", "OC1CCCCC1"]) == "test"
    assert table.split_of_record(["Oc1ccccc1", "Oc1ccncc1"]) == "valid"
    assert table.split_of_record(["Oc1ccccc1"]) == "train"


def test_tsv_round_trip_and_hash_fallback() -> None:
    table = scaffold_split({f"m{i}": f"k{i}" for i in range(50)}, seed=1)
    again = SplitTable.from_tsv(table.to_tsv(), seed=1)
    assert again.assignment == table.assignment
    assert again.split_of_key("unseen") == hash_split("unseen", seed=1)
    with pytest.raises(DataError, match="line 2"):
        SplitTable.from_tsv("scaffold\tsplit\tn_molecules\nk\tbogus\t1\n")


def test_bad_fractions() -> None:
    with pytest.raises(DataError, match="sum"):
        scaffold_split({"a": "k"}, (0.5, 0.1, 0.1))

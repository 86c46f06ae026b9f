"""Datasets: offline sources -> JSONL records with one scaffold split shared by every task.

Public API:

- schema: :class:`Record`, :data:`TASKS`, :data:`FORMAT_VERSION`, :func:`validate_record`,
  :func:`render_question`;
- loading: :func:`load_jsonl`, :func:`load_task`, :func:`list_tasks`, :func:`read_manifest`,
  :func:`load_split_table`;
- building: :func:`build_datasets`, :class:`BuildConfig`, :func:`preset` (``edt data build``);
- structure facts: :func:`molecule_facts`, :data:`FUNCTIONAL_GROUPS`, :func:`describe`;
- splits: :func:`scaffold_key`, :func:`scaffold_split`, :class:`SplitTable`;
- readers: :func:`read_moleculeqa`, :func:`read_mol_instructions`, :func:`read_csv_dataset`.
"""

from edtformer.data.build import BuildConfig, build_datasets, preset, record_molecules
from edtformer.data.loader import (
    list_tasks,
    load_jsonl,
    load_split_table,
    load_task,
    read_manifest,
    write_jsonl,
)
from edtformer.data.readers import read_csv_dataset, read_mol_instructions, read_moleculeqa
from edtformer.data.schema import (
    FORMAT_VERSION,
    MOL_TOKEN,
    TASKS,
    Record,
    make_record,
    render_question,
    validate_record,
)
from edtformer.data.splits import SplitTable, hash_split, scaffold_key, scaffold_split
from edtformer.facts.dataset import FUNCTIONAL_GROUPS, describe, functional_groups, molecule_facts

__all__ = [
    "FORMAT_VERSION",
    "FUNCTIONAL_GROUPS",
    "MOL_TOKEN",
    "TASKS",
    "BuildConfig",
    "Record",
    "SplitTable",
    "build_datasets",
    "describe",
    "functional_groups",
    "hash_split",
    "list_tasks",
    "load_jsonl",
    "load_split_table",
    "load_task",
    "make_record",
    "molecule_facts",
    "preset",
    "read_csv_dataset",
    "read_manifest",
    "read_mol_instructions",
    "read_moleculeqa",
    "record_molecules",
    "render_question",
    "scaffold_key",
    "scaffold_split",
    "validate_record",
    "write_jsonl",
]

"""The MOSES SMILES corpus (package ``molsets``) and its deterministic train/validation split.

``import moses`` fails (it imports ``fcd_torch``), so the CSV files are located through
``importlib.util.find_spec("moses")`` without importing the package.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from edtformer.chem import rdkit_mol
from edtformer.chem.files import read_molecule_rows
from edtformer.entropy.tokens import AtomVocab, EncodedMol, encode_mol
from edtformer.errors import DataError, MissingDependencyError

logger = logging.getLogger(__name__)


def moses_path(split: str) -> Path:
    """Path of MOSES ``train`` or ``test`` (``moses/dataset/data/<split>.csv.gz``)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("molsets", "data")
    path = (
        Path(next(iter(spec.submodule_search_locations))) / "dataset" / "data" / f"{split}.csv.gz"
    )
    if not path.is_file():
        raise DataError(f"MOSES {split} file not found at {path}; reinstall `molsets`")
    return path


def read_smiles_file(path: str | Path) -> list[str]:
    """SMILES of a molecule file (``.smi``/``.csv``/``.tsv``/``.jsonl``, optionally ``.gz``;
    :func:`edtformer.chem.files.read_molecule_rows`; a CSV's ``smiles`` column, any case).
    Rows without a SMILES cell are skipped with a warning."""
    out, bad = [], 0
    for row in read_molecule_rows(path):
        if row.error is None and row.smiles:
            out.append(row.smiles)
        else:
            bad += 1
    if bad:
        logger.warning("%s: %d rows without a SMILES were skipped", path, bad)
    return out


def split_train_val(
    smiles: Sequence[str], n_val: int, n_train: int | None = None, seed: int = 0
) -> tuple[list[str], list[str]]:
    """Shuffle with ``seed``; the first ``n_val`` are validation, the next ``n_train`` training."""
    if n_val >= len(smiles):
        raise DataError(f"n_val={n_val} leaves no training data out of {len(smiles)} SMILES")
    order = np.random.default_rng(seed).permutation(len(smiles))
    val = [smiles[i] for i in order[:n_val]]
    rest = order[n_val:] if n_train is None else order[n_val : n_val + n_train]
    return [smiles[i] for i in rest], val


def encode_smiles(smiles: Iterable[str], vocab: AtomVocab) -> list[EncodedMol]:
    """Parse and encode SMILES, skipping (and counting in the log) unparseable ones."""
    out: list[EncodedMol] = []
    bad = 0
    for s in smiles:
        mol = rdkit_mol(s)
        if mol is None:
            bad += 1
            continue
        out.append(encode_mol(mol, vocab))
    if bad:
        logger.warning("skipped %d unparseable SMILES", bad)
    return out

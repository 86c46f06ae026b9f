"""``edt data build``: every offline dataset, deterministically, with one shared scaffold split.

Steps: load the sources (:mod:`~edtformer.data.sources`); draft the records of every task
(stage-1 graph-text pairs, structure/stereo questions from :func:`molecule_facts`, property
questions, template reactions); compute scaffold keys over the union of every molecule of every
draft and split whole scaffolds (:func:`~edtformer.data.splits.scaffold_split`); give each record
the most held-out split of its molecules; balance multiple-choice letters per task and split;
write ``<task>/<split>.jsonl``, ``scaffolds.tsv`` and ``manifest.json`` into a temporary folder
that is renamed into place at the end (atomic). Same config -> same bytes.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edtformer.chem import rdkit_mol
from edtformer.data import sources as src
from edtformer.data.loader import MANIFEST, dumps_record
from edtformer.data.questions import (
    Draft,
    assign_letters,
    stereo_drafts,
    structure_mc_drafts,
    structure_text_drafts,
)
from edtformer.data.reactions import template_reactions
from edtformer.data.schema import (
    FORMAT_VERSION,
    LETTERS,
    MOL_TOKEN,
    SPLIT_NAMES,
    TASKS,
    make_record,
)
from edtformer.data.splits import SPLITS, SplitTable, scaffold_key, scaffold_split
from edtformer.errors import DataError
from edtformer.facts.dataset import describe, molecule_facts
from edtformer.utils.io import atomic_dir, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``: called as the build advances (the CLI draws a bar).
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BuildConfig:
    """What to build. Use :func:`preset` for the named sizes."""

    size: str = "small"
    """Preset name, recorded in the manifest."""
    seed: int = 0
    """Seed of the scaffold split, question sampling and answer-letter order."""
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    """Target fractions of molecules in train/valid/test."""
    max_per_source: int | None = None
    """Cap on molecules per labelled source (B3DB, FreeSolv, solubility, ChEMBL); None: all."""
    moses_molecules: int = 2000
    """MOSES molecules tried as reaction products (every ``moses_stride``-th line)."""
    moses_stride: int = 53
    """Stride through the MOSES training file (spreads the sample over the file)."""
    per_template: int = 20
    """At most this many reactions per datamol template."""
    moses_structure: int = 0
    """MOSES molecules (after the reaction sample) added to the structure-question pool."""
    questions_per_molecule: int = 2
    """Free-text and multiple-choice structure questions per molecule (each)."""
    no_stereo_rate: float = 0.1
    """Fraction of molecules without stereo that still get the stereocentre-count question."""


def preset(size: str, seed: int = 0) -> BuildConfig:
    """``tiny`` (tests, seconds), ``small`` (default, about a minute on 2 cores), ``full``."""
    if size == "tiny":
        return BuildConfig("tiny", seed, max_per_source=60, moses_molecules=120, per_template=3)
    if size == "small":
        return BuildConfig("small", seed)
    if size == "full":
        return BuildConfig(
            "full",
            seed,
            moses_molecules=20000,
            moses_stride=7,
            per_template=300,
            moses_structure=20000,
            questions_per_molecule=3,
        )
    raise DataError(f"unknown data size {size!r}; expected one of: tiny, small, full")


def _rng(seed: int, *parts: str) -> random.Random:
    return random.Random(":".join([str(seed), *parts]))


def _single(question: str) -> str:
    return f"{MOL_TOKEN}\n{question}"


def _draft(
    smiles: list[str],
    question: str,
    answer: str,
    answer_type: str,
    category: str,
    source: str,
    meta: dict[str, Any] | None = None,
) -> Draft:
    return {
        "smiles": smiles,
        "question": question,
        "answer": answer,
        "answer_type": answer_type,
        "choices": None,
        "category": category,
        "source": source,
        "meta": meta or {},
    }


def _name_drafts(molecules: Sequence[Any]) -> list[Draft]:
    """IUPAC-name questions for every named molecule (first name wins)."""
    named: dict[str, tuple[str, str]] = {}
    for m in molecules:
        if m.name and m.smiles not in named:
            named[m.smiles] = (m.name, m.source)
    q = _single("What is the IUPAC name of this molecule?")
    return [
        _draft([smi], q, name, "text", "Structure", source) for smi, (name, source) in named.items()
    ]


def _property_drafts(
    b3db: Sequence[Any], freesolv: Sequence[Any], solubility: Sequence[Any]
) -> dict[str, list[Draft]]:
    """BBB permeation, logBB, hydration free energy and solubility questions."""
    out: dict[str, list[Draft]] = {"bbbp": [], "logbb": [], "freesolv": [], "solubility": []}
    for m in b3db:
        answer = "yes" if m.labels["bbb"] == "BBB+" else "no"
        q = _single("Can this molecule cross the blood-brain barrier?")
        out["bbbp"].append(_draft([m.smiles], q, answer, "yesno", "Property", "b3db"))
        if "logbb" in m.labels:
            q = _single("What is the logBB (log brain/blood ratio) of this molecule?")
            value = f"{m.labels['logbb']:.2f}"
            out["logbb"].append(_draft([m.smiles], q, value, "number", "Property", "b3db"))
    for m in freesolv:
        q = _single("What is the hydration free energy of this molecule in kcal/mol?")
        value = f"{m.labels['dg_hyd']:.2f}"
        meta = {"unit": "kcal/mol"}
        out["freesolv"].append(_draft([m.smiles], q, value, "number", "Property", "freesolv", meta))
    seen: set[str] = set()
    for m in solubility:
        if m.smiles in seen:
            continue
        seen.add(m.smiles)
        q = _single("What is the aqueous solubility of this molecule as log S (mol/L)?")
        value, meta = f"{m.labels['logs']:.2f}", {"unit": "log mol/L"}
        out["solubility"].append(
            _draft([m.smiles], q, value, "number", "Property", "solubility", meta)
        )
    return out


def _structure_drafts(
    pool: dict[str, str], cfg: BuildConfig, tick: Callable[[str, int, int], None]
) -> dict[str, list[Draft]]:
    """RDKit-fact questions (description, short answers, multiple choice, stereo) per molecule."""
    out: dict[str, list[Draft]] = {
        "text_description": [], "struct_text": [], "struct_mc": [], "stereo": [],
    }  # fmt: skip
    k = cfg.questions_per_molecule
    for i, (smi, source) in enumerate(pool.items()):
        if i % 500 == 0:
            tick("structure questions", i, len(pool))
        mol = rdkit_mol(smi)
        if mol is None:  # the pool holds parsed molecules only; kept as a guard
            continue
        facts = molecule_facts(mol)
        rng = _rng(cfg.seed, "struct", smi)
        q = _single("Describe the structure of this molecule.")
        out["text_description"].append(
            _draft([smi], q, describe(facts), "text", "Structure", source)
        )
        for task, drafts in (
            ("struct_text", structure_text_drafts(smi, facts, rng, k)),
            ("struct_mc", structure_mc_drafts(smi, facts, rng, k)),
        ):
            out[task].extend({**d, "source": source} for d in drafts)
        has_stereo = facts["n_stereocentres"] or facts["n_ez_bonds"]
        if has_stereo or rng.random() < cfg.no_stereo_rate:
            out["stereo"].extend({**d, "source": source} for d in stereo_drafts(smi, facts, rng))
    tick("structure questions", len(pool), len(pool))
    return out


def _reaction_drafts(
    products: list[str], cfg: BuildConfig, tick: Callable[[str, int, int], None]
) -> dict[str, list[Draft]]:
    """Forward (reactants -> product) and retro (product -> reactants) template reactions."""
    out: dict[str, list[Draft]] = {"forward": [], "retro": []}
    done = [0]

    def rx_tick(n: int) -> None:
        done[0] += n
        if done[0] % 200 == 0:
            tick("reactions", done[0], len(products))

    for r in template_reactions(products, src.load_templates(), cfg.per_template, progress=rx_tick):
        meta = {"template": r.template, "reaction": r.name}
        slots = " + ".join([MOL_TOKEN] * len(r.reactants))
        q = f"Reactants: {slots}\nWhat is the product?"
        out["forward"].append(
            _draft(list(r.reactants), q, r.product, "smiles", "Reaction", "moses", meta)
        )
        q = _single("Which reactants give this product in one step?")
        answer = ".".join(r.reactants)
        out["retro"].append(_draft([r.product], q, answer, "smiles", "Reaction", "moses", meta))
    tick("reactions", len(products), len(products))
    return out


def draft_tasks(
    cfg: BuildConfig, progress: Progress | None = None
) -> tuple[dict[str, list[Draft]], dict[str, int]]:
    """All drafts per task (no ids or splits yet) and the number of molecules per source:
    the sources are read once, then one builder per task family drafts its questions."""
    cap = cfg.max_per_source

    def tick(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    tick("sources", 0, 5)
    b3db = src.load_b3db(cap)
    tick("sources", 1, 5)
    freesolv = src.load_freesolv(cap)
    solubility = src.load_solubility(cap)
    tick("sources", 3, 5)
    drugs = src.load_chembl_drugs(cap)
    moses = src.load_moses(cfg.moses_molecules + cfg.moses_structure, stride=cfg.moses_stride)
    tick("sources", 5, 5)
    counts = {
        "b3db": len(b3db),
        "freesolv": len(freesolv),
        "solubility": len(solubility),
        "chembl_drugs": len(drugs),
        "moses": len(moses),
    }
    tasks: dict[str, list[Draft]] = {t: [] for t in TASKS}
    tasks["text_iupac"] = _name_drafts([*b3db, *freesolv])
    tasks.update(_property_drafts(b3db, freesolv, solubility))
    pool: dict[str, str] = {}
    for m in [*b3db, *drugs, *freesolv, *solubility, *moses[cfg.moses_molecules :]]:
        pool.setdefault(m.smiles, m.source)
    tasks.update(_structure_drafts(pool, cfg, tick))
    tasks.update(_reaction_drafts([m.smiles for m in moses[: cfg.moses_molecules]], cfg, tick))
    return tasks, counts


def record_molecules(rec: Draft) -> list[str]:
    """Every molecule a record shows or asks for: its ``smiles`` plus a SMILES answer's molecules.

    A record's split is decided over all of them, so no held-out molecule hides in an answer.
    """
    mols = list(rec["smiles"])
    if rec["answer_type"] == "smiles":
        mols += [s for s in rec["answer"].split(".") if s]
    return mols


def _finalise(
    cfg: BuildConfig, tasks: dict[str, list[Draft]]
) -> tuple[dict[str, dict[str, list[Any]]], SplitTable]:
    """Scaffold-split the union of all molecules, then give records ids, splits and MC letters."""
    canon: dict[str, str] = {}
    keys: dict[str, str] = {}
    for drafts in tasks.values():
        for d in drafts:
            for smi in record_molecules(d):
                if smi not in canon:
                    c = src.canonical(smi)
                    if c is None:
                        raise DataError(f"internal: unparseable SMILES {smi!r} in a draft")
                    canon[smi] = c
                    if c not in keys:
                        keys[c] = scaffold_key(c)
    table = scaffold_split(keys, cfg.fractions, cfg.seed)
    rank = {s: i for i, s in enumerate(SPLITS)}
    out: dict[str, dict[str, list[Any]]] = {}
    for task, drafts in tasks.items():
        by_split: dict[str, list[Draft]] = {s: [] for s in SPLIT_NAMES}
        for i, d in enumerate(drafts):
            mols = record_molecules(d)
            split = max((table.split_of_key(keys[canon[s]]) for s in mols), key=rank.__getitem__)
            by_split[split].append({**d, "id": f"{task}-{i:06d}", "split": split})
        out[task] = {}
        for split, items in by_split.items():
            mc = [d for d in items if d["answer_type"] == "mc"]
            assign_letters(mc, _rng(cfg.seed, "letters", task, split))
            out[task][split] = [make_record(task=task, **d) for d in items]
    return out, table


def build_datasets(
    out: str | Path, cfg: BuildConfig | None = None, progress: Progress | None = None
) -> dict[str, Any]:
    """Build every task into ``out`` (replaced atomically) and return the manifest.

    Raises:
        DataError: an unknown size or bad fractions.
        MissingDependencyError: a data package is missing (install ``edtformer[data]``).
    """
    cfg = cfg or preset("small")
    with src.quiet_rdkit():
        tasks, source_counts = draft_tasks(cfg, progress)
    records, table = _finalise(cfg, tasks)
    counts = {t: {s: len(records[t][s]) for s in SPLIT_NAMES} for t in records}
    letters = {
        t: {
            s: {L: sum(1 for r in records[t][s] if r["answer"] == L) for L in LETTERS}
            for s in SPLIT_NAMES
        }
        for t in records
        if any(r["answer_type"] == "mc" for s in SPLIT_NAMES for r in records[t][s])
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "config": {**asdict(cfg), "fractions": list(cfg.fractions)},
        "tasks": {t: {"stage": TASKS[t][0], "description": TASKS[t][1]} for t in records},
        "counts": counts,
        "total_records": sum(sum(c.values()) for c in counts.values()),
        "sources": {
            name: {"molecules": n, "licence": src.LICENCES[name]}
            for name, n in source_counts.items()
        },
        "reaction_templates": src.LICENCES["templates"],
        "scaffold_split": {
            "method": "Bemis-Murcko scaffold (non-generic, stereo removed); acyclic molecules keyed by their own stereo-free SMILES; balanced greedy over the union of all molecules",
            "stats": table.stats(),
            "multi_molecule_records": "most held-out split of any molecule (test > valid > train)",
        },
        "mc_answer_letters": letters,
        "files": {t: {s: f"{t}/{s}.jsonl" for s in SPLIT_NAMES} for t in records},
    }
    if progress is not None:
        progress("writing", 0, len(records))
    with atomic_dir(out) as tmp:
        for i, (task, splits) in enumerate(records.items()):
            (tmp / task).mkdir()
            for split, recs in splits.items():
                text = "".join(dumps_record(r) + "\n" for r in recs)
                (tmp / task / f"{split}.jsonl").write_text(text, encoding="utf-8")
            if progress is not None:
                progress("writing", i + 1, len(records))
        atomic_write_text(tmp / "scaffolds.tsv", table.to_tsv())
        atomic_write_json(tmp / MANIFEST, manifest)
    log.info("built %d records in %d tasks into %s", manifest["total_records"], len(records), out)
    return json.loads(json.dumps(manifest))

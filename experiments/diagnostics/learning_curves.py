"""Learning curves of recipe runs: valid-split score per question kind vs training samples seen.

Every ``edt train recipe`` run writes ``curve.jsonl`` (one row per evaluation of a fixed, seeded
valid sample, see :class:`edtformer.training.curve.ValidCurve`). This script puts several runs
side by side -- one per lever tried -- as a table and a grid of plots:

    python experiments/diagnostics/learning_curves.py runs/recipe_A:full runs/recipe_B_noinstr:no-instruction
    # writes experiments/records/learning_curves.{md,json,png}

Each argument is ``RUN_DIR[:label]``. Only the valid split is read: test is never used to
choose between levers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edtformer.utils.io import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parents[1] / "records"

#: (column of curve.jsonl, title, higher is better, the issue's test-split target or None)
COLUMNS: tuple[tuple[str, str, bool, float | None], ...] = (
    ("has_group_bal_acc", "group yes/no, balanced acc.", True, 0.90),
    ("n_rings_exact", "ring count, exact", True, 0.85),
    ("n_aromatic_rings_exact", "aromatic rings, exact", True, 0.90),
    ("hbd_exact", "H-bond donors, exact", True, 0.80),
    ("hba_exact", "H-bond acceptors, exact", True, 0.70),
    ("heavy_atoms_mae", "heavy atoms, MAE", False, 1.0),
    ("n_stereocentres_exact", "stereocentres, exact", True, 0.80),
    ("same_stereoisomer_acc", "same stereoisomer, acc.", True, 0.85),
    ("rs_per_centre", "R/S per centre", True, 0.75),
    ("ez_exact", "E/Z, exact", True, 0.85),
    ("struct_mc_acc", "struct MC, letter acc.", True, 0.70),
    ("bbbp_auc", "BBBP ROC-AUC", True, 0.88),
    ("has_group_auc", "group yes/no, ROC-AUC", True, None),
    ("groups_exact", "group list, exact set", True, None),
    ("formula_exact", "formula, exact", True, None),
    ("rs_exact", "R/S, exact", True, None),
)


def continued_samples(run: Path, cfg: dict[str, object]) -> int:
    """Samples the run's starting model had seen (a recipe continued with ``--init-from``), else
    0: its curve is drawn after them. Read from the run's own ``training.json`` (``total`` minus
    its own samples; in ``RUN`` or ``RUN/final``), else from the starting folder's."""
    for own in (run / "training.json", run / "final" / "training.json"):
        if own.is_file():
            record = json.loads(own.read_text())
            if "total" in record:
                return int(record["total"]["samples"]) - int(record.get("samples", 0))
    model = cfg.get("model")
    init = model.get("init_from") if isinstance(model, dict) else None
    parent = Path(str(init)) / "training.json" if init else None
    if parent is None or not parent.is_file():
        return 0
    before = json.loads(parent.read_text())
    return int((before.get("total") or {}).get("samples", before.get("samples", 0)))


def read_run(spec: str) -> tuple[str, list[dict[str, float]], dict[str, object]]:
    """``(label, curve rows, run config)`` of ``RUN_DIR[:label]``."""
    path, _, label = spec.partition(":")
    run = Path(path)
    rows = [json.loads(line) for line in (run / "curve.jsonl").read_text().splitlines() if line]
    for r in rows:
        r.pop("metrics", None)
    cfg = json.loads((run / "config.json").read_text()) if (run / "config.json").is_file() else {}
    offset = continued_samples(run, cfg)
    for r in rows:
        r["samples"] += offset
    return label or run.name, rows, cfg


def table(runs: list[tuple[str, list[dict[str, float]], dict[str, object]]]) -> str:
    """Markdown: one row per run and evaluation point."""
    head = ["run", "samples", *[title for _, title, _, _ in COLUMNS]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, rows, _ in runs:
        for r in rows:
            cells = [label, str(int(r["samples"]))]
            cells += [f"{r[c]:.2f}" if c in r else "–" for c, _, _, _ in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(runs: list[tuple[str, list[dict[str, float]], dict[str, object]]], path: Path) -> None:
    """A 4 x 4 grid: one panel per question kind, one line per run, the target dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(4, 4, figsize=(16, 13), sharex=True)
    # one colour per run (tab20 has 20) and the last run, the newest, drawn bold
    colours = plt.get_cmap("tab20").colors
    for ax in list(axes.flat)[len(COLUMNS) :]:
        ax.set_visible(False)
    for ax, (col, title, higher, target) in zip(axes.flat, COLUMNS, strict=False):
        for i, (label, rows, _) in enumerate(runs):
            pts = [(r["samples"], r[col]) for r in rows if col in r]
            if pts:
                last = i == len(runs) - 1
                ax.plot(
                    *zip(*pts, strict=True),
                    marker="o",
                    ms=4 if last else 3,
                    lw=2.5 if last else 1.2,
                    color=colours[(2 * i) % 20 if i < 10 else (2 * i + 1) % 20],
                    label=label,
                    zorder=3 if last else 2,
                )
        if target is not None:
            ax.axhline(target, ls="--", c="grey", lw=1)
        if not higher:  # an error: a few unparseable huge numbers would flatten a linear axis
            ax.set_yscale("log")
        else:
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    shown = list(axes.flat)[: len(COLUMNS)]
    for ax in shown[-4:]:  # the lowest panel of each column
        ax.set_xlabel("training samples seen")
        ax.xaxis.set_tick_params(labelbottom=True)
    handles: dict[str, object] = {}
    for ax in axes.flat:  # one legend entry per run, below the grid (a run may miss a panel)
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(lab, h)
    n_rows = max(1, (len(handles) + 2) // 3)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=3, fontsize=9)
    fig.suptitle(
        "Valid-split learning curves (SmolLM2-135M-Instruct, frozen encoders; LLM frozen unless the run says LoRA; dashed: test target)"
    )
    fig.tight_layout(rect=(0, 0.03 + 0.025 * n_rows, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="RUN_DIR[:label] of `edt train recipe` runs")
    ap.add_argument("--out", default=str(RESULTS / "learning_curves"), help="path prefix")
    args = ap.parse_args()
    runs = [read_run(s) for s in args.runs]
    out = Path(args.out)
    md = table(runs)
    atomic_write_text(out.with_suffix(".md"), md)
    atomic_write_json(
        out.with_suffix(".json"),
        {label: {"config": cfg, "curve": rows} for label, rows, cfg in runs},
    )
    plot(runs, out.with_suffix(".png"))
    print(md)


if __name__ == "__main__":
    main()

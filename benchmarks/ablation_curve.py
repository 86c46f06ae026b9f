"""The ablation budget, chosen by measurement: the full model's valid curve against its zero-token control.

``edt train recipe --config ablation`` (the learnable setting: no fact sheet, per-atom encoder
streams, LoRA r=8, the balanced question stream) scores a fixed, seeded *valid* sample every
``recipe.eval_every`` steps twice: as trained, and with the molecule tokens replaced by zeros
before the LLM (prompt untouched). This script reads the run's ``curve.jsonl`` and writes

- ``benchmarks/results/ablation_curve.md``: per curve point and question kind the score with
  tokens and with zeros, the count kinds' paired gap and its standard error, and the **budget**:
  the smallest step at which the full model beats the zero-token control by more than three
  standard errors on the count kinds (or a plain statement that no step did);
- ``ablation_curve.png``: one panel per question kind, tokens vs zeros against samples seen;
- ``ablation_curve.json``: the same numbers.

    python benchmarks/ablation_curve.py runs/ablation_curve
    python benchmarks/ablation_curve.py runs/ablation_curve --sigmas 3 --out benchmarks/results
    python benchmarks/ablation_curve.py --bench benchmarks/results/runs/learn
    # every row of `edt bench --budget learn`: its valid curve (mean over seeds), tokens vs
    # zeros, as ablation_rows_curves.{md,png}

Only the valid split is read; the test split is scored once, by ``edt bench --budget learn``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edtformer.utils.io import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"

#: (curve column, title, higher is better)
KINDS: tuple[tuple[str, str, bool], ...] = (
    ("n_rings_exact", "rings, exact", True),
    ("n_aromatic_rings_exact", "aromatic rings, exact", True),
    ("hbd_exact", "H-bond donors, exact", True),
    ("hba_exact", "H-bond acceptors, exact", True),
    ("n_stereocentres_exact", "stereocentres, exact", True),
    ("has_group_bal_acc", "group yes/no, bal. acc", True),
    ("same_stereoisomer_acc", "same stereoisomer, acc", True),
    ("bbbp_auc", "BBBP ROC-AUC", True),
    ("solubility_mae", "log S MAE", False),
    ("solubility_spearman", "log S Spearman", True),
)


def read_curve(run: Path) -> list[dict[str, Any]]:
    """The rows of ``run/curve.jsonl`` (last row per step wins, in step order)."""
    path = run / "curve.jsonl"
    if not path.is_file():
        raise SystemExit(
            f"error: {path} not found (train with `edt train recipe --config ablation`)"
        )
    rows: dict[int, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[int(row["step"])] = {k: v for k, v in row.items() if not k.endswith("metrics")}
    if not rows:
        raise SystemExit(f"error: {path} is empty")
    return [rows[s] for s in sorted(rows)]


def choose_budget(rows: list[dict[str, Any]], sigmas: float) -> dict[str, Any] | None:
    """The first curve point whose count gap exceeds ``sigmas`` standard errors (``None``: none)."""
    for row in rows:
        gap, se = row.get("count_gap"), row.get("count_gap_se")
        if gap is not None and se is not None and row["step"] > 0 and gap > sigmas * se:
            return row
    return None


def _cell(row: dict[str, Any], key: str) -> str:
    a, b = row.get(key), row.get(f"zero/{key}")
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    return f"{fmt(a)} / {fmt(b)}"


def markdown(run: Path, rows: list[dict[str, Any]], config: dict[str, Any], sigmas: float) -> str:
    """The ``ablation_curve.md`` text."""
    chosen = choose_budget(rows, sigmas)
    rc, opt, r = config.get("recipe", {}), config.get("optim", {}), config.get("run", {})
    bridge = config.get("bridge") or config.get("model", {})  # runs before the bridge section
    last = rows[-1]
    lines = [
        "# Ablation budget: the full model against its zero-token control (valid split)",
        "",
        f"Run `{run}`: `edt train recipe --config ablation` — connector "
        f"`{bridge.get('connector')}` (patches "
        f"`{config.get('model', {}).get('patch_rule')}`), encoders "
        f"`{','.join(config.get('model', {}).get('encoders', []))}` (frozen, per-atom streams), "
        f"`{config.get('model', {}).get('llm')}` frozen with LoRA r={config.get('lora', {}).get('r')}, "
        f"no fact sheet, {opt.get('max_steps')} steps x batch {opt.get('batch_size')}, lr "
        f"{opt.get('lr')} (bridge x{opt.get('bridge_lr_scale')}), cosine to {opt.get('max_steps')}, "
        f"seed {r.get('seed')}, precision {r.get('precision')}. Valid sample: "
        f"{rc.get('eval_per_kind')} questions per kind (BBBP and log S twice as many), the same "
        "questions at every point. Cells: **with tokens / zero tokens** (the molecule tokens "
        "replaced by zeros before the LLM; prompt untouched).",
        "",
        "| step | samples | counts exact | counts, zero tokens | gap | SE | gap / SE | "
        + " | ".join(title for _, title, _ in KINDS)
        + " | eval s |",
        "|" + "---|" * (8 + len(KINDS)),
    ]
    for row in rows:
        cells = [_cell(row, key) for key, _, _ in KINDS]
        gap, se = row.get("count_gap"), row.get("count_gap_se")
        ratio = row.get("count_gap_in_se")
        lines.append(
            f"| {row['step']} | {row['samples']} | {row.get('count_acc', float('nan')):.3f} | "
            f"{row.get('count_acc_control', float('nan')):.3f} | "
            f"{'–' if gap is None else f'{gap:+.3f}'} | {'–' if se is None else f'{se:.3f}'} | "
            f"{'–' if ratio is None else f'{ratio:.1f}'} | "
            + " | ".join(cells)
            + f" | {row.get('eval_seconds', 0):.0f} |"
        )
    lines += ["", "## Budget", ""]
    n = int(last.get("count_n", 0))
    if chosen is not None:
        lines.append(
            f"The full model beats its zero-token control by more than {sigmas:g} standard errors "
            f"on the count kinds (ring, aromatic-ring, donor, acceptor and stereocentre counts "
            f"pooled, {n} paired valid questions) from **step {chosen['step']}** "
            f"({chosen['samples']} questions): gap {chosen['count_gap']:+.3f}, SE "
            f"{chosen['count_gap_se']:.3f}. That is the ablation budget (`edt bench --budget "
            "learn --max-steps N`)."
        )
    else:
        lines.append(
            f"At no curve point up to step {last['step']} ({last['samples']} questions) does the "
            f"full model beat its zero-token control by more than {sigmas:g} standard errors on "
            f"the count kinds (last gap {last.get('count_gap', float('nan')):+.3f}, SE "
            f"{last.get('count_gap_se', float('nan')):.3f}, {n} paired questions)."
        )
    return "\n".join(lines) + "\n"


def _save(fig: Any, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically (a temporary file, then a rename) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def plot(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """One panel per kind: tokens vs zeros against samples seen (``None`` without matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib not installed: no plot (pip install 'edtformer[plot]')", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("count_acc", "count kinds pooled, exact", True), *KINDS]
    cols = 4
    nrows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.4 * cols, 2.6 * nrows), squeeze=False)
    xs = [r["samples"] for r in rows]
    for ax, (key, title, _) in zip(axes.flat, panels, strict=False):
        zero_key = "count_acc_control" if key == "count_acc" else f"zero/{key}"
        ax.plot(xs, [r.get(key) for r in rows], "o-", label="with tokens")
        ax.plot(xs, [r.get(zero_key) for r in rows], "s--", label="zero tokens")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training questions", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(
        "Learnable setting, valid split: full EDT-Former vs its zero-token control", fontsize=10
    )
    return _save(fig, path)


#: Columns of the per-row curves (curve column, title).
ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("count_acc", "counts exact"),
    ("has_group_bal_acc", "group yes/no bal. acc"),
    ("same_stereoisomer_acc", "same isomer"),
    ("bbbp_auc", "BBBP AUC"),
    ("solubility_spearman", "log S Spearman"),
)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _seed_rows(run: Path) -> list[dict[str, Any]]:
    """One run's curve reduced to the per-row columns (zero tokens as ``zero/<col>``)."""
    out = []
    for row in read_curve(run):
        kept: dict[str, Any] = {"step": int(row["step"]), "samples": row["samples"]}
        for key, _ in ROW_COLUMNS:
            zero = "count_acc_control" if key == "count_acc" else f"zero/{key}"
            for src, dst in ((key, key), (zero, f"zero/{key}")):
                if row.get(src) is not None:
                    kept[dst] = float(row[src])
        out.append(kept)
    return out


SeedCurves = dict[str, dict[int, list[dict[str, Any]]]]
"""Variant -> seed -> that run's curve rows (:func:`_seed_rows`)."""


def folder_curves(root: Path) -> SeedCurves:
    """The curves of the runs on this machine (``<root>/<variant>/seed<k>/curve.jsonl``)."""
    out: SeedCurves = {}
    for vdir in sorted(p for p in root.iterdir() if p.is_dir()):
        for sdir in sorted(vdir.glob("seed*")):
            if (sdir / "curve.jsonl").is_file() and sdir.name[4:].isdigit():
                out.setdefault(vdir.name, {})[int(sdir.name[4:])] = _seed_rows(sdir)
    return out


def recorded_curves(path: Path) -> SeedCurves:
    """The per-seed curves an earlier ``--bench`` call wrote to ``path`` (its ``per_seed``).

    Run folders hold weights and are not committed; the curves file is, so a run whose folder
    is gone (another machine) keeps its curve. Files of the old layout (means only) give nothing.
    """
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    per_seed = data.get("per_seed") if isinstance(data, dict) else None
    if not isinstance(per_seed, dict):
        return {}
    return {v: {int(s): rows for s, rows in seeds.items()} for v, seeds in per_seed.items()}


def merge_curves(recorded: SeedCurves, found: SeedCurves) -> tuple[SeedCurves, dict[str, Any]]:
    """``recorded`` updated by ``found`` (a run folder wins over its recorded curve), and the
    source of every curve (variant -> seed -> ``"run folder"`` or ``"recorded"``)."""
    merged: SeedCurves = {v: dict(seeds) for v, seeds in recorded.items()}
    source: dict[str, dict[str, str]] = {
        v: {str(s): "recorded" for s in seeds} for v, seeds in recorded.items()
    }
    for variant, seeds in found.items():
        for seed, rows in seeds.items():
            merged.setdefault(variant, {})[seed] = rows
            source.setdefault(variant, {})[str(seed)] = "run folder"
    return merged, source


def mean_curves(per_seed: SeedCurves) -> dict[str, list[dict[str, Any]]]:
    """Variant -> its curve rows averaged over seeds, per step (``n``: seeds at that step)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for variant in sorted(per_seed):
        by_step: dict[int, list[dict[str, Any]]] = {}
        for seed in sorted(per_seed[variant]):
            for row in per_seed[variant][seed]:
                by_step.setdefault(int(row["step"]), []).append(row)
        rows = []
        for step in sorted(by_step):
            group = by_step[step]
            row: dict[str, Any] = {"step": step, "samples": group[0]["samples"], "n": len(group)}
            for key, _ in ROW_COLUMNS:
                for col in (key, f"zero/{key}"):
                    mean = _mean([float(r[col]) for r in group if r.get(col) is not None])
                    if mean is not None:
                        row[col] = mean
            rows.append(row)
        if rows:
            out[variant] = rows
    return out


def rows_markdown(
    root: Path, curves: dict[str, list[dict[str, Any]]], source: dict[str, Any] | None = None
) -> str:
    """The ``ablation_rows_curves.md`` text (``source``: :func:`merge_curves`'s second value)."""
    lines = [
        "# Valid learning curves of every ablation row (mean over seeds)",
        "",
        f"From `{root}` (`edt bench --budget learn`). Cells: **with tokens / zero tokens**.",
        "",
    ]
    if source:
        lines += ["Seeds per row (a run whose folder is on another machine keeps the curve this "
                  "file recorded):", ""]  # fmt: skip
        for variant in sorted(source):
            seeds = ", ".join(f"{s} ({how})" for s, how in sorted(source[variant].items()))
            lines.append(f"- {variant}: seed {seeds}")
        lines.append("")
    lines += [
        "| variant | step | samples | seeds | " + " | ".join(t for _, t in ROW_COLUMNS) + " |",
        "|" + "---|" * (4 + len(ROW_COLUMNS)),
    ]
    for variant, rows in curves.items():
        for row in rows:
            cells = [_cell(row, key) for key, _ in ROW_COLUMNS]
            lines.append(
                f"| {variant} | {row['step']} | {row['samples']} | {row['n']} | "
                + " | ".join(cells)
                + " |"
            )
    return "\n".join(lines) + "\n"


def rows_plot(curves: dict[str, list[dict[str, Any]]], path: Path) -> Path | None:
    """One panel per column, one line per variant (solid: tokens, dashed: zeros)."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib not installed: no plot (pip install 'edtformer[plot]')", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(ROW_COLUMNS), figsize=(3.4 * len(ROW_COLUMNS), 3.0))
    for ax, (key, title) in zip(axes, ROW_COLUMNS, strict=True):
        for i, (variant, rows) in enumerate(curves.items()):
            color = f"C{i}"
            xs = [r["samples"] for r in rows]
            ax.plot(xs, [r.get(key) for r in rows], "o-", color=color, label=variant)
            ax.plot(xs, [r.get(f"zero/{key}") for r in rows], ":", color=color)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("training questions", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.suptitle(
        "Ablation rows, valid split (solid: with tokens, dotted: zero tokens)", fontsize=10
    )
    return _save(fig, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument(
        "run", type=Path, nargs="?", help="an `edt train recipe --config ablation` run folder"
    )
    ap.add_argument("--bench", type=Path, help="`<out>/runs/learn` of `edt bench --budget learn`")
    ap.add_argument("--sigmas", type=float, default=3.0, help="standard errors the gap must pass")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="ablation_curve", help="output file stem")
    args = ap.parse_args(argv)
    if args.bench is not None:
        if not args.bench.is_dir():
            raise SystemExit(f"error: {args.bench} is not a folder of bench runs")
        out_json = args.out / "ablation_rows_curves.json"
        per_seed, source = merge_curves(recorded_curves(out_json), folder_curves(args.bench))
        curves = mean_curves(per_seed)
        if not curves:
            raise SystemExit(f"error: no curve.jsonl under {args.bench}/<variant>/seed*/")
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            args.out / "ablation_rows_curves.md", rows_markdown(args.bench, curves, source)
        )
        saved = {
            str(v): {str(s): rows for s, rows in seeds.items()} for v, seeds in per_seed.items()
        }
        atomic_write_json(out_json, {"mean": curves, "per_seed": saved, "source": source})
        rows_plot(curves, args.out / "ablation_rows_curves.png")
        print(f"wrote {args.out / 'ablation_rows_curves.md'}")
        return 0
    if args.run is None:
        ap.error("give a run folder or --bench DIR")
    rows = read_curve(args.run)
    cfg_path = args.run / "config.json"
    config = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = choose_budget(rows, args.sigmas)
    atomic_write_text(args.out / f"{args.name}.md", markdown(args.run, rows, config, args.sigmas))
    atomic_write_json(
        args.out / f"{args.name}.json",
        {
            "run": str(args.run),
            "sigmas": args.sigmas,
            "budget_step": None if chosen is None else chosen["step"],
            "rows": rows,
            "config": config,
        },
    )
    plot(rows, args.out / f"{args.name}.png")
    print(f"wrote {args.out / (args.name + '.md')}")
    print(
        "budget: "
        + (
            "none reached"
            if chosen is None
            else f"step {chosen['step']} (gap > {args.sigmas:g} SE)"
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

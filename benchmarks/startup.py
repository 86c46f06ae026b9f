"""Start-up of one ``edt ask`` process (and of ``import edtformer``): median of cold processes.

Each run is a fresh ``python -m edtformer.cli.main ask CCO "How many rings?"`` (the shipped
default bridge, float32 on CPU) or ``python -c "import edtformer"``, timed from launch to exit.
With ``--before REV`` the same commands also run on the ``src/`` of an older commit (unpacked
with ``git archive`` into a temporary folder and put first on ``PYTHONPATH``), alternating
before/after run by run, so that both see the same machine load. The ``-v`` INFO line of ``edt
ask`` (when the tree has it) splits a run into imports, weights and the rest; ``--importtime``
adds the slowest top-level imports of one ``python -X importtime`` run.

The machine's core count and load average are recorded beside the numbers: on a shared machine
(e.g. 2 cores beside a training job) every number is slower, the ratio before/after less so.

    python benchmarks/startup.py --runs 5 --before 3b3fc0b --importtime
    # writes benchmarks/results/startup.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
ASK = ["-m", "edtformer.cli.main", "ask", "CCO", "How many rings?", "-v"]
IMPORT = ["-c", "import edtformer"]
_PHASES = re.compile(
    r"imports ([\d.]+) s, weights and encoders ([\d.]+) s\); ([\d.]+) s since edt started"
)


def unpack_src(rev: str, into: Path) -> Path:
    """``src/`` of commit ``rev`` unpacked under ``into`` (the repository is not touched)."""
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "src"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def timed_run(args: Sequence[str], src: Path) -> dict[str, Any]:
    """Wall seconds of one cold process (with ``src`` first on the import path)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
    }
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    out: dict[str, Any] = {"wall_s": round(wall, 3)}
    m = _PHASES.search(proc.stderr)
    if m:
        imports, weights, since = (float(x) for x in m.groups())
        out |= {"imports_s": imports, "weights_s": weights, "ready_s": since}
    return out


def top_imports(src: Path, n: int = 12) -> list[tuple[str, float]]:
    """The slowest top-level imports (cumulative seconds) of one ``edt ask`` under importtime."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *ASK], capture_output=True, text=True, env=env
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "cumulative" in line:
            continue
        name = parts[2][1:]
        if not name.startswith(" "):
            rows.append((name.strip(), int(parts[1]) / 1e6))
    return sorted(rows, key=lambda r: -r[1])[:n]


def median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def machine() -> dict[str, Any]:
    """The CPU's name, its native bf16 flags (machines of one kind differ: some have AMX, some
    only AVX2), the core count and Python."""
    cpu, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == platform.processor():
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    bf16 = sorted(flags & {"avx512_bf16", "amx_bf16"})
    return {
        "cpu": cpu,
        "native_bf16": ", ".join(bf16) if bf16 else "none",
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="cold processes per command (5)")
    ap.add_argument("--before", help="also time the src/ of this commit (e.g. 3b3fc0b)")
    ap.add_argument("--importtime", action="store_true", help="list the slowest imports")
    ap.add_argument("--out", default=str(RESULTS / "startup"), help="results path stem")
    ap.add_argument("--note", default="", help="what else ran on the machine, for the record")
    args = ap.parse_args(argv)
    trees: dict[str, Path] = {"after": ROOT / "src"}
    with tempfile.TemporaryDirectory() as tmp:
        if args.before:
            trees = {"before": unpack_src(args.before, Path(tmp)), **trees}
        timed_run(ASK, trees["after"])  # untimed: converts / caches the default LLM once
        load_start = os.getloadavg()
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {
            t: {"ask": [], "import": []} for t in trees
        }
        for k in range(args.runs):
            for tree, src in trees.items():  # alternate: both trees see the same load
                runs[tree]["ask"].append(timed_run(ASK, src))
                runs[tree]["import"].append(timed_run(IMPORT, src))
                print(f"run {k + 1}/{args.runs} {tree}: {runs[tree]['ask'][-1]}", file=sys.stderr)
        load_end = os.getloadavg()
        slow = {t: top_imports(src) for t, src in trees.items()} if args.importtime else {}
    summary: dict[str, Any] = {}
    for tree, r in runs.items():
        summary[tree] = {
            "edt_ask_median_s": median([x["wall_s"] for x in r["ask"]]),
            "import_edtformer_median_s": median([x["wall_s"] for x in r["import"]]),
            **{
                f"{key}_median_s": median([x[key] for x in r["ask"]])
                for key in ("imports_s", "weights_s", "ready_s")
                if all(key in x for x in r["ask"])
            },
        }
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": " ".join(["python", *ASK]),
        "runs": args.runs,
        "before": args.before,
        "machine": machine(),
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in load_end],
        "note": args.note,
        "summary": summary,
        "raw": runs,
        "slowest_imports": slow,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = [
        f"Start-up, median of {r['runs']} cold processes ({r['date']}; {m['cpu']} (native bf16: {m.get('native_bf16', 'not recorded')}), "
        f"{m['nproc']} cores, load average {r['loadavg_start'][0]} -> {r['loadavg_end'][0]})"
        + (f"; {r['note']}" if r.get("note") else ""),
        "",
        "| tree | `edt ask CCO ...` (s) | ready to answer (s) | of which imports (s) | weights (s) "
        "| `import edtformer` (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for tree, s in r["summary"].items():
        name = f"before ({r['before']})" if tree == "before" else "after"
        cells = [s["edt_ask_median_s"]] + [
            s.get(f"{k}_median_s") for k in ("ready_s", "imports_s", "weights_s")
        ]
        text = " | ".join("n/a" if c is None else f"{c:.2f}" for c in cells)
        lines.append(f"| {name} | {text} | {s['import_edtformer_median_s']:.2f} |")
    for tree, rows in r["slowest_imports"].items():
        lines += ["", f"Slowest top-level imports ({tree}, one run, cumulative s):", ""]
        lines += [f"- `{name}` {sec:.2f}" for name, sec in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())

"""Write the shipped bridge's measured tables into README.md between their markers.

    python benchmarks/targets.py runs/default/ship/test_eval.json --specialist ...
    python experiments/diagnostics/drug_answers.py
    python benchmarks/readme_tables.py          # README.md: targets and drug answers

``<!-- targets:start -->`` ... ``<!-- targets:end -->`` gets
``benchmarks/results/default_bridge_targets.md``; ``<!-- drugs:start -->`` ...
``<!-- drugs:end -->`` gets a table of ``experiments/records/default_bridge_drug_answers.json``.
Nothing is typed in: both come from the result files.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edtformer.utils.io import atomic_write_text

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _cell(text: str, width: int = 90) -> str:
    """One markdown table cell: no pipes or newlines, cut to ``width`` characters."""
    text = " ".join(str(text).replace("|", "/").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def drug_table(rows: list[dict[str, str]]) -> str:
    """The drug answers as a markdown table (model answer, RDKit's, the facts the bridge wrote)."""
    out = [
        "| drug | question | shipped bridge | RDKit | the bridge wrote |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [r["drug"], r["question"], r["answer"], r["expected"], r.get("facts", "")]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(out)


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the lines between ``<!-- name:start -->`` and ``<!-- name:end -->`` set to
    ``body``. Raises ValueError if the markers are missing or out of order."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        raise ValueError(f"README has no {start} ... {end} block")
    return text[: i + len(start)] + "\n" + body.strip() + "\n" + text[j:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--readme", default=str(ROOT / "README.md"))
    ap.add_argument("--targets", default=str(RESULTS / "default_bridge_targets.md"))
    ap.add_argument("--drugs", default=str(RESULTS / "default_bridge_drug_answers.json"))
    args = ap.parse_args()
    readme = Path(args.readme)
    text = readme.read_text()
    text = replace_block(text, "targets", Path(args.targets).read_text())
    text = replace_block(text, "drugs", drug_table(json.loads(Path(args.drugs).read_text())))
    atomic_write_text(readme, text)
    print(json.dumps({"wrote": str(readme)}))


if __name__ == "__main__":
    main()

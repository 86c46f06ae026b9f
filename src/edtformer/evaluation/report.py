"""One evaluation result as a record: JSON round-trip, markdown and rich table rows."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from edtformer.evaluation.validation import MetricInputError

if TYPE_CHECKING:
    from rich.table import Table

#: Version of the JSON layout written by :meth:`MetricReport.to_json`.
REPORT_FORMAT_VERSION = 1

#: Identity columns shown before the metrics in tables.
ID_COLUMNS = ("task", "split", "model", "training_mode", "seed", "n")


@dataclass
class MetricReport:
    """The metrics of one model on one task split, with what produced them.

    Attributes:
        task: task name, e.g. ``"bbbp"`` or ``"moleculeqa"``.
        split: the split scored (``"test"``, ``"valid"``); never the training split.
        model: model or baseline name.
        seed: random seed of the run.
        training_mode: what was trained, e.g. ``"bridge"``, ``"bridge+lora"``, ``"zero-shot"``.
        n: number of items scored.
        metrics: metric name -> value (NaN for an undefined metric).
        n_unparseable: answers from which nothing could be parsed.
        notes: free text (caveats, variant of a metric, ...).
    """

    task: str
    split: str
    model: str
    seed: int
    training_mode: str
    n: int
    metrics: dict[str, float] = field(default_factory=dict)
    n_unparseable: int = 0
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: NaN/inf metrics become ``None``; carries ``format_version``."""
        out = asdict(self)
        out["metrics"] = {
            k: (float(v) if math.isfinite(float(v)) else None) for k, v in self.metrics.items()
        }
        out["format_version"] = REPORT_FORMAT_VERSION
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (no NaN literals)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricReport:
        """Inverse of :meth:`to_dict` (``None`` metrics become NaN).

        Raises:
            MetricInputError: a required field is missing or the format version is unknown.
        """
        version = data.get("format_version", REPORT_FORMAT_VERSION)
        if version != REPORT_FORMAT_VERSION:
            raise MetricInputError(
                f"metric report format_version {version!r}; expected {REPORT_FORMAT_VERSION}"
            )
        names = {f.name for f in fields(cls)}
        required = {"task", "split", "model", "seed", "training_mode", "n"}
        missing = sorted(required - data.keys())
        if missing:
            raise MetricInputError(f"metric report is missing fields {missing}")
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["metrics"] = {
            k: (math.nan if v is None else float(v)) for k, v in data.get("metrics", {}).items()
        }
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> MetricReport:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def row(self, metric_names: Sequence[str] | None = None, digits: int = 4) -> list[str]:
        """Cells: the :data:`ID_COLUMNS`, then the metrics, then ``n_unparseable``."""
        names = list(self.metrics) if metric_names is None else list(metric_names)
        cells = [str(getattr(self, c)) for c in ID_COLUMNS]
        cells += [_fmt(self.metrics.get(m), digits) for m in names]
        cells.append(str(self.n_unparseable))
        return cells

    def markdown_row(self, metric_names: Sequence[str] | None = None, digits: int = 4) -> str:
        """One markdown table row (see :func:`markdown_table` for the header)."""
        return "| " + " | ".join(self.row(metric_names, digits)) + " |"


def _fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "–"
    if math.isnan(value):
        return "nan"
    return f"{value:.{digits}f}"


def _metric_union(reports: Sequence[MetricReport]) -> list[str]:
    names: list[str] = []
    for r in reports:
        names += [m for m in r.metrics if m not in names]
    return names


def markdown_table(
    reports: Sequence[MetricReport], metric_names: Sequence[str] | None = None, digits: int = 4
) -> str:
    """A markdown table of reports; metrics default to the union in first-seen order."""
    names = _metric_union(reports) if metric_names is None else list(metric_names)
    header = [*ID_COLUMNS, *names, "n_unparseable"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [r.markdown_row(names, digits) for r in reports]
    return "\n".join(lines)


def rich_table(
    reports: Sequence[MetricReport],
    metric_names: Sequence[str] | None = None,
    digits: int = 4,
    title: str | None = None,
) -> Table:
    """A :class:`rich.table.Table` of reports (the CLI prints it)."""
    # heavy: rich loads only when the CLI prints a table
    from rich.table import Table

    names = _metric_union(reports) if metric_names is None else list(metric_names)
    table = Table(title=title)
    for col in (*ID_COLUMNS, *names, "n_unparseable"):
        table.add_column(col, justify="right" if col not in ID_COLUMNS[:4] else "left")
    for r in reports:
        table.add_row(*r.row(names, digits))
    return table

"""Exact facts about a molecule, computed by RDKit, and the questions asked about them.

- :mod:`edtformer.facts.sheet`: the fact sheet the LLM reads (:func:`sheet_values`,
  :func:`render_sheet`, :data:`SHEET_FIELDS`);
- :mod:`edtformer.facts.groups`: the functional-group and chemical-class vocabulary;
- :mod:`edtformer.facts.questions`: the question generator (train and held-out phrasings).
"""

from edtformer.facts.sheet import (
    SHEET_FIELDS,
    format_value,
    render_sheet,
    same_stereoisomer,
    sheet_of,
    sheet_values,
)

__all__ = [
    "SHEET_FIELDS",
    "format_value",
    "render_sheet",
    "same_stereoisomer",
    "sheet_of",
    "sheet_values",
]

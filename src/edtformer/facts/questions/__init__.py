"""Questions about a molecule's fact sheet, answered exactly as the sheet writes the fact.

Two template files ship with the package: ``templates/train.json`` (the only wordings the LLM is
trained on) and ``templates/heldout.json`` (the only wordings it is evaluated on). Both hold, per
fact kind, hand-written question templates, plus format requests ("Answer with just the number."),
multiple-choice layouts, two-fact templates, group-choice questions and off-sheet questions (melting
point, dose, price, ... that no structure can answer, answered with :data:`DECLINE`).

:func:`generate` draws one :class:`QAItem` for a molecule from its ``sheet_values`` dict.
Every draw is a function of the ``rng`` state only; nothing raises for a valid sheet (salts, no
carbon, no ring, no stereo).

- :mod:`~edtformer.facts.questions.templates`: loading and validating the template files;
- :mod:`~edtformer.facts.questions.answers`: fact kinds, gold values and answer texts;
- :mod:`~edtformer.facts.questions.subjects`: elements, groups and molecule phrases asked about;
- :mod:`~edtformer.facts.questions.distractors`: wrong options of multiple-choice questions;
- :mod:`~edtformer.facts.questions.generator`: :func:`generate` and the item builders.
"""

from edtformer.facts.questions.answers import (
    DECLINE,
    FACT_NAMES,
    GENERIC_JSON_KEYS,
    JSON_KEYS,
    KIND_TYPES,
    QAItem,
    fact_kinds,
    format_answer,
)
from edtformer.facts.questions.distractors import BOOL_EXTRA_OPTIONS
from edtformer.facts.questions.generator import (
    FORM_RATES,
    FORMAT_REQUEST_RATE,
    LETTERS,
    OFF_SHEET_REQUEST_RATE,
    generate,
)
from edtformer.facts.questions.subjects import (
    ABSENT_ELEMENTS,
    GROUP_ALIAS_RATE,
    MAX_INLINE_SMILES,
    MOL_PHRASES,
    PRESENT_ELEMENT_RATE,
    SMILES_PHRASES,
    group_aliases,
    group_vocabulary,
)
from edtformer.facts.questions.templates import SPLITS, TEMPLATE_DIR, load_templates
from edtformer.facts.sheet import ELEMENT_NAMES

__all__ = [
    "ABSENT_ELEMENTS",
    "BOOL_EXTRA_OPTIONS",
    "DECLINE",
    "ELEMENT_NAMES",
    "FACT_NAMES",
    "FORMAT_REQUEST_RATE",
    "FORM_RATES",
    "GENERIC_JSON_KEYS",
    "GROUP_ALIAS_RATE",
    "JSON_KEYS",
    "KIND_TYPES",
    "LETTERS",
    "MAX_INLINE_SMILES",
    "MOL_PHRASES",
    "OFF_SHEET_REQUEST_RATE",
    "PRESENT_ELEMENT_RATE",
    "SMILES_PHRASES",
    "SPLITS",
    "TEMPLATE_DIR",
    "QAItem",
    "fact_kinds",
    "format_answer",
    "generate",
    "group_aliases",
    "group_vocabulary",
    "load_templates",
]

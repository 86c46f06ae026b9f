"""Why RDKit refuses a SMILES: its own reason and, where it gives one, the position.

RDKit does not raise on a bad SMILES: ``MolFromSmiles`` returns ``None`` and writes the reason
to its error log (``SMILES Parse Error: extra close parentheses ...`` then ``check for mistakes
around position 3``). :func:`rdkit_log` captures that log for one call (and keeps it off
stderr); :func:`diagnose` turns it into a :class:`SmilesProblem`, reading the sanitisation
problems (valence, kekulization) from ``Chem.DetectChemistryProblems`` on the unsanitised parse.

Kinds (:attr:`SmilesProblem.kind`):

============  ====================================================  =========================
kind          example                                               RDKit's words
============  ====================================================  =========================
ring          ``C1CCCC``: ring bond 1 never closed                  unclosed ring
parenthesis   ``CC)C``, ``CC(C``                                     extra close/open parentheses
syntax        ``CCL`` (no element ``L``), ``C==C``, ``[NH4+``       syntax error
valence       ``C#C#C``: carbon with valence 6                      Explicit valence ... greater
kekulize      ``c1cccc1``: aromatic ring without a Kekulé form      Can't kekulize mol
aromatic      ``[Na+]c``: aromatic atom outside a ring              non-ring atom marked aromatic
charge        ``C[N+5]C``: formal charge out of range (our rule)    --
other         anything else RDKit reports                           its message
============  ====================================================  =========================
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator
from typing import NamedTuple

from rdkit import Chem, RDLogger, rdBase

#: RDKit's error log is one global stream: one capture at a time.
_LOG_LOCK = threading.RLock()
_TIMESTAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s?")
_POSITION = re.compile(r"check for mistakes around position (\d+)")
_PARSE_ERROR = "SMILES Parse Error: "
#: Elements written without brackets (the SMILES organic subset).
ORGANIC_SUBSET = "B C N O P S F Cl Br I, aromatic b c n o p s"


class SmilesProblem(NamedTuple):
    """Why a SMILES was refused.

    Attributes:
        kind: one of the kinds in the module docstring.
        message: the reason as a reader sees it (RDKit's words, the position and a hint).
        position: 1-based character position RDKit names (``None``: it names none).
    """

    kind: str
    message: str
    position: int | None = None


class LogCapture:
    """What RDKit wrote to its error log inside :func:`rdkit_log` (:attr:`lines`, timestamps
    removed)."""

    def __init__(self) -> None:
        self.lines: list[str] = []


@contextlib.contextmanager
def rdkit_log() -> Iterator[LogCapture]:
    """Capture RDKit's error log for the calls inside (nothing reaches stderr).

    Uses ``rdBase.CaptureErrorLog`` (RDKit >= 2025); an older RDKit only has its log blocked, so
    the reasons come from :func:`diagnose`'s own checks.
    """
    out = LogCapture()
    capture = getattr(rdBase, "CaptureErrorLog", None)
    with _LOG_LOCK:
        if capture is None:  # pragma: no cover - older RDKit
            with rdBase.BlockLogs():
                yield out
            return
        with capture() as cap:
            try:
                yield out
            finally:
                text = str(cap.messages)
        out.lines = [_TIMESTAMP.sub("", line).rstrip() for line in text.splitlines()]


@contextlib.contextmanager
def rdkit_logs_off() -> Iterator[None]:
    """RDKit's logs off (``RDLogger.DisableLog("rdApp.*")``) for the calls inside, on again after
    (also on an error): for third-party code that calls RDKit, such as MiniMol's featuriser."""
    RDLogger.DisableLog("rdApp.*")  # type: ignore[attr-defined]
    try:
        yield
    finally:
        RDLogger.EnableLog("rdApp.*")  # type: ignore[attr-defined]


def diagnose(text: str, parse_log: list[str] | None = None) -> SmilesProblem:
    """Why RDKit's default parse of ``text`` fails.

    Args:
        text: the SMILES (already through the text checks of the strict front end).
        parse_log: what RDKit logged while parsing it (:func:`rdkit_log`), if captured.
    """
    log = parse_log if parse_log is not None else _parse_log(text)
    parse = [line[len(_PARSE_ERROR) :] for line in log if line.startswith(_PARSE_ERROR)]
    if parse:
        return _parse_problem(text, parse)
    with rdkit_log():
        params = Chem.SmilesParserParams()
        params.sanitize = False  # type: ignore[assignment]
        mol = Chem.MolFromSmiles(text, params)
        found = [] if mol is None else list(Chem.DetectChemistryProblems(mol))
    if mol is None:  # pragma: no cover - a parse error without a captured log (older RDKit)
        rings = _unclosed_rings(text)
        if rings:
            return SmilesProblem("ring", "unclosed ring" + rings)
        return SmilesProblem("other", "RDKit could not parse it (this RDKit does not say why)")
    charge = charge_problem(mol)
    if charge is not None:
        return charge
    if found:
        first = found[0]
        kind = {
            "AtomValenceException": "valence",
            "KekulizeException": "kekulize",
            "AtomKekulizeException": "aromatic",
        }.get(first.GetType(), "other")
        message = "RDKit: " + "; ".join(_clean(p.Message()) for p in found[:3])
        if len(found) > 3:
            message += f" (and {len(found) - 3} more)"
        return SmilesProblem(kind, message + _HINTS.get(kind, ""))
    other = [line for line in log if line and not line.startswith("~")]
    if other:
        return SmilesProblem("other", "RDKit: " + _clean(other[0]))
    return SmilesProblem("other", "RDKit could not sanitize it")


#: Formal-charge limits: C, N and O take ``-_MAX_CHARGE_CNO..+_MAX_CHARGE_CNO``, others
#: ``MAX_ABS_CHARGE``.
MAX_ABS_CHARGE = 3
_MAX_CHARGE_CNO = 2


def charge_problem(mol: Chem.Mol) -> SmilesProblem | None:
    """An implausible formal charge (``[N+5]``, ``[C+15]``) that RDKit accepts, or ``None``."""
    for atom in mol.GetAtoms():
        q = atom.GetFormalCharge()
        symbol = atom.GetSymbol()
        limit = _MAX_CHARGE_CNO if symbol in ("C", "N", "O") else MAX_ABS_CHARGE
        if abs(q) > limit:
            return SmilesProblem(
                "charge",
                f"atom {atom.GetIdx()} ({symbol}) has formal charge {q:+d}; "
                f"{symbol} is accepted with charges -{limit} to +{limit}",
            )
    return None


_HINTS = {
    "valence": " (too many bonds or hydrogens on that atom: check bond orders and charges)",
    "kekulize": (
        " (no alternating single/double bonds fit these aromatic atoms: a five-membered "
        "aromatic ring needs an [nH], o or s)"
    ),
    "aromatic": " (lowercase aromatic atoms must be in a ring)",
}


def _parse_log(text: str) -> list[str]:
    with rdkit_log() as log:
        Chem.MolFromSmiles(text)
    return log.lines


def _clean(message: str) -> str:
    return " ".join(message.split()).rstrip(".:")


def _parse_problem(text: str, lines: list[str]) -> SmilesProblem:
    """The problem of RDKit's ``SMILES Parse Error`` lines."""
    first = lines[0]
    found = next((m for m in map(_POSITION.search, lines) if m), None)
    position = int(found.group(1)) if found else None
    where = ""
    if position is not None and 1 <= position <= len(text):
        where = f" at position {position} ({text[position - 1]!r})"
    if first.startswith("unclosed ring"):
        return SmilesProblem("ring", "RDKit: unclosed ring" + _unclosed_rings(text))
    if "parentheses" in first:
        what = first.split(" while parsing")[0]
        return SmilesProblem("parenthesis", f"RDKit: {what}{where}", position)
    if first.startswith("syntax error"):
        hint = ""
        if position is not None and 1 <= position <= len(text) and text[position - 1].isalpha():
            before = text[: position - 1]
            if before.count("[") > before.count("]"):  # inside a bracket atom
                hint = ": not an element symbol"
            else:
                hint = (
                    f": no element {text[position - 1]!r} there (written without brackets: "
                    f"{ORGANIC_SUBSET}; others in brackets, e.g. [Na], [Se])"
                )
        return SmilesProblem("syntax", f"RDKit: syntax error{where}{hint}", position)
    message = first.split(" for input:")[0].split(" while parsing")[0]
    return SmilesProblem("other", f"RDKit: {_clean(message)}{where}", position)


_RING_LABEL = re.compile(r"\[[^\]]*\]|%\((\d+)\)|%(\d\d)|(\d)")


def _unclosed_rings(text: str) -> str:
    """``" (ring bond 1 opened at position 2 is never closed)"`` for the ring-bond labels of
    ``text`` that are opened and not closed (bracket atoms skipped); ``""`` if none is found."""
    open_at: dict[str, int] = {}
    for m in _RING_LABEL.finditer(text):
        label = m.group(1) or m.group(2) or m.group(3)
        if label is None:  # a bracket atom
            continue
        if label in open_at:
            del open_at[label]
        else:
            open_at[label] = m.start() + 1
    if not open_at:
        return ""
    names = [f"ring bond {label} opened at position {pos}" for label, pos in open_at.items()]
    verb = "is" if len(names) == 1 else "are"
    return f" ({', '.join(names)} {verb} never closed)"


__all__ = ["SmilesProblem", "charge_problem", "diagnose", "rdkit_log"]

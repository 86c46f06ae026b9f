"""Typed errors. Every user-facing error says what was received, what was expected, and how to fix it.

The CLI turns any :class:`EdtError` into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import importlib


class EdtError(Exception):
    """Base class of every error edtformer raises on bad input or a missing resource."""


#: Error messages quote at most this many characters of the user's input.
QUOTE_LIMIT = 80


def quote_input(text: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters with the full length named when longer
    (a 1 MB input must not become a 1 MB error line)."""
    if not isinstance(text, str):
        return f"<{type(text).__name__}>"
    if len(text) <= limit:
        return repr(text)
    return f"{text[: limit - 3]!r}... ({len(text):,} characters)"


class InvalidSmilesError(EdtError, ValueError):
    """A SMILES string could not be parsed (or was empty).

    Attributes:
        smiles: the input as given.
        reason: why, in words (RDKit's own reason where RDKit refused it).
        kind: the kind of problem (``ring``, ``parenthesis``, ``syntax``, ``valence``,
            ``kekulize``, ``charge``, ... see :mod:`edtformer.chem.problems`; ``None``: unnamed).
        position: the 1-based character position RDKit names (``None``: none).
    """

    def __init__(
        self,
        smiles: str,
        reason: str = "RDKit could not parse it",
        kind: str | None = None,
        position: int | None = None,
    ) -> None:
        self.smiles = smiles
        self.reason = reason
        self.kind = kind
        self.position = position
        super().__init__(f"invalid SMILES {quote_input(smiles)}: {reason}")


class UnsupportedMoleculeError(EdtError, ValueError):
    """A valid molecule that a component cannot handle (unsupported element, too many atoms, ...)."""

    def __init__(self, smiles: str, reason: str) -> None:
        self.smiles = smiles
        self.reason = reason
        super().__init__(f"unsupported molecule {quote_input(smiles)}: {reason}")


class InvalidShapeError(EdtError, ValueError):
    """A tensor had the wrong shape. The message names the tensor, the shape got and the shape expected."""

    def __init__(self, name: str, got: tuple[int, ...] | list[int], expected: str) -> None:
        self.name = name
        self.got = tuple(got)
        self.expected = expected
        super().__init__(f"{name}: got shape {tuple(got)}, expected {expected}")


class MissingDependencyError(EdtError, ImportError):
    """An optional dependency is missing; the message names the pip extra that provides it."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"the optional package {package!r} is not installed; "
            f"install it with: pip install 'edtformer[{extra}]'"
        )


class CheckpointError(EdtError):
    """A checkpoint folder is missing, incomplete, corrupt or of an unknown format version."""


class DataError(EdtError):
    """An input file is missing or malformed (names the file, line and what was expected)."""


def require(module: str, extra: str, package: str | None = None) -> object:
    """Import an optional module or raise :class:`MissingDependencyError` naming the pip extra.

    Args:
        module: importable module name, e.g. ``"onnxruntime"``.
        extra: the ``edtformer`` extra that installs it, e.g. ``"encoders"``.
        package: the pip distribution name if it differs from ``module``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(package or module, extra) from exc

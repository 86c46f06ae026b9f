"""Errors of the HTTP API in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Every bad request becomes one of these with a 4xx status, never a 500 or a traceback.
"""

from __future__ import annotations

from typing import Any

from edtformer.errors import EdtError, InvalidSmilesError, UnsupportedMoleculeError
from edtformer.llm.tokens import MoleculeTokenCountError


class ApiError(Exception):
    """A request the server refuses: HTTP ``status`` and OpenAI's error fields."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        code: str | None = None,
        param: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.type = type

    def body(self) -> dict[str, Any]:
        """The JSON body."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def from_edt_error(exc: EdtError, param: str | None = None) -> ApiError:
    """The 400 for an :class:`EdtError` raised by the library on bad input."""
    code = "invalid_request"
    if isinstance(exc, InvalidSmilesError):
        code = "invalid_smiles"
    elif isinstance(exc, UnsupportedMoleculeError):
        code = "unsupported_molecule"
    elif isinstance(exc, MoleculeTokenCountError):
        code = "mol_marker_mismatch"
    elif "positions" in str(exc):
        code = "context_length_exceeded"
    elif "characters; at most" in str(exc):
        code = "question_too_long"
    return ApiError(str(exc), 400, code, param)

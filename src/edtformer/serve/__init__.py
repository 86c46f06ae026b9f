"""``edt serve``: the model behind an OpenAI-compatible HTTP API and a web page.

One process loads the model once (:func:`create_app` takes a loaded :class:`EDTFormer`) and
serves

- ``POST /v1/chat/completions`` (OpenAI's chat format, ``stream`` true or false) with molecules
  attached as ``{"type": "molecule", "smiles": ...}`` content parts or a top-level
  ``molecules`` list;
- ``POST /v1/score`` (answer options -> probabilities), ``POST /v1/patch`` (entropy, patches,
  an SVG drawing), ``GET /v1/models``, ``GET /health`` and the page at ``/``.

Needs the ``serve`` extra (FastAPI + uvicorn): ``pip install 'edtformer[serve]'``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def create_app(*args: Any, **kwargs: Any) -> Any:
    """See :func:`edtformer.serve.app.create_app` (imported lazily: FastAPI is optional)."""
    from edtformer.errors import require

    require("fastapi", "serve")
    require("uvicorn", "serve")
    from edtformer.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)

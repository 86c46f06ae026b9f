"""The molecule placeholder every layer writes: one home for ``<mol>``.

Dataset records (``data/``) put it in questions, the prompt builder (``llm/``) expands it into the
molecule's tokens; both read it from here, the lowest layer, so the two can never disagree.
"""

from __future__ import annotations

#: One ``<mol>`` per molecule in a question's text.
MOL_TOKEN = "<mol>"

__all__ = ["MOL_TOKEN"]

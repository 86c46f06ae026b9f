"""Label leakage between a frozen encoder's pretraining data and an evaluation task.

An encoder that was *trained on* a task's labels (e.g. admet-ai's Chemprop models on TDC
``BBB_Martins``) makes that task's evaluation meaningless: the molecule tokens already carry the
answer. The check is table-driven: :data:`LEAKS` maps a training-data name (as it appears in
:attr:`~edtformer.encoders.base.EncoderInfo.trained_on`) to the task names whose labels it
contains. ``edt eval`` refuses such a pair unless ``--allow-leak`` is given, and then the report's
notes say so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from edtformer.errors import EdtError

#: Training-data name -> evaluation task names (lower case, our built tasks and common file stems)
#: whose labels that data contains.
LEAKS: dict[str, tuple[str, ...]] = {
    "TDC:BBB_Martins": ("bbbp", "bbb", "bbb_martins", "b3db", "logbb"),
    "TDC:HydrationFreeEnergy_FreeSolv": ("freesolv", "hydrationfreeenergy_freesolv"),
    "TDC:PAMPA_NCATS": ("pampa", "pampa_ncats"),
    "TDC:Solubility_AqSolDB": ("solubility", "solubility_aqsoldb", "esol", "aqsoldb"),
    "TDC:Lipophilicity_AstraZeneca": ("lipophilicity", "lipophilicity_astrazeneca", "lipo"),
    "TDC:ClinTox": ("clintox",),
    "TDC:HIA_Hou": ("hia", "hia_hou"),
    "TDC:Caco2_Wang": ("caco2", "caco2_wang"),
}


class LeakageError(EdtError):
    """An encoder of the model was trained on the labels of the task being evaluated."""


def _task_key(task: str) -> str:
    """Lower-case task name without a split suffix (``BBB_Martins_test`` -> ``bbb_martins``)."""
    key = task.strip().lower()
    return re.sub(r"[_\-.](train|valid|val|test)$", "", key)


def leaked_sources(trained_on: Iterable[str], task: str) -> list[str]:
    """The entries of ``trained_on`` whose labels overlap ``task`` (empty: no known leak)."""
    key = _task_key(task)
    return [src for src in trained_on if key in LEAKS.get(src, ())]


def encoder_leaks(encoders: Sequence[str], task: str) -> dict[str, list[str]]:
    """Encoder name -> its leaking training sets for ``task`` (only encoders that leak).

    Unknown encoder names are skipped here (the model loader reports them).
    """
    # heavy: edtformer.encoders imports torch; the metric modules stay torch-free
    from edtformer.encoders.registry import encoder_info

    out: dict[str, list[str]] = {}
    for name in encoders:
        try:
            info = encoder_info(name)
        except EdtError:
            continue
        found = leaked_sources(info.trained_on, task)
        if found:
            out[name] = found
    return out


def check_leakage(encoders: Sequence[str], task: str, allow: bool = False) -> str:
    """Refuse (or, with ``allow``, describe) an evaluation whose encoder saw the task's labels.

    Returns:
        A note for the report (empty when nothing leaks).

    Raises:
        LeakageError: an encoder leaks and ``allow`` is False; the message names the encoder,
            the training set and how to proceed.
    """
    leaks = encoder_leaks(encoders, task)
    if not leaks:
        return ""
    what = "; ".join(f"encoder {e!r} was trained on {', '.join(s)}" for e, s in leaks.items())
    if not allow:
        raise LeakageError(
            f"task {task!r} leaks into this model: {what}. Evaluate a model built on an encoder "
            "that never saw these labels (e.g. minimol), or pass --allow-leak to score it anyway "
            "with a LEAK note in the report"
        )
    return f"LEAK: {what}; scores on {task} are not a fair evaluation"


__all__ = ["LEAKS", "LeakageError", "check_leakage", "encoder_leaks", "leaked_sources"]

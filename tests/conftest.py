"""Shared fixtures: tricky SMILES whose atom alignment every stage must respect."""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

#: (SMILES, number of atoms RDKit keeps). Every per-atom output must have exactly this many rows.
TRICKY_SMILES: list[tuple[str, int]] = [
    ("[K+].[Cl-]", 2),
    ("[As]", 1),
    ("[Cs+]", 1),
    ("[Sc]", 1),
    ("[Ti]", 1),
    ("[2H]C([2H])O", 4),
    ("[H][H]", 2),
    ("C[C@H](N)C(=O)O", 6),
    ("F/C=C/F", 4),
    ("c1ccncc1", 6),
    ("c1ccc2[nH]ccc2c1", 9),
    ("C1CCCCCCCCCCCCCCCCCCC1", 20),  # macrocycle
    ("[13CH3]C(=O)[O-].[Na+]", 5),
    ("*c1ccccc1", 7),
    ("CC(C)(C)[Si](C)(C)OC[C@@H]1CC[C@H](O1)n1cnc2c1ncnc2N", 24),
]


@pytest.fixture(params=TRICKY_SMILES, ids=[s for s, _ in TRICKY_SMILES])
def tricky(request: pytest.FixtureRequest) -> tuple[str, int]:
    """One tricky SMILES and its expected atom count."""
    return request.param


@pytest.fixture(scope="module")
def tiny_edt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A random-encoder EDT-Former with the tiny bridge preset and the tiny Llama (seed 0),
    built once per test module (tests that change its config put it back)."""
    # here, not at the top: collecting the suite should not import torch for every test file
    import torch

    from edtformer.bridge import tiny
    from edtformer.model import EDTFormer, EDTFormerConfig
    from tests.fixtures.llm.tiny import make_tiny_llm

    llm = make_tiny_llm(tmp_path_factory.mktemp("llm") / "tiny-llama")
    torch.manual_seed(0)
    cfg = EDTFormerConfig(encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics")
    return EDTFormer.build(cfg).eval()

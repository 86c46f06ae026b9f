"""Bulk pipeline: in-process and worker processes give the same, input-ordered results."""

from __future__ import annotations

import numpy as np
from tests.conftest import TRICKY_SMILES

from edtformer.entropy import load_default_scorer
from edtformer.patching import patch_molecules
from edtformer.patching.pipeline import PatchPipeline, PipelineConfig

SMILES = [s for s, _ in TRICKY_SMILES] + ["not a smiles", "CCO"]


def test_pipeline_in_process_matches_library_calls() -> None:
    with PatchPipeline(PipelineConfig(rule="combine")) as pipe:
        results = pipe.run(SMILES)
    assert [r.smiles for r in results] == SMILES
    bad = [r for r in results if r.error]
    assert len(bad) == 1 and "not a smiles" in (bad[0].error or "")
    good = [r for r in results if not r.error]
    from edtformer.chem import parse_smiles

    records = [parse_smiles(r.smiles) for r in good]
    ents, ref = patch_molecules(records, "combine", load_default_scorer())
    for r, e, p in zip(good, ents, ref, strict=True):
        np.testing.assert_allclose(r.entropy, e, atol=1e-5)
        np.testing.assert_array_equal(r.patch_ids, p.patch_ids)
        np.testing.assert_array_equal(r.brics_ids, p.brics_ids)


def test_pipeline_worker_process_same_results() -> None:
    with PatchPipeline(PipelineConfig(workers=1, chunk_size=4)) as pipe:
        par = pipe.run(SMILES)
    seq = PatchPipeline().run(SMILES)
    assert [r.error is None for r in par] == [r.error is None for r in seq]
    for a, b in zip(par, seq, strict=True):
        np.testing.assert_allclose(a.entropy, b.entropy, atol=1e-5)
        np.testing.assert_array_equal(a.patch_ids, b.patch_ids)

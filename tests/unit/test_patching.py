"""Patching rules (hand-worked vectors, invariants), BRICS, combine and padding-free pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from rdkit import Chem
from tests.conftest import TRICKY_SMILES

from edtformer.chem import parse_smiles
from edtformer.errors import InvalidShapeError
from edtformer.patching import (
    RULES,
    brics_ids,
    compute_patches,
    entropy_patches,
    get_rule,
    ids_from_boundaries,
    monotonic_rule,
    pad_entropies,
    pool_patches,
    quantile_rule,
    threshold_rule,
)


def one(rule, h, **kw) -> list[int]:  # type: ignore[no-untyped-def]
    x = torch.tensor([h], dtype=torch.float32)
    return rule(x, torch.ones_like(x, dtype=torch.bool), **kw)[0].tolist()


def test_quantile_hand_worked() -> None:
    h = [0.1, 0.5, 2.0, 0.3, 0.2, 1.8, 1.9, 0.1]
    # tau = np.percentile(h, 75) = 1.825; rising edges at atoms 2 (0.5 -> 2.0) and 6 (1.8 -> 1.9)
    assert np.percentile(h, 75) == pytest.approx(1.825)
    assert one(quantile_rule, h) == [0, 0, 0, 1, 1, 1, 1, 2]


def test_quantile_rising_edge_only_and_edge_cases() -> None:
    # a plateau above tau gives one boundary (at its start), not one per atom
    assert one(quantile_rule, [0.0, 0.0, 3.0, 3.0, 3.0] + [0.0] * 7) == [0, 0, 0] + [1] * 9
    assert one(quantile_rule, [1.0] * 6) == [0] * 6  # uniform -> one patch
    assert one(quantile_rule, [5.0]) == [0]
    assert one(quantile_rule, [5.0, 0.0, 0.0, 0.0]) == [0, 0, 0, 0]  # no edge at atom 0
    assert one(quantile_rule, [0.0, 0.0, 0.0, 5.0]) == [0, 0, 0, 0]  # nothing after the last atom


def test_threshold_and_monotonic_hand_worked() -> None:
    h = [0.2, 1.5, 0.3, 0.4, 2.0, 2.1, 0.1]
    assert one(threshold_rule, h, threshold=1.0) == [0, 0, 1, 1, 1, 2, 3]
    # rises > 0.5: atom 1 (+1.3), atom 4 (+1.6)
    assert one(monotonic_rule, h, margin=0.5) == [0, 0, 1, 1, 1, 2, 2]
    assert one(threshold_rule, [0.0] * 7, threshold=1.0, max_patch_len=3) == [0, 0, 0, 1, 1, 1, 2]
    assert one(threshold_rule, h, threshold=1.0, max_patch_len=2) == [0, 0, 1, 1, 2, 3, 4]


def test_ids_from_boundaries_ignores_padding_and_last_atom() -> None:
    boundary = torch.tensor([[True, False, True, True], [True, True, True, True]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    assert ids_from_boundaries(boundary, mask).tolist() == [[0, 1, 1, -1], [0, 1, -1, -1]]


@pytest.mark.parametrize("rule", ["quantile", "threshold", "monotonic"])
def test_every_atom_one_contiguous_id_and_batch_invariance(rule: str) -> None:
    rng = np.random.default_rng(0)
    ents = [rng.gamma(1.0, 1.0, size=n).astype(np.float32) for n in rng.integers(1, 40, 50)]
    batched = entropy_patches(ents, rule)
    for e, ids in zip(ents, batched, strict=True):
        assert ids.shape == e.shape and (ids >= 0).all()
        assert ids[0] == 0 and set(np.diff(ids).tolist()) <= {0, 1}  # contiguous, in order
        np.testing.assert_array_equal(entropy_patches([e], rule)[0], ids)


def test_pad_entropies() -> None:
    x, mask = pad_entropies([np.array([1.0, 2.0]), np.array([3.0])])
    assert x.tolist() == [[1.0, 2.0], [3.0, 0.0]] and mask.tolist() == [[True, True], [True, False]]


def test_brics_numbered_by_first_atom() -> None:
    mol = Chem.MolFromSmiles("CC(=O)Oc1ccccc1C(=O)O")  # aspirin: ester bond cut
    ids = brics_ids(mol)
    assert ids.shape == (mol.GetNumAtoms(),) and ids[0] == 0
    firsts = [int(np.flatnonzero(ids == k)[0]) for k in range(ids.max() + 1)]
    assert firsts == sorted(firsts) and ids.max() >= 1
    assert brics_ids(Chem.MolFromSmiles("[K+].[Cl-]")).tolist() == [0, 1]


def test_compute_patches_all_rules_on_tricky(tricky: tuple[str, int]) -> None:
    smiles, n = tricky
    rec = parse_smiles(smiles)
    ent = [np.linspace(0, 2, n, dtype=np.float32)]
    for rule in RULES:
        [res] = compute_patches([rec], None if rule == "brics" else ent, rule)
        assert res.patch_ids.shape == (n,) and res.patch_ids.min() == 0
        assert res.n_patches == len(set(res.patch_ids.tolist()))
        if rule == "combine":
            assert res.brics_ids is not None and res.brics_ids.shape == (n,)


def test_compute_patches_errors() -> None:
    rec = parse_smiles("CCO")
    with pytest.raises(InvalidShapeError):
        compute_patches([rec], [np.zeros(2, np.float32)])
    with pytest.raises(ValueError, match="unknown"):
        compute_patches([rec], [np.zeros(3, np.float32)], rule="nope")
    with pytest.raises(ValueError, match="unknown"):
        get_rule("brics")
    with pytest.raises(ValueError, match="needs"):
        compute_patches([rec], None, rule="quantile")


def test_pooling_ignores_padding_rows() -> None:
    feats = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, True, False, False], [True, True, True, True, True]])
    ids = torch.tensor([[0, 1, 1, -1, -1], [0, 0, 1, 2, 2]])
    out = pool_patches(feats, mask, ids)
    poisoned = feats.clone()
    poisoned[0, 3:] = 1e6  # padding content must not matter
    out2 = pool_patches(poisoned, mask, torch.tensor([[0, 1, 1, 1, 1], [0, 0, 1, 2, 2]]))
    torch.testing.assert_close(out.tokens, out2.tokens)
    assert out.tokens.shape == (2, 3, 3)
    assert out.token_mask.tolist() == [[True, True, False], [True, True, True]]
    torch.testing.assert_close(out.tokens[0, 1], feats[0, 1:3].mean(0))
    torch.testing.assert_close(out.tokens[1, 2], feats[1, 3:5].mean(0))
    assert out.tokens[0, 2].abs().sum() == 0 and out.n_dropped.tolist() == [0, 0]


def test_pooling_cap_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    feats = torch.arange(8.0).view(1, 4, 2)
    mask = torch.ones(1, 4, dtype=torch.bool)
    ids = torch.tensor([[0, 1, 2, 3]])
    out = pool_patches(feats, mask, ids, max_tokens=2)
    # the one cap rule: keep the first max_tokens patches, drop and count the rest
    assert out.tokens.shape == (1, 2, 2) and out.n_dropped.tolist() == [2]
    torch.testing.assert_close(out.tokens[0], feats[0, :2])
    assert "2 patch(es) dropped" in caplog.text


def test_pooling_partitions_one_after_the_other() -> None:
    """[B, G, N] ids (combine: entropy patches, then BRICS) pool like the partitions in turn."""
    feats = torch.arange(10.0).view(1, 5, 2)
    mask = torch.tensor([[True, True, True, True, False]])
    entropy = torch.tensor([[0, 0, 1, 1, -1]])
    brics = torch.tensor([[0, 1, 1, 1, -1]])
    both = pool_patches(feats, mask, torch.stack([entropy, brics], dim=1))
    first, second = pool_patches(feats, mask, entropy), pool_patches(feats, mask, brics)
    torch.testing.assert_close(both.tokens, torch.cat([first.tokens, second.tokens], dim=1))
    assert both.token_mask.tolist() == [[True] * 4]
    capped = pool_patches(feats, mask, torch.stack([entropy, brics], dim=1), max_tokens=3)
    torch.testing.assert_close(capped.tokens, both.tokens[:, :3])
    assert capped.n_dropped.tolist() == [1]
    with pytest.raises(InvalidShapeError, match="partition 1"):
        pool_patches(feats, mask, torch.stack([entropy, torch.tensor([[0, -1, 1, 1, -1]])], 1))
    with pytest.raises(ValueError, match="max_tokens"):
        pool_patches(feats, mask, entropy, max_tokens=0)


def test_pooling_shape_errors() -> None:
    with pytest.raises(InvalidShapeError):
        pool_patches(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), torch.zeros(2, 3))
    with pytest.raises(InvalidShapeError, match="real atom"):
        pool_patches(
            torch.zeros(1, 2, 4), torch.ones(1, 2, dtype=torch.bool), torch.tensor([[0, -1]])
        )


def test_pooling_batch_equals_single() -> None:
    torch.manual_seed(0)
    smi = [s for s, _ in TRICKY_SMILES]
    n = [Chem.MolFromSmiles(s).GetNumAtoms() for s in smi]
    ents = [np.random.default_rng(i).random(k).astype(np.float32) for i, k in enumerate(n)]
    ids = entropy_patches(ents)
    n_max = max(n)
    feats = torch.randn(len(n), n_max, 4)
    mask = torch.arange(n_max)[None] < torch.tensor(n)[:, None]
    pid = torch.full((len(n), n_max), -1, dtype=torch.long)
    for b, p in enumerate(ids):
        pid[b, : len(p)] = torch.from_numpy(p)
    out = pool_patches(feats, mask, pid)
    for b, k in enumerate(n):
        single = pool_patches(feats[b : b + 1, :k], mask[b : b + 1, :k], pid[b : b + 1, :k])
        p = int(single.token_mask.sum())
        torch.testing.assert_close(out.tokens[b, :p], single.tokens[0])
        assert int(out.token_mask[b].sum()) == p


def test_patch_molecules_same_atoms_same_values_for_every_writing() -> None:
    """Entropy and patches are computed on the canonical order and mapped back to the input
    atoms: the same atom gets the same entropy and the same patch mates in every writing."""
    from rdkit import Chem, rdBase

    from edtformer.patching import patch_molecules

    smiles = "CC(=O)N[C@@H](Cc1cccc(O)c1)C(=O)OCC"
    mol = Chem.MolFromSmiles(smiles)
    # no symmetry-equivalent atoms (those may swap values between writings, harmlessly)
    assert len(mol.GetSubstructMatches(mol, uniquify=False, useChirality=True)) == 1
    rdBase.SeedRandomNumberGenerator(0)
    writings = [smiles] + [Chem.MolToSmiles(mol, doRandom=True) for _ in range(6)]
    ents, results = patch_molecules(writings, "combine")
    ref = Chem.MolFromSmiles(smiles)

    def by_ref_atom(w: str, values: np.ndarray) -> dict[int, float]:
        match = Chem.MolFromSmiles(w).GetSubstructMatch(ref)  # ref atom j -> atom match[j] of w
        return {j: float(values[match[j]]) for j in range(ref.GetNumAtoms())}

    def groups(w: str, ids: np.ndarray) -> set[frozenset[int]]:
        match = Chem.MolFromSmiles(w).GetSubstructMatch(ref)
        inv = {a: j for j, a in enumerate(match)}
        return {frozenset(inv[a] for a in np.flatnonzero(ids == k)) for k in np.unique(ids)}

    base_e = by_ref_atom(writings[0], ents[0])
    base_p = groups(writings[0], results[0].patch_ids)
    for w, e, r in zip(writings[1:], ents[1:], results[1:], strict=True):
        got = by_ref_atom(w, e)
        assert all(abs(got[j] - base_e[j]) < 1e-5 for j in base_e), w
        assert groups(w, r.patch_ids) == base_p, w
        assert list(np.unique(r.patch_ids)) == list(range(r.n_patches))  # numbered 0..P-1


def test_model_path_membership_is_checked_too() -> None:
    """The bridge pools through patch_membership: it refuses a real atom without a patch."""
    import pytest

    from edtformer.errors import InvalidShapeError
    from edtformer.pooling import patch_membership

    mask = torch.tensor([[True, True, True]])
    with pytest.raises(InvalidShapeError, match="every real atom"):
        patch_membership(torch.tensor([[0, -1, 1]]), mask)
    with pytest.raises(ValueError, match="max_tokens"):
        patch_membership(torch.tensor([[0, 0, 1]]), mask, max_tokens=0)
    assert patch_membership(torch.tensor([[0, 0, 1]]), mask).n_tokens.tolist() == [2]

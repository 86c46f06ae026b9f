"""Entropy-guided patching: per-atom entropies -> patch ids -> mean-pooled dynamic tokens.

Typical use::

    from edtformer.entropy import load_default_scorer
    from edtformer.patching import compute_patches, pool_patches

    entropies = load_default_scorer().score(records)             # list of float32 [n_atoms]
    patches = compute_patches(records, entropies, rule="combine")
    patches[0].patch_ids, patches[0].brics_ids                   # int64 [n_atoms] each
"""

from edtformer.patching.api import (
    ENTROPY_RULES,
    RULES,
    PatchResult,
    brics_ids,
    compute_patches,
    entropy_patches,
    get_rule,
    pad_entropies,
    patch_molecules,
    relabel_by_first_atom,
)
from edtformer.patching.rules import (
    ids_from_boundaries,
    monotonic_rule,
    quantile_rule,
    threshold_rule,
)
from edtformer.pooling import PooledPatches, pool_patches

__all__ = [
    "ENTROPY_RULES",
    "RULES",
    "PatchResult",
    "PooledPatches",
    "brics_ids",
    "compute_patches",
    "entropy_patches",
    "get_rule",
    "ids_from_boundaries",
    "monotonic_rule",
    "pad_entropies",
    "patch_molecules",
    "pool_patches",
    "quantile_rule",
    "relabel_by_first_atom",
    "threshold_rule",
]

"""Next-Atom Predictor: per-atom entropy (bits) of the next atom, from RDKit-derived atom tokens.

Typical use::

    from edtformer.chem import parse_smiles
    from edtformer.entropy import load_default_scorer

    scorer = load_default_scorer()  # loaded once per process
    [h] = scorer.score([parse_smiles("CC(=O)Oc1ccccc1C(=O)O")])  # float32 [n_atoms], bits
"""

from edtformer.entropy.checkpoint import EntropyCheckpoint, load_entropy_model, save_entropy_model
from edtformer.entropy.model import NextAtomConfig, NextAtomPredictor, entropy_bits
from edtformer.entropy.scorer import (
    EntropyScorer,
    default_model_dir,
    load_default_scorer,
    load_scorer,
)
from edtformer.entropy.tokens import AtomVocab, EncodedMol, atom_contexts, atom_tokens, encode_mol

__all__ = [
    "AtomVocab",
    "EncodedMol",
    "EntropyCheckpoint",
    "EntropyScorer",
    "NextAtomConfig",
    "NextAtomPredictor",
    "atom_contexts",
    "atom_tokens",
    "default_model_dir",
    "encode_mol",
    "entropy_bits",
    "load_default_scorer",
    "load_entropy_model",
    "load_scorer",
    "save_entropy_model",
]

"""Atom tokens for the Next-Atom Predictor, derived from RDKit atoms (never from the SMILES text).

Atom ``i`` of a token sequence is atom ``i`` of the RDKit molecule, so entropies line up with
graph nodes by construction (the public code's regex tokeniser misaligns on ``K``, ``As``,
``Cs``, ``Sc``, ``Ti``, isotopes and explicit ``[H]``).

Each atom gives two integers:

- a **token** — RDKit's own SMILES rendering of the atom (``Atom.GetSmarts()`` on a
  SMILES-parsed molecule), which is aromaticity-, charge-, isotope- and chirality-aware:
  ``C``, ``c``, ``[nH]``, ``[C@@H]``, ``[N+]``, ``[O-]``, ``[2H]``, ``[K+]``, ``*``. Atom-map
  numbers are dropped. Tokens absent from the vocabulary become ``<unk>`` (counted, never
  remapped silently to another atom);
- a **context id** — what is known about the atom *itself* when it is read: the bond to the
  previous atom (none = branch jump / new fragment, single, double, triple, aromatic, other),
  its heavy degree (0–5+) and ring membership. These are input-only features; the model only
  ever predicts tokens.

The RDKit calls behind both (the atoms' renderings, the bond-order matrix) are
:mod:`edtformer.chem.atoms`'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from edtformer.chem import Mol
from edtformer.chem.atoms import atom_smarts, bond_order_matrix, plain_atom_smarts

PAD: Final[str] = "<pad>"
BOS: Final[str] = "<bos>"
EOS: Final[str] = "<eos>"
UNK: Final[str] = "<unk>"
SPECIALS: Final[tuple[str, ...]] = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3

#: Context id 0 is reserved for ``<bos>`` and padding.
N_PREV_BOND: Final[int] = 6  # none, single, double, triple, aromatic, other
N_DEGREE: Final[int] = 6  # 0..5+
N_CONTEXT: Final[int] = 1 + N_PREV_BOND * N_DEGREE * 2


def atom_tokens(mol: Mol) -> list[str]:
    """Token strings for every atom of ``mol``, in atom index order (``len == mol.GetNumAtoms()``):
    RDKit's renderings without atom-map numbers (:func:`edtformer.chem.atoms.atom_smarts`)."""
    return atom_smarts(mol)


#: Previous-bond code by ``2 * bond order`` (0 none, 1 single, 2 double, 3 triple, 4 aromatic, 5 other).
_PREV_BOND_LUT = np.array([0, 5, 1, 4, 2, 5, 3, 5], dtype=np.int64)


def atom_contexts(mol: Mol) -> np.ndarray:
    """Context id per atom, ``int64 [n_atoms]`` in ``1 .. N_CONTEXT - 1`` (see module docstring)."""
    n = mol.GetNumAtoms()
    adj = bond_order_matrix(mol)  # [n, n] bond orders (1.5 = aromatic)
    ctx = np.minimum(np.count_nonzero(adj, axis=1), N_DEGREE - 1) * 2 + 1  # degree part
    rings = mol.GetRingInfo().AtomRings()
    if rings:
        ctx[np.fromiter((i for ring in rings for i in ring), dtype=np.int64)] += 1
    if n > 1:
        code = np.clip((2.0 * np.diagonal(adj, offset=-1)).astype(np.int64), 0, 7)
        ctx[1:] += _PREV_BOND_LUT[code] * (N_DEGREE * 2)
    return ctx


@dataclass
class AtomVocab:
    """Token string <-> id map. Ids ``0..3`` are ``<pad> <bos> <eos> <unk>``; atoms follow."""

    tokens: list[str] = field(default_factory=lambda: list(SPECIALS))

    def __post_init__(self) -> None:
        if tuple(self.tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"vocabulary must start with {SPECIALS}, got {self.tokens[:4]}")
        self._index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        """Id of ``token`` (``UNK_ID`` if absent)."""
        return self._index.get(token, UNK_ID)

    def encode_tokens(self, tokens: Sequence[str]) -> np.ndarray:
        """Ids of ``tokens``, ``int64 [len(tokens)]``; unknown tokens map to ``UNK_ID``."""
        get = self._index.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int64, count=len(tokens))

    @classmethod
    def build(
        cls, token_lists: Iterable[Sequence[str]], min_count: int = 5, max_size: int = 512
    ) -> AtomVocab:
        """Vocabulary of the tokens seen at least ``min_count`` times (most frequent first)."""
        counts: Counter[str] = Counter()
        for toks in token_lists:
            counts.update(toks)
        kept = [t for t, c in counts.most_common() if c >= min_count and t not in SPECIALS]
        return cls(list(SPECIALS) + sorted(kept[: max_size - len(SPECIALS)]))


@dataclass(frozen=True)
class EncodedMol:
    """One molecule as model input.

    Attributes:
        ids: token id per atom, ``int64 [n_atoms]``.
        ctx: context id per atom, ``int64 [n_atoms]``.
        n_unknown: atoms outside the vocabulary even after back-off (scored as ``<unk>``).
        n_backoff: atoms whose exact token is absent but a reduced form is present (see
            :func:`encode_mol`).
    """

    ids: np.ndarray
    ctx: np.ndarray
    n_unknown: int = 0
    n_backoff: int = 0


def encode_mol(mol: Mol, vocab: AtomVocab) -> EncodedMol:
    """Token and context ids for every atom of ``mol`` (atom index order).

    A token absent from the vocabulary backs off, in this order, to RDKit's rendering of the same
    atom without chirality and isotope (``[C@@H]`` -> ``C``, ``[2H]`` -> ``[H]``), then also
    without charge and explicit hydrogens (``[N+]`` -> ``N``), and finally to ``<unk>``. Both
    counts are returned (and logged by the scorer): a model trained on a corpus without stereo
    or charges (MOSES) still sees the element, and nothing is remapped silently.
    """
    ids = vocab.encode_tokens(atom_tokens(mol))
    unknown = np.flatnonzero(ids == UNK_ID)
    n_backoff = 0
    for drop_charge in (False, True):
        if not len(unknown):
            break
        reduced = vocab.encode_tokens(plain_atom_smarts(mol, unknown.tolist(), drop_charge))
        found = reduced != UNK_ID
        ids[unknown[found]] = reduced[found]
        n_backoff += int(found.sum())
        unknown = unknown[~found]
    return EncodedMol(ids=ids, ctx=atom_contexts(mol), n_unknown=len(unknown), n_backoff=n_backoff)

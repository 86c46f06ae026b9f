"""Scaffold splits shared by every task, so that no test scaffold is ever trained on.

**Scaffold key.** The Bemis–Murcko scaffold (RDKit ``MurckoScaffold``, *not* generic: atom and
bond types are kept, as in chemprop) of the molecule with its stereochemistry removed, so that
all stereoisomers of a molecule share one key (and one split). Acyclic molecules have an empty
scaffold; instead of lumping them all into one giant group they are keyed by their own
stereo-free canonical SMILES (``"acyclic:CCO"``), i.e. each acyclic constitution is its own group.

**Assignment.** :func:`scaffold_split` groups the *union* of the molecules of every source by
key and assigns whole groups to ``train``/``valid``/``test`` like chemprop's balanced scaffold
split: groups larger than half the test size go to train first; the others, in a seeded order,
fill train, then valid, then test. The result is a :class:`SplitTable` (key -> split) written next
to the data (``scaffolds.tsv``), so a given scaffold is in exactly one split across every task.
Molecules the table has never seen (e.g. user data) fall back to a seeded hash of the key.

**Records with several molecules** (reactions, stereoisomer pairs) go to the most held-out split
of any of their molecules (test > valid > train): a training file never holds a molecule whose
scaffold is held out.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rdkit import Chem
from rdkit.Chem.Scaffolds import MurckoScaffold

from edtformer.chem import rdkit_mol
from edtformer.errors import DataError, InvalidSmilesError

#: Split names in order of how strictly they are held out (later = more held out).
SPLITS: tuple[str, ...] = ("train", "valid", "test")
_RANK = {name: i for i, name in enumerate(SPLITS)}


def scaffold_key(mol_or_smiles: Chem.Mol | str) -> str:
    """The split key of a molecule: its stereo-free Murcko scaffold, or ``"acyclic:<smiles>"``.

    Raises:
        InvalidSmilesError: a SMILES string RDKit cannot parse.
    """
    if isinstance(mol_or_smiles, str):
        mol = rdkit_mol(mol_or_smiles)
        if mol is None:
            raise InvalidSmilesError(mol_or_smiles)
    else:
        mol = Chem.Mol(mol_or_smiles)
    Chem.RemoveStereochemistry(mol)
    core = MurckoScaffold.GetScaffoldForMol(mol)
    key = Chem.MolToSmiles(core) if core is not None and core.GetNumAtoms() else ""
    if not key:
        return "acyclic:" + Chem.MolToSmiles(mol)
    return key


def _stable_hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def hash_split(
    key: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> str:
    """Deterministic split of one key from a seeded hash (for keys outside a :class:`SplitTable`)."""
    u = (_stable_hash(f"{seed}:{key}") % 1_000_000) / 1_000_000
    if u < fractions[0]:
        return "train"
    if u < fractions[0] + fractions[1]:
        return "valid"
    return "test"


@dataclass
class SplitTable:
    """Scaffold key -> split, plus how it was made.

    Attributes:
        assignment: ``{scaffold key: "train" | "valid" | "test"}``.
        fractions: target molecule fractions (train, valid, test).
        seed: the seed of the group order (and of the hash fallback).
        group_sizes: number of unique molecules per key (for statistics).
    """

    assignment: dict[str, str]
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    group_sizes: dict[str, int] = field(default_factory=dict)

    def split_of_key(self, key: str) -> str:
        """Split of a scaffold key; unseen keys use :func:`hash_split`."""
        got = self.assignment.get(key)
        return got if got is not None else hash_split(key, self.fractions, self.seed)

    def split_of(self, smiles: str) -> str:
        """Split of one molecule."""
        return self.split_of_key(scaffold_key(smiles))

    def split_of_record(self, smiles: Iterable[str]) -> str:
        """Most held-out split among several molecules (test > valid > train)."""
        ranks = [_RANK[self.split_of(s)] for s in smiles]
        if not ranks:
            raise DataError("a record needs at least one molecule to be assigned a split")
        return SPLITS[max(ranks)]

    def stats(self) -> dict[str, dict[str, int]]:
        """Number of scaffold groups and molecules per split."""
        out = {s: {"scaffolds": 0, "molecules": 0} for s in SPLITS}
        for key, split in self.assignment.items():
            out[split]["scaffolds"] += 1
            out[split]["molecules"] += self.group_sizes.get(key, 0)
        return out

    def to_tsv(self) -> str:
        """``key<TAB>split<TAB>n_molecules`` lines, sorted by key, with a header."""
        lines = ["scaffold\tsplit\tn_molecules"]
        for key in sorted(self.assignment):
            lines.append(f"{key}\t{self.assignment[key]}\t{self.group_sizes.get(key, 0)}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_tsv(
        cls, text: str, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
    ) -> SplitTable:
        """Parse :meth:`to_tsv` output."""
        assignment: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for n, line in enumerate(text.splitlines()[1:], start=2):
            parts = line.split("\t")
            if len(parts) != 3 or parts[1] not in _RANK:
                raise DataError(
                    f"scaffolds.tsv line {n}: expected 'key<TAB>split<TAB>count', got {line!r}"
                )
            assignment[parts[0]] = parts[1]
            sizes[parts[0]] = int(parts[2])
        return cls(assignment, fractions, seed, sizes)


def scaffold_split(
    keys_by_molecule: Mapping[str, str],
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> SplitTable:
    """Assign whole scaffold groups to splits (chemprop-style balanced scaffold split).

    Args:
        keys_by_molecule: ``{unique molecule id (e.g. canonical SMILES): scaffold key}`` over the
            union of every source.
        fractions: target fractions of molecules in train, valid, test (must sum to 1).
        seed: seed of the order in which small groups are placed.

    Raises:
        DataError: fractions that are negative or do not sum to 1.
    """
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise DataError(
            f"split fractions must be 3 non-negative numbers summing to 1, got {fractions}"
        )
    sizes: dict[str, int] = {}
    for key in keys_by_molecule.values():
        sizes[key] = sizes.get(key, 0) + 1
    n = sum(sizes.values())
    train_cap, valid_cap = fractions[0] * n, fractions[1] * n
    test_size = fractions[2] * n
    keys = sorted(sizes)
    big = sorted((k for k in keys if sizes[k] > test_size / 2), key=lambda k: (-sizes[k], k))
    small = [k for k in keys if sizes[k] <= test_size / 2]
    random.Random(seed).shuffle(small)
    assignment: dict[str, str] = {}
    counts = {"train": 0, "valid": 0}
    for key in big + small:
        size = sizes[key]
        if counts["train"] + size <= train_cap:
            split = "train"
        elif counts["valid"] + size <= valid_cap:
            split = "valid"
        else:
            split = "test"
        if split in counts:
            counts[split] += size
        assignment[key] = split
    return SplitTable(assignment, tuple(fractions), seed, sizes)  # type: ignore[arg-type]

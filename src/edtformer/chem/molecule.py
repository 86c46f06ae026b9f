"""SMILES -> :class:`MolRecord`: atoms in RDKit index order (= SMILES order) with their features.

Atom ``i`` of a record is atom ``i`` of ``Chem.MolFromSmiles(smiles)``. Every later stage
(entropy sequence, patch ids, node features) has exactly ``record.n_atoms`` rows in that order,
so alignment between the entropy model and the graph encoder holds by construction.

The packages above ``chem/`` parse, write, copy and canonicalise molecules through the
functions here (:func:`rdkit_mol`, :func:`mol_from_smiles`, :func:`mol_to_smiles`,
:func:`copy_mol`, :func:`canonical_atom_order`, :func:`smarts_query`, ...) and annotate with
:data:`Mol`, rather than importing RDKit themselves (import-linter contracts in
``pyproject.toml``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rdkit import Chem, rdBase

from edtformer.chem.features import atom_features, bond_features
from edtformer.chem.problems import charge_problem, diagnose, rdkit_log
from edtformer.errors import InvalidSmilesError, UnsupportedMoleculeError, require

if TYPE_CHECKING:
    from torch_geometric.data import Data

#: The RDKit molecule type (``rdkit.Chem.Mol``), for annotations and ``isinstance`` checks.
Mol = Chem.Mol

#: Default cap on heavy atoms. Larger molecules raise :class:`UnsupportedMoleculeError`.
DEFAULT_MAX_ATOMS = 512
#: Longest SMILES string read (checked before RDKit sees it).
MAX_SMILES_LENGTH = 4096
#: One atom of a SMILES string: a bracket atom, a two-letter organic-subset atom, or one letter.
_ATOM_TOKEN = re.compile(r"\[[^\]]*\]|Cl|Br|[BCNOPSFI]|[bcnops]|\*")
_CXSMILES = re.compile(r"^\S+\s+\|.*\|\s*$", re.DOTALL)


def check_smiles_text(smiles: object, max_atoms: int | None = DEFAULT_MAX_ATOMS) -> str:
    """The strict front end's text checks, done before RDKit parses anything.

    RDKit reads everything after a space or tab as the molecule's name and silently drops some
    characters, so ``"C C"``, ``"C\\tO"`` or ``"Cé"`` would become methane. Here they are refused.

    Returns:
        ``smiles`` without leading/trailing whitespace (a line ending from a file is fine).

    Raises:
        InvalidSmilesError: not a string, empty, inner whitespace (a name or a CXSMILES
            extension: give the SMILES alone), control or non-ASCII characters, longer than
            :data:`MAX_SMILES_LENGTH`.
        UnsupportedMoleculeError: more atoms than ``max_atoms`` (counted on the text, so a huge
            input is refused in microseconds).
    """
    if not isinstance(smiles, str):
        raise InvalidSmilesError(smiles, f"expected a string, got {type(smiles).__name__}")  # type: ignore[arg-type]
    text = smiles.strip()
    if not text:
        raise InvalidSmilesError(smiles, "empty input")
    if len(text) > MAX_SMILES_LENGTH:
        raise InvalidSmilesError(
            smiles, f"{len(text):,} characters, more than the limit of {MAX_SMILES_LENGTH:,}"
        )
    for pos, ch in enumerate(text):
        if ch.isspace():
            if _CXSMILES.match(text):
                raise InvalidSmilesError(
                    smiles,
                    "CXSMILES extensions (' |...|') are not supported: give the SMILES alone",
                )
            raise InvalidSmilesError(
                smiles,
                f"whitespace at position {pos} (a name must go in its own column, not after the SMILES)",
            )
        if not (" " < ch < "\x7f"):
            what = "control" if ord(ch) < 32 or ord(ch) == 127 else "non-ASCII"
            raise InvalidSmilesError(
                smiles, f"{what} character {ch!r} (U+{ord(ch):04X}) at position {pos}"
            )
    if max_atoms is not None:
        n = len(_ATOM_TOKEN.findall(text))
        if n > max_atoms:
            raise UnsupportedMoleculeError(
                smiles, f"about {n} atoms, more than the limit of {max_atoms}"
            )
    return text


def check_charges(mol: Chem.Mol, smiles: str) -> None:
    """Refuse implausible formal charges (``[N+5]``, ``[C+15]``) that RDKit accepts
    (:func:`edtformer.chem.problems.charge_problem`)."""
    problem = charge_problem(mol)
    if problem is not None:
        raise InvalidSmilesError(smiles, problem.message, kind=problem.kind)


@dataclass(frozen=True)
class MolRecord:
    """One parsed molecule.

    Attributes:
        smiles: the SMILES string as given by the user.
        mol: the RDKit molecule (default parse: implicit hydrogens stay implicit).
        x: atom features, ``int64 [n_atoms, len(ATOM_FEATURE_NAMES)]``.
        edge_index: directed edges, ``int64 [2, 2 * n_bonds]``; each bond appears in both
            directions, ``(u, v)`` at column ``2k`` and ``(v, u)`` at ``2k + 1``.
        edge_attr: bond features per directed edge, ``int64 [2 * n_bonds, len(BOND_FEATURE_NAMES)]``.
    """

    smiles: str
    mol: Chem.Mol
    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray

    @property
    def n_atoms(self) -> int:
        """Number of atoms RDKit keeps (heavy atoms + explicit isotopic/molecular H + dummies)."""
        return int(self.x.shape[0])

    @property
    def n_bonds(self) -> int:
        """Number of (undirected) bonds."""
        return int(self.edge_index.shape[1] // 2)

    @property
    def symbols(self) -> list[str]:
        """Element symbols in atom index order (``*`` for dummy atoms)."""
        return [a.GetSymbol() for a in self.mol.GetAtoms()]

    @property
    def canonical_smiles(self) -> str:
        """RDKit canonical isomeric SMILES (stereo kept) — the key for caches and splits."""
        return Chem.MolToSmiles(self.mol)

    def to_pyg(self) -> Data:
        """Convert to a PyTorch Geometric ``Data`` with ``x``, ``edge_index``, ``edge_attr``, ``smiles``.

        Needs the optional ``torch-geometric`` (``pip install 'edtformer[pyg]'``).
        """
        import torch  # heavy: keeps 'import edtformer' (and so 'edt --help') free of torch

        Data = require("torch_geometric.data", "pyg", package="torch-geometric").Data  # type: ignore[attr-defined]

        return Data(
            x=torch.from_numpy(self.x),
            edge_index=torch.from_numpy(self.edge_index),
            edge_attr=torch.from_numpy(self.edge_attr),
            smiles=self.smiles,
            num_nodes=self.n_atoms,
        )


def rdkit_mol(smiles: str) -> Chem.Mol | None:
    """RDKit's plain parse of ``smiles`` with its log kept quiet, or ``None`` where RDKit cannot
    read it (or reads no atom).

    For bulk data -- dataset building, corpora, generated answers, metric inputs -- where an
    unreadable string is a skipped row, not a user's error; user input goes through
    :func:`mol_from_smiles` (the strict front end, RDKit's reason in the error). No size limit and
    no text checks here, so datasets keep exactly the molecules RDKit reads.
    """
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    return mol if mol is not None and mol.GetNumAtoms() > 0 else None


def smarts_query(smarts: str) -> Chem.Mol:
    """RDKit's query molecule of a SMARTS pattern (for ``mol.HasSubstructMatch`` /
    ``GetSubstructMatches``).

    Raises:
        ValueError: RDKit cannot read the pattern.
    """
    query = Chem.MolFromSmarts(smarts)
    if query is None:
        raise ValueError(f"invalid SMARTS pattern {smarts!r}")
    return query


def mol_to_smiles(mol: Chem.Mol, isomeric: bool = True) -> str:
    """RDKit's canonical SMILES of ``mol`` (stereo kept unless ``isomeric`` is False)."""
    return str(Chem.MolToSmiles(mol, isomericSmiles=isomeric))


def copy_mol(mol: Chem.Mol) -> Chem.Mol:
    """A copy of ``mol`` to change (properties, atom flags) without touching the original."""
    return Chem.Mol(mol)


def remove_hs(mol: Chem.Mol) -> Chem.Mol:
    """``mol`` without the hydrogens RDKit's ``RemoveHs`` removes (a new molecule)."""
    return Chem.RemoveHs(mol)


def canonical_atom_order(mol: Chem.Mol) -> tuple[str, list[int]]:
    """``(canonical SMILES, order)`` of ``mol``: ``order[k]`` is the index in ``mol`` of the
    canonical SMILES's atom ``k`` (RDKit's ``_smilesAtomOutputOrder``)."""
    smiles = Chem.MolToSmiles(mol)
    order = [int(i) for i in mol.GetProp("_smilesAtomOutputOrder").strip("[],").split(",") if i]
    return smiles, order


def mol_from_smiles(smiles: str, max_atoms: int | None = DEFAULT_MAX_ATOMS) -> Chem.Mol:
    """RDKit's default parse of ``smiles`` behind the strict front end (:func:`check_smiles_text`,
    :func:`check_charges`): the molecule RDKit reads from the *whole* string, or an
    :class:`InvalidSmilesError` / :class:`UnsupportedMoleculeError` naming the reason.

    RDKit's own log is kept off stderr; its reason (and the position, where it names one) is
    carried in the exception (:func:`edtformer.chem.problems.diagnose`): ``invalid SMILES 'CC)C':
    RDKit: extra close parentheses at position 3 (')')``.
    """
    text = check_smiles_text(smiles, max_atoms)
    with rdkit_log() as log:
        mol = Chem.MolFromSmiles(text)
    if mol is None:
        problem = diagnose(text, log.lines)
        raise InvalidSmilesError(
            smiles, problem.message, kind=problem.kind, position=problem.position
        )
    if mol.GetNumAtoms() == 0:
        raise InvalidSmilesError(smiles, "no atoms", kind="empty")
    check_charges(mol, smiles)
    return mol


def record_from_mol(
    mol: Chem.Mol, smiles: str | None = None, max_atoms: int | None = DEFAULT_MAX_ATOMS
) -> MolRecord:
    """Featurise an RDKit molecule (atoms in its own index order)."""
    smiles = smiles if smiles is not None else Chem.MolToSmiles(mol)
    n = mol.GetNumAtoms()
    if n == 0:
        raise InvalidSmilesError(smiles, "no atoms")
    if max_atoms is not None and n > max_atoms:
        raise UnsupportedMoleculeError(smiles, f"{n} atoms, more than the limit of {max_atoms}")
    x = np.asarray([atom_features(a) for a in mol.GetAtoms()], dtype=np.int64)
    src: list[int] = []
    dst: list[int] = []
    feats: list[list[int]] = []
    for bond in mol.GetBonds():
        u, v = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        f = bond_features(bond)
        src += [u, v]
        dst += [v, u]
        feats += [f, f]
    edge_index = np.asarray([src, dst], dtype=np.int64).reshape(2, -1)
    edge_attr = np.asarray(feats, dtype=np.int64).reshape(-1, 4)
    return MolRecord(smiles=smiles, mol=mol, x=x, edge_index=edge_index, edge_attr=edge_attr)


def parse_smiles(smiles: str, max_atoms: int | None = DEFAULT_MAX_ATOMS) -> MolRecord:
    """Parse one SMILES into a :class:`MolRecord`.

    Args:
        smiles: the input SMILES (leading/trailing whitespace ignored).
        max_atoms: reject molecules with more atoms than this (``None``: no limit).

    Raises:
        InvalidSmilesError: empty or unparseable input (the message quotes it).
        UnsupportedMoleculeError: more than ``max_atoms`` atoms.
    """
    mol = mol_from_smiles(smiles, max_atoms=max_atoms)
    return record_from_mol(mol, smiles=smiles.strip(), max_atoms=max_atoms)


def parse_many(
    smiles: Iterable[str], max_atoms: int | None = DEFAULT_MAX_ATOMS
) -> Iterator[MolRecord | Exception]:
    """Parse many SMILES, yielding a record or the error for each, in input order (never stops early)."""
    for s in smiles:
        try:
            yield parse_smiles(s, max_atoms=max_atoms)
        except (InvalidSmilesError, UnsupportedMoleculeError) as exc:
            yield exc


def canonical_ranks(record: MolRecord) -> list[int]:
    """Canonical rank of each input atom (a permutation of ``range(n_atoms)``; RDKit's
    ``CanonicalRankAtoms`` with ties broken)."""
    return [int(r) for r in Chem.CanonicalRankAtoms(record.mol, breakTies=True)]


def canonical_order(record: MolRecord) -> tuple[MolRecord, np.ndarray]:
    """The same molecule with its atoms renumbered in RDKit's canonical SMILES writing order.

    Every writing of one molecule gives the same result, so whatever is computed on it (encoder
    rows, entropy along the SMILES, patches, stereo codes, molecule tokens) does not depend on
    how the user wrote the SMILES.

    Returns:
        ``(record, order)``: the canonical record (``smiles`` = its canonical SMILES, atoms in
        that string's order) and int64 ``order [n_atoms]`` with ``order[i]`` = the input atom
        index of canonical atom ``i`` (so ``values_in_input_order[order] = canonical_values``).
    """
    smiles, order = canonical_atom_order(record.mol)
    if sorted(order) != list(range(record.n_atoms)):  # internal invariant of RDKit's writer
        raise InvalidSmilesError(record.smiles, "RDKit's canonical atom order is incomplete")
    # re-read (not RenumberAtoms): chirality tags are relative to bond order, which only a
    # fresh parse of the canonical string makes writing-independent
    params = Chem.SmilesParserParams()
    params.removeHs = False  # type: ignore[assignment]  # keep exactly the atoms written (isotopic / molecular H)
    mol = Chem.MolFromSmiles(smiles, params)
    if mol is None or mol.GetNumAtoms() != record.n_atoms:
        raise InvalidSmilesError(record.smiles, "RDKit cannot read back its canonical SMILES")
    return record_from_mol(mol, smiles=smiles, max_atoms=None), np.asarray(order, dtype=np.int64)


def canonical_smiles(smiles: str | None, isomeric: bool = True) -> str | None:
    """RDKit canonical SMILES of ``smiles`` read through the strict front end, or ``None`` when
    it is empty, invalid or refused (the one canonical-SMILES function of the package)."""
    if smiles is None:
        return None
    try:
        mol = mol_from_smiles(smiles)
    except (InvalidSmilesError, UnsupportedMoleculeError):
        return None
    return str(Chem.MolToSmiles(mol, isomericSmiles=isomeric))

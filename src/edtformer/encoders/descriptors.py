"""``rdkit``: a non-learned descriptor stream — RDKit's per-atom facts and their molecule totals.

Each atom row has two halves:

- *local* descriptors of the atom (:data:`LOCAL_NAMES`): element, degree, hydrogens, charge,
  hybridisation, aromaticity, ring membership (``1 / ring size`` summed over the SSSR rings that
  hold the atom, so the molecule's sum is its ring count), Lipinski donor / acceptor flags (the
  atoms that ``CalcNumHBD`` / ``CalcNumHBA`` count), stereo (specified centre, CIP R / S,
  unspecified centre, half an E / Z bond per end) and membership of each functional group of
  :data:`~edtformer.facts.dataset.FUNCTIONAL_GROUPS`;
- a *virtual node* (the global readout GNNs add, e.g. OGB's virtual node): the sums of the local
  columns over the molecule, written as ``log1p`` values and, for the counts questions ask about,
  as one-hot tens and units digits (so "12" is two classes, as the LLM writes it).

Fusing it with a learned encoder (``--encoder minimol,rdkit``) gives the bridge exact
chemistry next to MiniMol's learned context: what the bridge must still learn is to route the
asked-for fact into the frozen LLM's answer. It is deterministic, so its cache entries never go
stale, and it needs no optional package.

Shapes: ``B`` records -> :class:`~edtformer.encoders.base.NodeFeatures` ``h [B, N_max, WIDTH]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import torch

from edtformer.chem import Mol, MolRecord, copy_mol, smarts_query
from edtformer.encoders.base import GraphEncoder
from edtformer.encoders.registry import encoder_info
from edtformer.facts.dataset import FUNCTIONAL_GROUPS, ez_bonds, stereocentres

_ELEMENTS = ("C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si", "Se")
_HYBRID = ("SP", "SP2", "SP3")
_RING_SIZES = (3, 4, 5, 6, 7, 8)

#: Donor / acceptor SMARTS whose match counts equal RDKit's ``CalcNumHBD`` / ``CalcNumHBA``
#: (checked on 4,000 molecules of our data; a test keeps them in step).
HBD_SMARTS = "[N&!H0&v3,N&!H0&+1&v4,O&H1&+0,S&H1&+0,n&H1&+0]"
HBA_SMARTS = (
    "[$([O,S;H1;v2]-[!$(*=[O,N,P,S])]),$([O,S;H0;v2]),$([O,S;-]),"
    "$([N;v3;!$(N-*=!@[O,N,P,S])]),$([n;H0;+0;X2]),$([o,s;+0])]"
)

LOCAL_NAMES: tuple[str, ...] = (
    *(f"element={e}" for e in _ELEMENTS),
    "element=other",
    *(f"degree={d}" for d in range(5)),
    "degree>=5",
    *(f"hydrogens={h}" for h in range(4)),
    "hydrogens>=4",
    "charge<0",
    "charge=0",
    "charge>0",
    *(f"hybrid={h}" for h in _HYBRID),
    "hybrid=other",
    "aromatic",
    "in_ring",
    "ring_share",
    "aromatic_ring_share",
    "aliphatic_ring_share",
    *(f"ring_size={s}" for s in _RING_SIZES),
    "hbd",
    "hba",
    "stereocentre",
    "cip=R",
    "cip=S",
    "unspecified_centre",
    "ez_bond=E",
    "ez_bond=Z",
    *(f"group={g}" for g in FUNCTIONAL_GROUPS),
    "atom",
)
#: Totals written as digits (tens, units): the counts the question kinds ask for.
DIGIT_TOTALS: tuple[str, ...] = (
    "atom",
    "ring_share",
    "aromatic_ring_share",
    "aliphatic_ring_share",
    "hbd",
    "hba",
    "stereocentre",
    "ez_bond=E",
    "ez_bond=Z",
)
N_LOCAL = len(LOCAL_NAMES)
WIDTH = 2 * N_LOCAL + 20 * len(DIGIT_TOTALS)


@lru_cache(maxsize=1)
def _patterns() -> tuple[Mol, Mol, list[Mol]]:
    groups = [smarts_query(s) for s in FUNCTIONAL_GROUPS.values()]
    return smarts_query(HBD_SMARTS), smarts_query(HBA_SMARTS), groups


def _onehot(value: int, n: int) -> list[float]:
    out = [0.0] * n
    out[min(max(value, 0), n - 1)] = 1.0
    return out


def local_descriptors(mol: Mol) -> torch.Tensor:
    """Local columns of every atom, float32 ``[n_atoms, N_LOCAL]`` in RDKit atom order."""
    n = mol.GetNumAtoms()
    x = torch.zeros(n, N_LOCAL)
    col = {name: i for i, name in enumerate(LOCAL_NAMES)}
    ring_info = mol.GetRingInfo()
    hbd, hba, groups = _patterns()
    for atom in mol.GetAtoms():
        i = atom.GetIdx()
        sym = atom.GetSymbol()
        x[i, col[f"element={sym}"] if sym in _ELEMENTS else col["element=other"]] = 1
        deg = atom.GetDegree()
        x[i, col[f"degree={deg}"] if deg < 5 else col["degree>=5"]] = 1
        hs = atom.GetTotalNumHs()
        x[i, col[f"hydrogens={hs}"] if hs < 4 else col["hydrogens>=4"]] = 1
        q = atom.GetFormalCharge()
        x[i, col["charge<0" if q < 0 else "charge>0" if q > 0 else "charge=0"]] = 1
        hyb = str(atom.GetHybridization())
        x[i, col[f"hybrid={hyb}"] if hyb in _HYBRID else col["hybrid=other"]] = 1
        x[i, col["aromatic"]] = float(atom.GetIsAromatic())
        x[i, col["in_ring"]] = float(atom.IsInRing())
        x[i, col["atom"]] = float(atom.GetAtomicNum() > 1)  # heavy atoms only
    for ring in ring_info.AtomRings():
        share = 1.0 / len(ring)
        aromatic = all(mol.GetAtomWithIdx(a).GetIsAromatic() for a in ring)
        for a in ring:
            x[a, col["ring_share"]] += share
            x[a, col["aromatic_ring_share" if aromatic else "aliphatic_ring_share"]] += share
            if len(ring) in _RING_SIZES:
                x[a, col[f"ring_size={len(ring)}"]] = 1
    for pattern, name in ((hbd, "hbd"), (hba, "hba")):
        for (a,) in mol.GetSubstructMatches(pattern, uniquify=True):
            x[a, col[name]] = 1
    for g, pattern in zip(FUNCTIONAL_GROUPS, groups, strict=True):
        for match in mol.GetSubstructMatches(pattern):
            for a in match:
                x[a, col[f"group={g}"]] = 1
    work = copy_mol(mol)  # the CIP labeller writes properties
    for a, label in stereocentres(work):
        if label == "?":
            x[a, col["unspecified_centre"]] = 1
        else:
            x[a, col["stereocentre"]] = 1
            x[a, col[f"cip={label}"]] = 1
    for a, b, label in ez_bonds(work):
        if label in ("E", "Z"):
            x[a, col[f"ez_bond={label}"]] += 0.5
            x[b, col[f"ez_bond={label}"]] += 0.5
    return x


def molecule_rows(mol: Mol) -> torch.Tensor:
    """Local columns + the molecule's virtual node on every row, float32 ``[n_atoms, WIDTH]``."""
    local = local_descriptors(mol)
    totals = local.sum(0)  # [N_LOCAL]
    digits: list[float] = []
    for name in DIGIT_TOTALS:
        value = round(float(totals[LOCAL_NAMES.index(name)]))
        digits += _onehot(value // 10, 10) + _onehot(value % 10, 10)
    glob = torch.cat([torch.log1p(totals), torch.tensor(digits)])  # [N_LOCAL + 20 * T]
    return torch.cat([local, glob.expand(local.shape[0], -1)], dim=1)


class DescriptorEncoder(GraphEncoder):
    """The ``rdkit`` descriptor stream (no weights; frozen by construction)."""

    def __init__(self) -> None:
        super().__init__()
        self.info = encoder_info("rdkit")
        assert self.info.width == WIDTH, "registry width out of date"  # internal invariant

    def _encode_rows(self, records: Sequence[MolRecord]) -> list[torch.Tensor]:
        return [molecule_rows(r.mol) for r in records]


class AtomDescriptorEncoder(GraphEncoder):
    """The ``rdkit_atoms`` stream: :func:`local_descriptors` only, ``[n_atoms, N_LOCAL]``. No row
    carries a molecule total, so nothing downstream can decode RDKit's counts from one row
    (the exact counts are on the fact sheet instead)."""

    def __init__(self) -> None:
        super().__init__()
        self.info = encoder_info("rdkit_atoms")
        assert self.info.width == N_LOCAL, "registry width out of date"  # internal invariant

    def _encode_rows(self, records: Sequence[MolRecord]) -> list[torch.Tensor]:
        return [local_descriptors(r.mol) for r in records]


def digit_value(row: torch.Tensor, name: str) -> int:
    """The count ``name`` of :data:`DIGIT_TOTALS` read back from one row's digit one-hots."""
    start = 2 * N_LOCAL + 20 * DIGIT_TOTALS.index(name)
    tens = int(row[start : start + 10].argmax())
    units = int(row[start + 10 : start + 20].argmax())
    return 10 * tens + units

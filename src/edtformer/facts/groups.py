"""The exact functional-group and chemical-class vocabulary: what RDKit says a molecule contains.

Every entry of :data:`GROUP_RULES` is a name a chemist uses ("carboxylic acid", "pyridine ring",
"steroid core", "hydroxyl") with one exact definition: an RDKit SMARTS pattern, or a small
function where no single pattern says it. The vocabulary feeds the exact fact sheet the LLM reads
(:func:`present_groups` is its ``groups:`` line) and the question generator asks about every entry
("Does it contain an ester?", "How many benzene rings?"), so each answer is a fact RDKit computed,
never a guess, and each definition is in its rule's ``doc`` for users to read.

Kinds:

- ``group``: functional groups; the count is the number of unique SMARTS matches (one per
  group: a diester has 2 esters); halogens ("fluorine" ...) count atoms.
- ``ring``: named rings and fused ring systems; the count is the number of such rings (a match
  counts only when every ring of the pattern is a ring of the molecule's ring set, so a 6-cycle
  around a bicycle is not a cyclohexane).
- ``class``: compound classes (alpha-amino acid, carbohydrate, nucleobase, steroid core,
  heteroaromatic ring); the count is the number of such units (residues, sugar rings, bases).
- ``umbrella``: broad terms answered from the same matches (any O-H on carbon is a "hydroxyl",
  any C=O a "carbonyl", any amine an "amine", any halogen atom a "halide").

Aromaticity is RDKit's: uracil, 2-pyridone and coumarin are aromatic, so their C=O carbons are
matched by element (``#6``) wherever a group allows an aromatic ring atom.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rdkit import Chem

#: Upper bound on matches per pattern (counts above it are reported as this number).
MAX_MATCHES = 1000

KINDS = ("group", "ring", "class", "umbrella")


@dataclass(frozen=True)
class GroupRule:
    """One entry of the vocabulary.

    Attributes:
        name: lower-case name as a chemist writes it, e.g. ``"carboxylic acid"``.
        kind: ``"group"``, ``"ring"``, ``"class"`` or ``"umbrella"``.
        smarts: RDKit SMARTS; ``None`` when :attr:`func` decides.
        func: the count for rules no single SMARTS gives (called on a prepared copy).
        aliases: other names chemists use (``"COOH"``, ``"carboxyl"``); :func:`rule` finds them.
        doc: one line, the definition used (shown to users).
    """

    name: str
    kind: str
    smarts: str | None
    func: Callable[[Chem.Mol], int] | None = None
    aliases: tuple[str, ...] = ()
    doc: str = ""


# --- shared SMARTS pieces ----------------------------------------------------------------------

#: An amine nitrogen is not bonded to C/S/P=O,S,N (amide, thioamide, amidine, sulfonamide ...),
#: to N or O (hydrazine, hydroxylamine) and carries no double bond itself.
_N_AMINE = "!$(N-[#6,#16,#15]=[#8,#16,#7]);!$(N-[#7,#8]);!$(N=*);!$(N#*)"
_PRIMARY = f"[$([NX3;H2;+0]),$([NX4;H3;+1]);{_N_AMINE}]-[#6]"
_SECONDARY = f"[$([NX3;H1;+0]),$([NX4;H2;+1]);{_N_AMINE}](-[#6])-[#6]"
_TERTIARY = f"[$([NX3;H0;+0]),$([NX4;H1;+1]);{_N_AMINE}](-[#6])(-[#6])-[#6]"
#: A carbonyl carbon bonded to carbon or hydrogen (acid / ester / amide carbon, not urea).
_ACYL = "[#6X3;$([#6]~[#6]),$([#6;H1])]"
#: An O or S not bonded to a C/S/P/N=O,S,N (ester, anhydride, thioester ... oxygens excluded).
_NOT_ACYL = "!$(*-[#6,#16,#15,#7]=[#8,#16,#7])"
#: A carbon not double-bonded to O, S or N (the alkyl side of an ester or enol ether).
_NOT_ACYL_C = "!$([#6]=[#8,#16,#7])"
#: A hydrazine nitrogen: amine-like (no acyl, sulfonyl, amidine partner, no double bond).
_N_HYDRAZINE = "[NX3;!$(N-[#6,#16,#15]=[#8,#16,#7]);!$(N=*);!$(N#*)]"

_ADENINE = "[#7;!R]~[#6]1~[#7]~[#6;!$(*~[#8;!R])]~[#7]~[#6]2~[#6]~1~[#7]~[#6]~[#7]~2"
_GUANINE = "[#8;!R]~[#6]1~[#7]~[#6](~[#7;!R])~[#7]~[#6]2~[#6]~1~[#7]~[#6]~[#7]~2"
_CYTOSINE = "[#7;!R]~[#6]1~[#7]~[#6](~[#8;!R])~[#7]~[#6;R1]=,:[#6;R1]~1"
_URACIL = "[#8;!R]~[#6]1~[#7]~[#6](~[#8;!R])~[#7]~[#6;R1]=,:[#6;R1]~1"
#: Gonane (cyclopenta[a]phenanthrene), any atoms' saturation: rings A, B, C (6) and D (5).
_STEROID = (
    "[#6]1~[#6]~[#6]~[#6]2~[#6](~[#6]~1)~[#6]~[#6]~[#6]3~[#6]~2~[#6]~[#6]~[#6]4"
    "~[#6]~[#6]~[#6]~[#6]~3~4"
)


@lru_cache(maxsize=512)
def _compiled(smarts: str) -> tuple[Chem.Mol, tuple[tuple[int, ...], ...]]:
    """The compiled pattern and its rings (pattern atom positions), compiled once."""
    patt = Chem.MolFromSmarts(smarts)
    assert patt is not None, f"invalid SMARTS {smarts!r}"  # internal invariant
    patt.UpdatePropertyCache(strict=False)
    Chem.GetSymmSSSR(patt)
    return patt, tuple(tuple(r) for r in patt.GetRingInfo().AtomRings())


def _matches(mol: Chem.Mol, smarts: str) -> tuple[tuple[int, ...], ...]:
    patt, _ = _compiled(smarts)
    return tuple(mol.GetSubstructMatches(patt, uniquify=True, maxMatches=MAX_MATCHES))


def _n(mol: Chem.Mol, *smarts: str) -> int:
    """Unique matches of each pattern, summed."""
    return sum(len(_matches(mol, s)) for s in smarts)


def _ring_count(mol: Chem.Mol, *smarts: str) -> int:
    """Distinct ring-atom sets matched by any pattern whose every ring is a ring of ``mol``."""
    mol_rings = {frozenset(r) for r in mol.GetRingInfo().AtomRings()}
    found: set[frozenset[int]] = set()
    for s in smarts:
        _, patt_rings = _compiled(s)
        for match in _matches(mol, s):
            sets = [frozenset(match[i] for i in r) for r in patt_rings]
            if sets and all(x in mol_rings for x in sets):
                found.add(frozenset().union(*sets))
    return len(found)


def _rings_where(mol: Chem.Mol, aromatic: bool, hetero: bool) -> int:
    """Rings of the ring set that are aromatic (all bonds) and/or hold a heteroatom.

    A heteroatom is any atom but carbon and dummy atoms (``*``, an unknown or attachment point).
    """
    ri = mol.GetRingInfo()
    n = 0
    for atoms, bonds in zip(ri.AtomRings(), ri.BondRings(), strict=True):
        if aromatic and not all(mol.GetBondWithIdx(b).GetIsAromatic() for b in bonds):
            continue
        if hetero and all(mol.GetAtomWithIdx(a).GetAtomicNum() in (0, 6) for a in atoms):
            continue
        n += 1
    return n


def _bears_oxygen(atom: Chem.Atom, ring: tuple[int, ...]) -> bool:
    """Whether ``atom`` holds a singly bonded oxygen outside ``ring`` (OH, OR, O-acyl, O-P)."""
    return any(
        b.GetBondType() == Chem.BondType.SINGLE
        and b.GetOtherAtom(atom).GetAtomicNum() == 8
        and b.GetOtherAtomIdx(atom.GetIdx()) not in ring
        for b in atom.GetBonds()
    )


def _carbohydrate(mol: Chem.Mol) -> int:
    """Sugar rings: see the ``carbohydrate`` rule's doc."""
    n = 0
    for ring in mol.GetRingInfo().AtomRings():
        atoms = [mol.GetAtomWithIdx(i) for i in ring]
        if len(ring) not in (5, 6) or sum(a.GetAtomicNum() == 8 for a in atoms) != 1:
            continue
        if any(a.GetAtomicNum() not in (6, 8) or a.GetIsAromatic() for a in atoms):
            continue
        bonds = [mol.GetBondBetweenAtoms(ring[i], ring[i - 1]) for i in range(len(ring))]
        if any(b is None or b.GetBondType() != Chem.BondType.SINGLE for b in bonds):
            continue
        bearing = set()
        for c in (a for a in atoms if a.GetAtomicNum() == 6):
            if _bears_oxygen(c, ring):
                bearing.add(c.GetIdx())
            for x in c.GetNeighbors():
                if x.GetIdx() not in ring and x.GetAtomicNum() == 6 and _bears_oxygen(x, ring):
                    bearing.add(x.GetIdx())
        n += len(bearing) >= 3
    return n


def _group(name: str, smarts: str, doc: str, *aliases: str) -> GroupRule:
    return GroupRule(name, "group", smarts, None, aliases, doc)


def _ring(name: str, smarts: str, doc: str, *aliases: str) -> GroupRule:
    return GroupRule(name, "ring", smarts, None, (name.removesuffix(" ring"), *aliases), doc)


# fmt: off
#: The vocabulary, in fact-sheet order: groups, rings, classes, umbrellas.
GROUP_RULES: tuple[GroupRule, ...] = (
    # --- carbon-carbon ---
    _group("alkene", "[CX3]=[CX3]", "non-aromatic C=C; one per double bond", "olefin", "c=c"),
    _group("alkyne", "[CX2]#[CX2]", "C#C; one per triple bond", "acetylene", "c#c"),
    # --- oxygen ---
    _group("alcohol", "[OX2H1]-[CX4]", "O-H on an sp3 carbon (hemiacetal OH included)", "alkanol", "aliphatic alcohol"),
    _group("phenol", "[OX2H1]-c", "O-H on an aromatic carbon (phenolate anions not included)", "phenolic hydroxyl", "hydroxyarene"),
    _group("enol", "[OX2H1]-[CX3]=[CX3]", "O-H on a non-aromatic C=C carbon"),
    _group("catechol", "[OX2H1]-c:c-[OX2H1]", "two O-H on adjacent aromatic carbons; one per adjacent pair", "1,2-diol arene", "pyrocatechol"),
    _group("ether", f"[#6]-[OX2;H0;+0;{_NOT_ACYL}]-[#6]", "C-O-C oxygen, not aromatic and not an ester/anhydride/carbamate oxygen (acetal, epoxide and ring oxygens included); one per O", "ethers"),
    _group("enol ether", f"[CX3]=[CX3]-[OX2;H0]-[#6;{_NOT_ACYL_C}]", "C=C-O-C with a non-aromatic C=C and a non-acyl carbon on O", "vinyl ether"),
    _group("epoxide", "[#6]1-[#8]-[#6]-1", "three-membered C-O-C ring", "oxirane"),
    _group("acetal", f"[CX4;!$(C(-[OX2])(-[OX2])-[OX2])](-[OX2;{_NOT_ACYL}]-[#6])-[OX2;{_NOT_ACYL}]-[#6]", "sp3 carbon with exactly two C-O-C oxygens (ketals, glycosides, methylenedioxy included; orthoesters not)", "ketal", "acetal/ketal"),
    _group("hemiacetal", f"[CX4](-[OX2H1])-[OX2;H0;{_NOT_ACYL}]-[#6]", "sp3 carbon with one O-H and one C-O-C oxygen (hemiketals included)", "hemiketal"),
    _group("peroxide", "[OX2]-[OX2]", "O-O single bond (hydroperoxides and peracids included)", "peroxy"),
    # --- carbonyl ---
    _group("aldehyde", "[CX3;$([CH1]-[#6]),$([CH2])]=[OX1]", "H-C(=O)-C, and formaldehyde", "formyl", "cho"),
    _group("ketone", "[#6]-,:[#6X3](=[OX1])-,:[#6]", "C-C(=O)-C (quinones and aromatic C=O such as 4-pyridone included)", "oxo"),
    _group("carboxylic acid", f"{_ACYL}(=[OX1])-[OX2H1]", "C(=O)-OH on carbon or H (the free acid; see carboxylate)", "cooh", "carboxyl", "carboxy"),
    _group("carboxylate", f"{_ACYL}(=[OX1])-[OX1-]", "C(=O)-O(-), the deprotonated acid (salts, zwitterions)", "carboxylate anion", "carboxylate salt"),
    _group("ester", f"{_ACYL}(=[OX1])-,:[#8X2;H0]-,:[#6;{_NOT_ACYL_C}]", "C(=O)-O-C on carbon or H (lactones included; carbonates, carbamates, anhydrides not)", "carboxylic ester", "carboxylate ester"),
    _group("lactone", f"{_ACYL}(=[OX1])@[#8X2;H0]@[#6;{_NOT_ACYL_C}]", "ester whose C-O bond is in a ring (coumarins included)", "cyclic ester"),
    _group("anhydride", "[#6X3](=[OX1])-,:[#8X2]-,:[#6X3]=[OX1]", "C(=O)-O-C(=O)", "acid anhydride", "carboxylic anhydride"),
    _group("acyl halide", "[#6X3](=[OX1])-[F,Cl,Br,I]", "C(=O)-halogen", "acid halide", "acyl chloride", "acid chloride"),
    _group("amide", f"{_ACYL}(=[OX1])-,:[#7X3]", "C(=O)-N on carbon or H (lactams, imides, peptide bonds included; ureas, carbamates not); one per C(=O)N", "carboxamide", "peptide bond"),
    _group("lactam", f"{_ACYL}(=[OX1])@[#7X3]", "amide whose C-N bond is in a ring (2-pyridones included)", "cyclic amide"),
    _group("imide", "[#6X3](=[OX1])-,:[#7X3]-,:[#6X3]=[OX1]", "C(=O)-N-C(=O)", "imides"),
    _group("carbamate", "[#7X3]-,:[#6X3](=[OX1])-,:[#8X2;H0]-,:[#6]", "N-C(=O)-O-C", "urethane", "carbamate ester"),
    _group("carbonate", "[#6]-,:[#8X2]-,:[#6X3](=[OX1])-,:[#8X2]-,:[#6]", "C-O-C(=O)-O-C", "carbonate ester"),
    _group("urea", "[#7X3]-,:[#6X3](=[OX1])-,:[#7X3]", "N-C(=O)-N (cyclic ureas and uracil's C2 included)", "carbamide", "ureido"),
    _group("michael acceptor", "[CX3]=[CX3]-[#6X3]=[OX1]", "C=C-C=O, an alpha,beta-unsaturated carbonyl with a non-aromatic C=C", "alpha,beta-unsaturated carbonyl", "enone", "α,β-unsaturated carbonyl"),
    _group("isocyanate", "[NX2]=[CX2]=[OX1]", "N=C=O"),
    # --- nitrogen ---
    _group("primary amine", _PRIMARY, "N with two H and one C, not amide/sulfonamide/amidine/hydrazine N (anilines and R-NH3+ included)", "primary amino", "nh2"),
    _group("secondary amine", _SECONDARY, "non-aromatic N with one H and two C, same exclusions (R2NH2+ included)", "secondary amino"),
    _group("tertiary amine", _TERTIARY, "non-aromatic N with three C, no H, same exclusions (R3NH+ included)", "tertiary amino"),
    _group("quaternary ammonium", "[NX4;H0;+1](-[#6])(-[#6])(-[#6])-[#6]", "N+ with four carbons (aromatic N-alkyl pyridinium not included)", "quaternary amine", "quat", "tetraalkylammonium"),
    _group("enamine", f"[CX3]=[CX3]-[NX3;+0;{_N_AMINE}]", "amine N on a non-aromatic C=C (also counted as an amine)", "enamines"),
    _group("imine", "[CX3;!$(C-[#7,#8,#16])]=[$([NX2;H1]),$([NX2]-[#6]),$([NX3+;!$(N-[#7,#8])])]", "C=N with H or C on N and no N/O/S on the carbon (oximes, hydrazones, amidines not; iminium included)", "schiff base", "azomethine"),
    _group("oxime", "[CX3]=[NX2]-[OX2]", "C=N-O (oxime ethers included)", "oximes"),
    _group("hydrazone", "[CX3]=[NX2]-[NX3]", "C=N-N", "hydrazones"),
    _group("hydrazine", f"{_N_HYDRAZINE}-{_N_HYDRAZINE}", "N-N single bond between two amine-type N (hydrazides, hydrazones not)", "hydrazines"),
    _group("azo", "[#6]-[NX2]=[NX2]-[#6]", "C-N=N-C", "azo group", "diazene"),
    _group("azide", "[#7]~[#7X2+]~[#7X1]", "N=N+=N- (organic azides and the azide ion)", "azido"),
    _group("nitrile", "[NX1]#[CX2]", "C#N", "cyano", "cyanide", "carbonitrile"),
    _group("nitro", "[$([NX3](=[OX1])=[OX1]),$([NX3+](=[OX1])-[OX1-])]-[!#8]", "NO2 on C or N (nitrates not)", "nitro group", "no2"),
    _group("nitroso", "[#6,#7]-[NX2]=[OX1]", "C-N=O or N-N=O", "n-nitroso", "c-nitroso"),
    _group("n-oxide", "[#7+;!$(*=[#8])]-[OX1-]", "N+-O- (amine oxides, pyridine N-oxides, nitrones)", "amine oxide", "n oxide"),
    _group("guanidine", "[NX3]-[CX3](=[NX2,NX3+])-[NX3]", "N-C(=N)-N, non-aromatic (guanidinium included)", "guanidino", "guanidinium"),
    _group("amidine", "[CX3;$(C-[#6]),$([CH1])](=[NX2,NX3+;!$(N-[#7,#8])])-[NX3;!$(N-[#7,#8])]", "C-C(=N)-N on carbon or H, non-aromatic (guanidines, amidoximes not)", "amidino", "amidinium"),
    _group("isothiocyanate", "[NX2]=[CX2]=[SX1]", "N=C=S", "mustard oil"),
    # --- sulfur ---
    _group("thiol", "[#6]-[SX2H1]", "C-S-H", "sulfhydryl", "mercapto", "sh"),
    _group("thioether", f"[#6]-[SX2;H0;+0;{_NOT_ACYL}]-[#6]", "C-S-C, not aromatic and not a thioester S", "sulfide", "thioethers"),
    _group("disulfide", "[#6]-[SX2]-[SX2]-[#6]", "C-S-S-C", "disulphide"),
    _group("thioester", "[#6X3](=[OX1])-[SX2]-[#6]", "C(=O)-S-C", "thiol ester"),
    _group("thioamide", f"{_ACYL}(=[SX1])-[#7X3]", "C(=S)-N on carbon or H", "thiocarboxamide"),
    _group("thiourea", "[#7X3]-[#6X3](=[SX1])-[#7X3]", "N-C(=S)-N", "thiocarbamide"),
    _group("sulfoxide", "[#6]-[$([SX3]=[OX1]),$([SX3+]-[OX1-])]-[#6]", "C-S(=O)-C", "sulfinyl", "sulphoxide"),
    _group("sulfone", "[#6]-[SX4](=[OX1])(=[OX1])-[#6]", "C-S(=O)(=O)-C", "sulfonyl", "sulphone"),
    _group("sulfonamide", "[SX4](=[OX1])(=[OX1])-[#7X3]", "S(=O)(=O)-N; one per S-N bond", "sulphonamide", "sulfonamido"),
    _group("sulfonic acid", "[#6]-[SX4](=[OX1])(=[OX1])-[OX2H1]", "C-S(=O)(=O)-OH (the free acid; see sulfonate)", "sulphonic acid", "so3h"),
    _group("sulfonate", "[#6]-[SX4](=[OX1])(=[OX1])-[$([OX1-]),$([OX2]-[#6])]", "C-S(=O)(=O)-O- anion or C-S(=O)(=O)-O-C ester (tosylates, mesylates)", "sulfonate ester", "sulphonate"),
    # --- phosphorus, boron ---
    _group("phosphate", "[PX4](=[OX1])(-[OX2,OX1-])(-[OX2,OX1-])-[OX2,OX1-]", "P(=O) with three single-bonded O (esters, anions, di/triphosphates: one per P)", "phosphate ester", "phospho"),
    _group("phosphonate", "[#6]-[PX4](=[OX1])(-[OX2,OX1-])-[OX2,OX1-]", "C-P(=O)(O)O (acids, esters, anions)", "phosphonic acid"),
    _group("boronic acid", "[#6]-[BX3](-[OX2H1])-[OX2H1]", "C-B(OH)2", "b(oh)2"),
    _group("boronic ester", "[#6]-[BX3](-[OX2]-[#6])-[OX2]-[#6]", "C-B(OC)2 (pinacol esters included)", "boronate ester", "bpin"),
    # --- halogens (atom counts) ---
    _group("fluorine", "[#9]", "fluorine atoms (covalent or fluoride ion); counts atoms", "fluoro", "f", "fluoride"),
    _group("chlorine", "[#17]", "chlorine atoms (covalent or chloride ion); counts atoms", "chloro", "cl", "chloride"),
    _group("bromine", "[#35]", "bromine atoms (covalent or bromide ion); counts atoms", "bromo", "br", "bromide"),
    _group("iodine", "[#53]", "iodine atoms (covalent or iodide ion); counts atoms", "iodo", "i", "iodide"),
    _group("trifluoromethyl", "[CX4;!$(C(F)(F)(F)F)](F)(F)F", "CF3 on a non-F atom", "cf3"),
    # --- rings (count = rings) ---
    _ring("benzene ring", "c1ccccc1", "aromatic six-membered ring of six carbons (each ring of a naphthalene counts)", "phenyl", "benzenoid ring"),
    _ring("pyridine ring", "n1ccccc1", "aromatic six-ring with one N (pyridinium, 2-pyridone included)", "pyridyl"),
    _ring("pyrimidine ring", "n1cnccc1", "aromatic six-ring with N at 1,3", "pyrimidinyl"),
    _ring("pyrazine ring", "n1ccncc1", "aromatic six-ring with N at 1,4", "pyrazinyl"),
    _ring("pyridazine ring", "n1ncccc1", "aromatic six-ring with N at 1,2", "pyridazinyl"),
    _ring("pyrrole ring", "n1cccc1", "aromatic five-ring with one N and four C (indole's five-ring included)", "pyrrolyl"),
    _ring("furan ring", "o1cccc1", "aromatic five-ring with one O and four C", "furyl", "furanyl"),
    _ring("thiophene ring", "s1cccc1", "aromatic five-ring with one S and four C", "thienyl"),
    _ring("imidazole ring", "n1cncc1", "aromatic five-ring with N at 1,3 and three C", "imidazolyl"),
    _ring("pyrazole ring", "n1nccc1", "aromatic five-ring with N at 1,2 and three C", "pyrazolyl"),
    _ring("oxazole ring", "o1cncc1", "aromatic five-ring with O at 1 and N at 3", "oxazolyl"),
    _ring("isoxazole ring", "o1nccc1", "aromatic five-ring with O at 1 and N at 2", "isoxazolyl"),
    _ring("thiazole ring", "s1cncc1", "aromatic five-ring with S at 1 and N at 3", "thiazolyl"),
    GroupRule("triazole ring", "ring", None, lambda m: _ring_count(m, "n1nncc1", "n1ncnc1"), ("triazole", "triazolyl"), "aromatic five-ring with three N and two C (1,2,3- and 1,2,4-)"),
    _ring("tetrazole ring", "n1nnnc1", "aromatic five-ring with four N and one C", "tetrazolyl"),
    _ring("indole ring", "c1ccc2c(c1)ccn2", "benzene fused to pyrrole at the 2,3-bond (one per indole)", "indolyl"),
    _ring("quinoline ring", "c1ccc2ncccc2c1", "benzene fused to pyridine, N next to the fusion (one per quinoline)", "quinolinyl"),
    _ring("isoquinoline ring", "c1ccc2cnccc2c1", "benzene fused to pyridine, N one atom from the fusion", "isoquinolinyl"),
    _ring("benzimidazole ring", "c1ccc2ncnc2c1", "benzene fused to imidazole", "benzimidazolyl"),
    _ring("purine ring", "c1ncc2ncnc2n1", "pyrimidine fused to imidazole (the purine skeleton, aromatic)", "purinyl"),
    _ring("naphthalene ring", "c1ccc2ccccc2c1", "two fused aromatic carbon six-rings (anthracene holds two)", "naphthyl"),
    _ring("piperidine ring", "N1CCCCC1", "saturated six-ring with one N (exocyclic C=O allowed)", "piperidinyl"),
    _ring("piperazine ring", "N1CCNCC1", "saturated six-ring with N at 1,4", "piperazinyl"),
    _ring("morpholine ring", "O1CCNCC1", "saturated six-ring with O at 1 and N at 4", "morpholinyl", "morpholino"),
    _ring("pyrrolidine ring", "N1CCCC1", "saturated five-ring with one N (proline included)", "pyrrolidinyl"),
    _ring("tetrahydrofuran ring", "O1CCCC1", "saturated five-ring with one O (furanoses included)", "thf", "oxolane"),
    _ring("tetrahydropyran ring", "O1CCCCC1", "saturated six-ring with one O (pyranoses included)", "thp", "oxane"),
    _ring("cyclopropane ring", "C1CC1", "saturated three-ring of carbons", "cyclopropyl"),
    _ring("cyclobutane ring", "C1CCC1", "saturated four-ring of carbons", "cyclobutyl"),
    _ring("cyclopentane ring", "C1CCCC1", "saturated five-ring of carbons (steroid ring D included)", "cyclopentyl"),
    _ring("cyclohexane ring", "C1CCCCC1", "saturated six-ring of carbons (exocyclic C=O allowed)", "cyclohexyl"),
    _ring("beta-lactam ring", "[#8X1]=[#6]1-[#6]-[#6]-[#7]-1", "four-ring N-C(=O)-C-C, saturated (penicillins, cephalosporins)", "beta-lactam", "β-lactam", "azetidinone"),
    # --- classes ---
    GroupRule("amino acid", "class", f"[$([NX3;+0]),$([NX4;+1;!H0]);{_N_AMINE}]-[CX4]-[CX3](=[OX1])-[OX2H1,OX1-]", None, ("alpha-amino acid", "α-amino acid", "free amino acid"), "alpha-amino acid: amine N (not acylated; primary, secondary or tertiary; free or NH3+) on the carbon next to COOH or COO-; one per residue (beta-amino acids and peptide-internal residues not)"),
    GroupRule("carbohydrate", "class", None, _carbohydrate, ("sugar", "saccharide", "monosaccharide"), "sugar ring: a saturated 5- or 6-ring of carbons and exactly one O, with >=3 distinct carbons (ring carbons or carbons attached to them) bearing a singly bonded oxygen outside the ring: hydroxyl, or that hydroxyl's glycoside/ether/ester/phosphate; one per ring (inositols and DNA's 2-deoxyribose not)"),
    GroupRule("nucleobase", "class", None, lambda m: _n(m, _ADENINE, _GUANINE, _CYTOSINE, _URACIL), ("nucleic acid base", "nucleotide base"), "adenine, guanine, cytosine or uracil/thymine core (any N-substituent, any tautomer, 5-substituents allowed; xanthines such as caffeine not); one per base"),
    GroupRule("steroid core", "class", _STEROID, None, ("steroid", "steroid nucleus", "gonane", "cyclopenta[a]phenanthrene"), "fused 6-6-6-5 tetracyclic carbon skeleton (cyclopenta[a]phenanthrene), any saturation"),
    GroupRule("heteroaromatic ring", "class", None, lambda m: _rings_where(m, True, True), ("heteroaryl", "aromatic heterocycle", "heteroarene"), "aromatic ring (all ring bonds aromatic) holding a non-carbon atom; counts rings"),
    # --- umbrellas ---
    GroupRule("hydroxyl", "umbrella", "[OX2H1]-[#6]", None, ("hydroxy", "oh", "hydroxyl group"), "any O-H on carbon: alcohol, phenol, enol, hemiacetal and carboxylic acid OH"),
    GroupRule("carbonyl", "umbrella", "[#6]=[#8]", None, ("c=o", "carbonyl group", "oxo group"), "any C=O double bond (ketones, aldehydes, acids, esters, amides ...)"),
    GroupRule("amine", "umbrella", None, lambda m: _n(m, _PRIMARY, _SECONDARY, _TERTIARY), ("amino", "amino group", "amines"), "primary + secondary + tertiary amine N, aromatic amines (anilines) included; amides, quaternary ammonium and aromatic ring N not"),
    GroupRule("halide", "umbrella", "[#9,#17,#35,#53]", None, ("halogen", "halo", "halogens", "organohalide"), "any F, Cl, Br or I atom; counts atoms"),
    GroupRule("aromatic ring", "umbrella", None, lambda m: _rings_where(m, True, False), ("arene", "aromatic", "aryl"), "any aromatic ring (all ring bonds aromatic); counts rings"),
    GroupRule("heterocycle", "umbrella", None, lambda m: _rings_where(m, False, True), ("heterocyclic ring", "heterocyclic"), "any ring containing a non-carbon atom (dummy atoms * not counted); counts rings"),
)
# fmt: on


@lru_cache(maxsize=1)
def _index() -> dict[str, GroupRule]:
    """Lower-case name and alias -> rule; checks the table's invariants once."""
    index: dict[str, GroupRule] = {}
    for r in GROUP_RULES:
        assert r.kind in KINDS and r.name == r.name.lower(), r.name  # internal invariant
        assert (r.smarts is None) != (r.func is None), r.name
        if r.smarts is not None:
            _compiled(r.smarts)
        for key in (r.name, *r.aliases):
            k = _key(key)
            assert index.get(k, r) is r, f"{key!r} names two rules"
            index[k] = r
    return index


def _key(name: str) -> str:
    return " ".join(name.lower().split())


def rule(name: str) -> GroupRule:
    """The rule called ``name`` or with alias ``name`` (case-insensitive).

    Raises:
        KeyError: unknown name; the message lists the closest known names.
    """
    index = _index()
    k = _key(name)
    if k in index:
        return index[k]
    close = difflib.get_close_matches(k, list(index), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise KeyError(f"unknown group {name!r}{hint}")


def _prepare(mol: Chem.Mol) -> Chem.Mol:
    """A copy with valences and rings computed, so unsanitised input does not raise."""
    m = Chem.Mol(mol)
    m.UpdatePropertyCache(strict=False)
    Chem.GetSymmSSSR(m)
    return m


def _count(r: GroupRule, mol: Chem.Mol) -> int:
    if r.func is not None:
        return int(r.func(mol))
    assert r.smarts is not None
    if r.kind == "ring":
        return _ring_count(mol, r.smarts)
    return len(_matches(mol, r.smarts))


def group_counts(mol: Chem.Mol) -> dict[str, int]:
    """Name -> count for every rule of :data:`GROUP_RULES` present in ``mol``, in table order.

    Counts are unique SMARTS matches (one per group), atoms for the halogens and "halide", rings
    for ring rules and ring umbrellas, units for classes; each rule's ``doc`` says which.
    """
    _index()
    m = _prepare(mol)
    counts: dict[str, int] = {}
    for r in GROUP_RULES:
        n = _count(r, m)
        if n > 0:
            counts[r.name] = n
    return counts


def present_groups(mol: Chem.Mol) -> list[str]:
    """Names of the rules present in ``mol``, sorted alphabetically."""
    return sorted(group_counts(mol))

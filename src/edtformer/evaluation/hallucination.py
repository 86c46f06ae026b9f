"""Functional-group hallucination rate of generated descriptions, checked by RDKit (no LLM judge).

A description *claims* a functional group when it names it (a curated name -> SMARTS table with
synonyms and IUPAC prefixes: "hydroxyl"/"hydroxy"/"alcohol", "chloro"/"chlorine", ...). A claim
is **hallucinated** when the group's SMARTS does not match the molecule — or, for a negated
claim ("no nitro group", "lacks a halogen", "non-aromatic"), when it does. Repeated mentions of
the same group with the same polarity in one description are one claim.

``rate = hallucinated claims / all claims`` over the corpus; per molecule, the same ratio over
its own claims (NaN for a description that names no group).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from edtformer.chem.molecule import Mol, mol_from_smiles, smarts_query
from edtformer.errors import InvalidSmilesError
from edtformer.evaluation.validation import check_paired, undefined

_L = r"(?<![a-z])"  # no letter before: "amide" does not fire inside "sulfonamide"
_R = r"(?![a-z])"  # no letter after

#: group name -> (SMARTS, regexes over the lower-cased text that name it).
FUNCTIONAL_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "hydroxyl": ("[OX2H]", (rf"{_L}hydroxyl(?:s|ated)?{_R}", r"hydroxy(?!l)")),
    "alcohol": ("[CX4][OX2H]", (rf"{_L}alcohol(?:s|ic)?{_R}",)),
    "phenol": ("c[OX2H]", (rf"phenol(?:s|ic)?{_R}",)),  # also "nitrophenol"
    "carboxylic acid": (
        "[CX3](=O)[OX2H1,OX1-]",
        (
            rf"{_L}carboxylic acids?{_R}",
            rf"{_L}carboxyl(?:ate|ic)?s?{_R}",
            r"carboxy(?=[a-z])(?!l)",
            r"oic acids?",  # IUPAC "-oic acid": benzoic, hexanoic
        ),
    ),
    "ester": ("[#6][CX3](=O)[OX2H0][#6]", (rf"{_L}esters?{_R}", rf"{_L}lactones?{_R}")),
    "amide": ("[NX3][CX3](=[OX1])", (rf"{_L}amides?{_R}", r"carboxamide", rf"{_L}lactams?{_R}")),
    "amine": (
        "[$([NX3;!$(N[#6]=[O,S,N]);!$(N[SX4](=O)=O);!$(N~[O,N])]),$([NX4+;!$(N~O)])]",
        (rf"{_L}amines?{_R}", rf"{_L}amino"),
    ),
    "nitrile": ("[NX1]#[CX2]", (rf"{_L}nitriles?{_R}", r"cyano", r"carbonitrile")),
    "nitro": (
        "[$([NX3](=O)=O),$([NX3+](=O)[O-])][!#8]",
        (r"nitro(?!gen|us|so|sy|ni)",),
    ),
    "halogen": ("[F,Cl,Br,I]", (r"halogen(?:s|ated)?", rf"{_L}(?:organo)?halides?{_R}")),
    "fluorine": ("[F]", (r"fluor(?:o|ine|ide|inated)",)),
    "chlorine": ("[Cl]", (r"chlor(?:o|ine|ide|inated)(?!phyll)",)),
    "bromine": ("[Br]", (r"brom(?:o|ine|ide|inated)",)),
    "iodine": ("[I]", (r"iod(?:o|ine|ide|inated)",)),
    "ketone": ("[#6][CX3](=O)[#6]", (rf"{_L}ketones?{_R}", rf"{_L}keto{_R}")),
    "aldehyde": (
        "[$([CX3H1](=O)[#6]),$([CX3H2]=O)]",
        (rf"{_L}aldehydes?{_R}", rf"{_L}formyl{_R}", r"carbaldehyde"),
    ),
    "carbonyl": ("[CX3]=[OX1]", (rf"{_L}carbonyls?{_R}",)),
    "ether": (
        "[OX2;!$(O[#6]=[O,S,N])]([#6])[#6]",
        (rf"{_L}ethers?{_R}", rf"{_L}(?:m|)ethoxy", rf"{_L}alkoxy", rf"{_L}phenoxy"),
    ),
    "thiol": ("[#16X2H]", (rf"{_L}thiols?{_R}", rf"{_L}sulfhydryl", rf"{_L}mercapto")),
    "thioether": ("[SX2]([#6])[#6]", (rf"{_L}thioethers?{_R}",)),
    "sulfonamide": ("[SX4](=O)(=O)[NX3]", (r"sul(?:f|ph)onamid(?:e|es|o)",)),
    "sulfonic acid": ("[SX4](=O)(=O)[OX2H,OX1-]", (r"sul(?:f|ph)onic acid", r"sul(?:f|ph)onates?")),
    "phosphate": (
        "[PX4](=O)([OX2,OX1-])([OX2,OX1-])[OX2,OX1-]",
        (rf"{_L}phosphates?{_R}", r"phosphoric acid"),
    ),
    "urea": ("[NX3][CX3](=O)[NX3]", (rf"{_L}ureas?{_R}", rf"{_L}ureido")),
    "carbamate": ("[NX3][CX3](=O)[OX2]", (rf"{_L}carbamates?{_R}",)),
    "alkene": ("[CX3]=[CX3]", (rf"{_L}alkenes?{_R}", rf"{_L}olefin(?:s|ic)?{_R}", rf"{_L}vinyl")),
    "alkyne": ("[CX2]#[CX2]", (rf"{_L}alkynes?{_R}", rf"{_L}ethynyl")),
    "phenyl": ("c1ccccc1", (r"phenyl", rf"{_L}benzene(?: ring)?s?{_R}", rf"{_L}benzyl")),
    "aromatic ring": ("a", (rf"{_L}aromatic{_R}", rf"{_L}aryl{_R}", rf"{_L}arenes?{_R}")),
    "pyridine": ("[nX2]1ccccc1", (r"pyridin(?:e|yl)", rf"{_L}pyridyl")),
}

# A claim is negated when a cue precedes it in the same clause (a clause ends at punctuation or
# a conjunction such as "and"/"but"), or when "non-" is attached to it ("non-aromatic").
_NEGATION_CUE = re.compile(
    r"\b(?:no|not|without|lacks?|lacking|absence of|absent|free of|devoid of|neither|nor)\b"
)
_CLAUSE_END = re.compile(r"[.;,:!?]|\b(?:and|but|while|whereas|although|however|with)\b")
_NON_PREFIX = re.compile(r"\bnon-?\s?$")


def _is_negated(low: str, start: int) -> bool:
    """Whether the group name starting at ``start`` of the lower-cased text is negated."""
    before = low[:start]
    if _NON_PREFIX.search(before):
        return True
    cues = list(_NEGATION_CUE.finditer(before))
    return bool(cues) and _CLAUSE_END.search(before, cues[-1].end()) is None


@cache
def _compiled() -> tuple[tuple[str, Mol, re.Pattern[str]], ...]:
    out = []
    for name, (smarts, names) in FUNCTIONAL_GROUPS.items():
        query = smarts_query(smarts)
        out.append((name, query, re.compile("|".join(f"(?:{p})" for p in names))))
    return tuple(out)


@dataclass(frozen=True)
class Claim:
    """One functional group a description names.

    Attributes:
        group: key of :data:`FUNCTIONAL_GROUPS`.
        phrase: the text that named it (first occurrence).
        negated: the description says the group is absent.
        present: the group's SMARTS matches the molecule.
    """

    group: str
    phrase: str
    negated: bool
    present: bool

    @property
    def hallucinated(self) -> bool:
        """The claim contradicts the molecule."""
        return self.present == self.negated


def find_claims(text: str) -> list[tuple[str, str, bool]]:
    """``(group, phrase, negated)`` for each group named in ``text`` (overlaps: longest wins)."""
    low = text.lower()
    hits: list[tuple[int, int, str]] = []
    for name, _, pattern in _compiled():
        hits += [(m.start(), m.end(), name) for m in pattern.finditer(low)]
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    claims: dict[tuple[str, bool], str] = {}
    end = -1
    for start, stop, name in hits:
        if start < end:
            continue  # inside a longer, earlier phrase
        end = stop
        negated = _is_negated(low, start)
        claims.setdefault((name, negated), low[start:stop])
    return [(g, phrase, neg) for (g, neg), phrase in claims.items()]


def check_claims(text: str, mol: Mol) -> list[Claim]:
    """The claims of ``text`` checked against ``mol``."""
    queries = {name: q for name, q, _ in _compiled()}
    return [
        Claim(g, phrase, neg, mol.HasSubstructMatch(queries[g]))
        for g, phrase, neg in find_claims(text)
    ]


@dataclass(frozen=True)
class HallucinationResult:
    """Functional-group hallucination over a corpus.

    Attributes:
        rate: hallucinated claims / all claims (NaN when no description names a group).
        n_claims: all claims.
        n_hallucinated: claims contradicted by the molecule.
        per_molecule: per description, its own rate (NaN when it names no group).
        mean_per_molecule: mean of ``per_molecule`` over descriptions with a claim.
        n_without_claims: descriptions that name no group.
        hallucinated_groups: group -> how often it was hallucinated.
    """

    rate: float
    n_claims: int
    n_hallucinated: int
    per_molecule: list[float]
    mean_per_molecule: float
    n_without_claims: int
    hallucinated_groups: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float]:
        """Scalar fields as floats (``per_molecule`` and ``hallucinated_groups`` left out)."""
        return {
            "hallucination_rate": self.rate,
            "hallucination_rate_per_molecule": self.mean_per_molecule,
            "n_claims": float(self.n_claims),
            "n_hallucinated": float(self.n_hallucinated),
            "n_without_claims": float(self.n_without_claims),
        }


def hallucination_rate(texts: Sequence[str], smiles: Sequence[str]) -> HallucinationResult:
    """Functional-group hallucination rate of ``texts`` describing the molecules ``smiles``.

    Raises:
        MetricInputError: empty or unequal inputs.
        InvalidSmilesError: a molecule does not parse (the message gives its index).
    """
    check_paired("hallucination_rate", texts, smiles, ("texts", "molecules"))
    per_molecule: list[float] = []
    bad: Counter[str] = Counter()
    n_claims = n_hall = 0
    for i, (text, smi) in enumerate(zip(texts, smiles, strict=True)):
        try:
            mol = mol_from_smiles(smi)
        except InvalidSmilesError as exc:
            raise InvalidSmilesError(smi, f"molecule {i} is invalid: {exc.reason}") from exc
        claims = check_claims(text or "", mol)
        hall = [c for c in claims if c.hallucinated]
        bad.update(c.group for c in hall)
        n_claims += len(claims)
        n_hall += len(hall)
        per_molecule.append(len(hall) / len(claims) if claims else math.nan)
    with_claims = [r for r in per_molecule if not math.isnan(r)]
    if n_claims == 0:
        rate = mean = undefined("hallucination rate", "no description names a functional group")
    else:
        rate, mean = n_hall / n_claims, sum(with_claims) / len(with_claims)
    return HallucinationResult(
        rate=rate,
        n_claims=n_claims,
        n_hallucinated=n_hall,
        per_molecule=per_molecule,
        mean_per_molecule=mean,
        n_without_claims=len(per_molecule) - len(with_claims),
        hallucinated_groups=dict(bad),
    )

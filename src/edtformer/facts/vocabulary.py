"""The words that name each fact of the sheet: the vocabulary :mod:`edtformer.facts.select`
matches questions against.

Three layers, from coarse to fine: :data:`LINE_WORDS` name a sheet line ("donor" -> ``hbond``),
:data:`ITEM_WORDS` a single item within a line ("acceptor" -> ``hba``), and the element symbols,
counts and group names of :func:`edtformer.facts.select.asked_facts` single facts written out
explicitly. A line made of items whose words all name it (descriptors, rules, H-bonds) takes its
words from its items, so the two lists cannot drift apart. All patterns are matched
case-insensitively on the question without its SMILES, unless written otherwise.
"""

from __future__ import annotations

import re

#: Sheet item (:func:`edtformer.facts.sheet.sheet_items` key) -> regular expressions of the
#: words that name it (case-insensitive, on the question without its SMILES). Within a line the
#: question names, :func:`items_for` keeps the items named here; a line none of whose items is
#: named is written whole. Lines of one item (rotatable bonds), the fragments line (its largest
#: fragment is read together with the count) and the groups line (asked groups are written out
#: by :func:`asked_facts`) are always whole.
ITEM_WORDS: dict[str, tuple[str, ...]] = {
    "formula": (r"formula(?! weight)(?! mass)", r"composition", r"\bmf\b", r"empirical", r"brutto", r"hill"),
    "atoms": (r"\belements?\b", r"per element", r"each element", r"atom counts",
              r"atoms of each", r"element counts"),
    "heavy_atoms": (r"heavy[- ]?atoms?", r"heavy(?! is)(?! are)", r"non-?\s?h(ydrogen)?\b", r"\bhac\b", r"nheavy",
                    r"heavyatomcount", r"other than hydrogen", r"excluding hydrogen",
                    r"not counting hydrogen"),
    "formal_charge": (r"charge", r"\bchg\b", r"neutral", r"ionic", r"\bions?\b", r"cation", r"anion",
                      r"zwitter", r"\bnet\b", r"formal"),
    "mol_weight": (r"average", r"molecular weight", r"\bmw\b", r"\bm\.w\b", r"molar mass",
                   r"g/mol", r"formula weight", r"\bweigh", r"molwt", r"\bmol\.? ?wt\b",
                   r"per mole", r"\bmolar mass", r"molecular mass", r"relative mass",
                   r"how heavy", r"\bwieght", r"\bweigth"),
    "exact_mass": (r"monoiso", r"\bexact\b", r"isotop", r"most abundant", r"\bm/z\b",
                   r"high[- ]?res", r"\bhrms\b", r"accurate mass"),
    "aromatic_rings": (r"(?<!non-)(?<!non )(?<!non)(?<!\()\barom", r"benzenoid"),
    "aliphatic_rings": (r"aliph", r"non-?\s?aromatic", r"saturated rings?", r"naliph",
                        r"not aromatic"),
    "ring_systems": (r"ring[- ]?sy?s?te?ms?\b", r"fused", r"spiro", r"as (a single|one) unit", r"how many units", r"ring assembl",
                     r"ring blocks?"),
    "largest_ring": (r"largest", r"biggest", r"ring size", r"size of the", r"membered",
                     r"how (big|large)", r"max(imum)? ring", r"ring with the most"),
    "macrocycle": (r"macro", r"\b1[23]\b", r"twelve", r"thirteen"),
    "rings": (r"\bsssr\b", r"ringcount", r"\bnrings?\b", r"how many rings", r"number of rings",
              r"rings? count", r"count (the )?rings", r"rings in total", r"total rings",
              r"\bcycles\b"),
    "hbd": (r"donor", r"donat", r"hbd", r"h-?don", r"numhdonors", r"\bnhoh\b"),
    "hba": (r"acceptor", r"accepting", r"hba", r"h-?acc", r"numhacceptors"),
    "stereocentres": (r"defined or not", r"specified or not", r"assigned or not",
                      r"or (un|not )(defined|specified|assigned)",
                      r"and (un|not )(defined|specified|assigned)", r"in total", r"\btotal\b",
                      r"whether or not", r"\bnchiral"),
    "specified_stereocentres": (r"(?<!un)(?<!not )specified", r"(?<!un)(?<!not )defined",
                                r"(?<!un)(?<!not )assigned", r"explicit", r"\bgiven\b",
                                r"\bcarry\b", r"labell?ed", r"\bhave an? (r or s|r/s|cip) label",
                                r"(?<!un)specifi?e?d\b", r"(?<!not )\bis (set|given|known)\b"),
    "unspecified_stereocentres": (r"unspecified", r"undefined", r"unassigned",
                                  r"not (specified|defined|assigned|given)", r"missing",
                                  r"\black", r"ambiguous", r"left open", r"no configuration",
                                  r"(no|without) (an? )?(r or s |r/s |cip )?labels?",
                                  r"\bno (r/s|r or s|cip|configuration|stereo)\b",
                                  r"unspecifi?e?d\b"),
    "cip": (r"\bcip\b", r"cahn", r"prelog", r"ingold", r"\br/s\b", r"\b[rs] or [rs]\b",
            r"absolute", r"descriptors?", r"\blabels?\b", r"\(r\)|\(s\)", r"configuration"),
    "chiral": (r"ch(ir|ri)al(?!\w*\s*(cent|atom|carbon))", r"chirality", r"optical", r"enantiomer",
               r"mirror", r"superimpos", r"handed", r"\bmeso\b", r"racem"),
    "stereo_double_bonds": (r"could be", r"can be", r"capable", r"potential", r"possible",
                            r"stereogenic double", r"in total", r"\btotal\b", r"or not\b",
                            r"(and|or) (un|not )(defined|specified|assigned)"),
    "specified_stereo_double_bonds": (r"(?<!un)(?<!not )specifi?e?d\b",
                                      r"(?<!un)(?<!not )defined", r"(?<!un)(?<!not )assigned",
                                      r"explicit", r"\bgiven\b", r"\bcarry\b",
                                      r"(?<!not )\bis (set|given|known)\b"),
    "ez": (r"\blabels?\b", r"descriptors?", r"\bcis\b", r"\btrans\b", r"\b[ez] or [ez]\b",
           r"geometry", r"configuration"),
    "logp": (r"log\s?p", r"lipophil", r"partition", r"octanol", r"hydrophob", r"hydrophil",
             r"slogp"),
    "mr": (r"\bmr\b", r"refract", r"\bcmr\b", r"\bsmr\b", r"molmr"),
    "tpsa": (r"tpsa", r"\bpsa\b", r"polar surface", r"surface area"),
    "fsp3": (r"sp3", r"sp\^3", r"fraction (of )?saturat", r"(?<!un)saturation", r"csp3",
             r"hybridi"),
    "lipinski": (r"lipinski", r"rule of (five|5)", r"rule-of-(five|5)", r"\bro5\b",
                 r"drug[- ]?lik"),
    "lipinski_violations": (r"violat", r"\bbreak", r"breach", r"exceed", r"how many",
                            r"number of", r"\bcount", r"\btally", r"\bfail"),
    "veber": (r"veber", r"bioavailab"),
}  # fmt: skip


def _words_of(*items: str) -> tuple[str, ...]:
    """The :data:`ITEM_WORDS` of ``items``, in order (a line's words taken from its items)."""
    return tuple(w for k in items for w in ITEM_WORDS[k])


#: Words asking the ring kinds by name (read from the group list; see :data:`RING_TYPE_WORDS`).
RING_TYPE_PATTERNS: tuple[str, ...] = (
    r"\bring (types?|kinds?)\b",
    r"\b(types?|kinds?|sorts?) of rings?\b",
)

#: Line name -> regular expressions (case-insensitive, on the question without its SMILES).
LINE_WORDS: dict[str, tuple[str, ...]] = {
    "composition": (
        r"formula(?! weight)(?! mass)",  # "formula weight" is the molecular weight
        r"\bmf\b",
        r"composition",
        r"\batoms?\b",
        r"heavy",
        r"non-?\s?h(ydrogen)?\b",
        r"\bhac\b",
        r"nheavy",
        r"charge",
        r"charged",
        r"neutral",
        r"\bion(ic)?\b",
        r"cation",
        r"anion",
        r"zwitter",
        r"elements?",
        r"\bhow many [a-z]+ atoms",
        r"\bchg\b",
        r"\bnet\b",
        r"formal",
        r"empirical",
        r"nheavyatom",
        r"heavyatomcount",
        r"\bnatoms?\b",
        r"hetero-?\s?atoms?",
        r"triple bonds?",
    ),
    "mass": (
        r"weigh",
        r"mass",
        r"\bmw\b",
        r"\bm\.w\b",
        r"molar",
        r"g/mol",
        r"dalton",
        r"\bda\b",
        r"monoisotopic",
        r"\bexact\b",
        r"how heavy",
        r"molwt",
        r"\bmol\.? ?wt\b",
        r"\bamu\b",
        r"\bm/z\b",
        r"isotop",
    ),
    "rings": (
        r"\brings?\b",
        r"cycl",
        r"aromatic",
        r"aliphatic",
        r"fused",
        r"ring ?systems?",
        r"macro",
        r"ring size",
        r"membered",
        r"\bsssr\b",
        r"ringcount",
        r"\bn(arom|aliph)?rings?\b",
        r"\barom\b",
    ),
    "rotatable": (r"rotatable", r"rot\s?b", r"rotor", r"torsion", r"flexib", r"rotat"),
    "hbond": (*_words_of("hbd", "hba"), r"h[- ]?bond", r"hydrogen[- ]?bond"),
    "stereo": (
        r"stereo",
        r"chiral",
        r"chirality",
        r"asymmetric",
        r"\br/s\b",
        r"\bcip\b",
        r"configuration",
        r"enantiomer",
        r"optical",
        r"\b[rs]\b or \b[rs]\b",
        r"\(r\)|\(s\)",
        r"handed",
        r"meso",
        r"racem",
        r"epimer",
        r"ster\w*cent",
        r"chir|chri",
        r"mirror",
        r"superimpos",
        r"cahn|prelog|ingold",
        r"\bnchiral",
    ),
    "double_bonds": (
        r"\be/z\b",
        r"\bz/e\b",
        r"\bcis\b",
        r"\btrans\b",
        r"double bond",
        r"geometr",
        r"\be\b or \bz\b",
        r"\bz\b or \be\b",
        r"isomer",
    ),
    "descriptors": (*_words_of("logp", "mr", "tpsa", "fsp3"), r"crippen"),
    "rules": (*_words_of("lipinski", "veber"), r"violat"),
    "fragments": (
        r"fragm",
        r"\bfrags?\b",
        r"salt",
        r"counter-?ion",
        r"components?",
        r"mixture",
        r"disconnected",
        r"\bparts?\b",
        r"largest",
        r"parent",
        r"desalt",
        r"pieces?",
        r"separate",
    ),
    "groups": (
        r"functional",
        r"\bgroups?\b",
        r"moiet",
        r"substructure",
        r"\bclass\b",
        r"(kind|type|sort) of (molecule|compound|substance|chemical)",
        r"scaffold",
        r"features?\b",
        *RING_TYPE_PATTERNS,  # the ring kinds by name ("benzene ring"), not a count
    ),
    "bbb": (r"blood[- ]brain", r"\bbbb\b", r"\bbrain\b", r"\bcns\b", r"barrier"),
    "same": (r"\bsame\b", r"identical", r"stereoisomer"),
}

#: Line name -> words a misspelling of which still names the line (``rigns``, ``chrial``):
#: a question word of 5+ letters within difflib ratio :data:`FUZZY_RATIO` of one of them.
FUZZY_WORDS: dict[str, tuple[str, ...]] = {
    "composition": ("formula", "atoms", "heavy", "charge", "elements", "composition"),
    "mass": ("weight", "monoisotopic"),
    "rings": ("rings", "aromatic", "aliphatic", "cyclic", "macrocycle", "nrings", "naromrings"),
    "rotatable": ("rotatable",),
    "hbond": ("donors", "acceptors", "hydrogen-bond"),
    "stereo": ("stereocentres", "stereocenters", "chiral", "chirality", "configuration",
               "enantiomers", "stereogenic"),
    "double_bonds": ("isomerism", "geometry"),
    "descriptors": ("logp", "clogp", "lipophilicity", "refractivity", "polar", "surface",
                    "hybridised", "hybridized"),
    "rules": ("lipinski", "veber", "violations", "druglikeness"),
    "fragments": ("fragments", "components", "counterion"),
    "groups": ("functional", "groups", "moieties"),
    "bbb": ("barrier",),
}  # fmt: skip

#: Smallest difflib ratio at which a question word counts as a misspelt :data:`FUZZY_WORDS` word
#: ("molecule" / "molecular" is 0.82, so such near-homonyms are left out of the lists).
FUZZY_RATIO = 0.8

SMILES_CHARS = set("()[]=#@/\\0123456789")


#: Topics no structure answers, written from the train set's off-sheet kinds (measured physical
#: constants, spectra, pharmacology and clinical use, safety, history and people, commerce,
#: synthesis, appearance): a question naming one names no sheet fact even when it also uses a
#: sheet word ("Which research *group* discovered it?", "How many *mg* dissolve in water?", "Can
#: it be taken with *alcohol*?"), so it is declined rather than answered from the sheet.
OFF_SHEET_WORDS = re.compile(
    r"\bmelt|\bboil|\bfreez|flash ?point|flammab|\bdensity\b|vapou?r pressure|\bpk[ab]\b"
    r"|dissolv|solubility|\bsoluble\b|\bmg\b|\bml\b|\bexperiment|\bmeasured\b|\bin the lab\b"
    r"|\bnmr\b|chemical shifts?|carbon-13|\b13c\b|\b1h\b|(?<!mass )spectr|\bir band|\buv\b|fluoresc"
    r"|absorption max|crystal|space group|heat of|enthalp|combustion"
    r"|\bdos(e|es|age|ing)\b|prescri|tablet|clinical|\bpatients?\b|side effects?|adverse"
    r"|indication|used (to treat|for|as|in)\b|\btreat(s|ment)?\b|mechanism of action"
    r"|taken with|interact|half-?life|metabol|enzymes?|\bic50\b|\bbinds?\b|pregnan|breastfeed"
    r"|addict|abuse|\bld50\b|lethal|\btoxic|hazard|carcinogen|biodegrad|aquatic|persisten"
    r"|discover|invent|credited|first (made|synthesi[sz]ed|isolated|described|approved)"
    r"|\bwho (named|made|makes|discovered|invented|manufactures|synthesi[sz]ed)"
    r"|\bwhen was\b|\bin what year\b|\bhistory\b|patent|\bcas (number|registry|no)"
    r"|\bprice\b|\bcosts?\b|\bsales\b|\bsold\b|\bbuy\b|manufactur|company|brand|trade ?names?"
    r"|\bproduced each\b|best-?selling"
    r"|synthesi[sz]ed\b|synthesis route|how is .{0,60} (synthesi[sz]ed|made|prepared)"
    r"|\bsmell|\bodou?r|\btaste|\bcolou?r\b|\blook like\b|room temperature|\bstable in\b"
    r"|decompos|hydroly[sz]",
    re.IGNORECASE,
)

#: Words that ask for a number (for :func:`edtformer.facts.select.value_type`: "How many
#: stereocentres ...?" asks a count, not the labels); narrower than :data:`COUNTING_WORDS`, whose
#: ``nRings``-style shorthand also matches words such as "nothing".
ASKS_A_NUMBER = re.compile(r"how many|number of|\bcount(?!er)|\btally|\bnumeric", re.IGNORECASE)

#: Words that ask for the largest fragment itself (its SMILES), not the count of fragments: from
#: the train templates ("largest", "main component", "parent", "biggest", "which fragment
#: remains", "desalted", "without salts", "most heavy atoms").
LARGEST_FRAGMENT_WORDS = re.compile(
    r"larg|bigg|\bmain\b|parent|remain|desalt|strip|without (the )?salts?|most heavy"
    r"|\bsmiles\b|which (fragment|component|piece)",
    re.IGNORECASE,
)

#: Words that make a question about groups ask for the one *absent*: the train group-choice
#: wordings ("NOT present", "lack", "does not contain", "absent", "missing") and plain English
#: negation and exclusion ("without", "except", "nowhere", "odd one out").
ABSENT_WORDS = re.compile(
    r"\bnot\b|n't\b|\black|absent|missing|\bwithout\b|\bexcept\b|\bnowhere\b|\bnone of\b"
    r"|odd one out|\bexclud",
    re.IGNORECASE,
)

#: Words that ask for the whole sheet: "Describe this molecule", "What are its properties?".
WHOLE_SHEET_WORDS = re.compile(
    r"\bdescri(be|ption)|summar|overview|tell me about|properties|\bprofile\b|characteri[sz]e"
    r"|fact sheet|\ball (the )?facts|what do you know|what can you tell|everything",
    re.IGNORECASE,
)


#: Items that, once named, make the weaker words of others in their line not count:
#: "how many stereocentres, defined or not" asks the total, not the specified ones;
#: "whose configuration is missing" asks the unspecified ones, not the CIP labels.
ITEM_OVERRIDES: dict[str, tuple[str, ...]] = {
    "stereocentres": ("specified_stereocentres", "unspecified_stereocentres"),
    "unspecified_stereocentres": ("specified_stereocentres", "cip"),
    "stereo_double_bonds": ("specified_stereo_double_bonds",),
    "specified_stereo_double_bonds": ("ez",),
}

#: Lines narrowed to their named items (the others are always written whole).
NARROWED_LINES: dict[str, tuple[str, ...]] = {
    "composition": ("formula", "atoms", "heavy_atoms", "formal_charge"),
    "mass": ("mol_weight", "exact_mass"),
    "rings": ("rings", "aromatic_rings", "aliphatic_rings", "ring_systems", "largest_ring",
              "macrocycle"),
    "hbond": ("hbd", "hba"),
    "stereo": ("stereocentres", "specified_stereocentres", "unspecified_stereocentres", "cip",
               "chiral"),
    "double_bonds": ("stereo_double_bonds", "specified_stereo_double_bonds", "ez"),
    "descriptors": ("logp", "mr", "tpsa", "fsp3"),
    "rules": ("lipinski", "lipinski_violations", "veber"),
}  # fmt: skip

#: Items whose line-mates are written with them: the CIP labels with the stereocentre counts
#: (a 135M LLM lists "R,R,R" whole only when it reads how many centres there are); a count of
#: rule-of-five violations with its verdict.
ITEM_WITH: dict[str, tuple[str, ...]] = {
    "cip": ("stereocentres", "specified_stereocentres", "unspecified_stereocentres"),
    "lipinski_violations": ("lipinski",),
}


#: Words that make a line "named" though it is written whole (it has one item, or its items
#: are read together): a question naming none of a line's items or these drops that line when it
#: names items of another line ("How many hydrogen-bond donating groups?" reads the donors
#: only, not the group list its word "groups" selected).
LINE_NAMED: dict[str, tuple[str, ...]] = {
    "rotatable": (r".",),
    "bbb": (r".",),
    "same": (r".",),
    "fragments": (r"fragm", r"\bfrags?\b", r"salt", r"counter-?ion", r"components?", r"mixture",
                  r"disconnected", r"pieces?", r"desalt", r"\bparts\b", r"parent"),
    "groups": (r"functional", r"moiet", r"substructure", r"\bclass\b", r"scaffold",
               r"(kind|type|sort) of (molecule|compound|substance|chemical)",
               *RING_TYPE_PATTERNS,
               r"(?<!donating )(?<!accepting )(?<!donor )(?<!acceptor )\bgroups?\b"),
}  # fmt: skip

DOUBLE_BOND_WORDS = re.compile(
    r"double bonds?|\be/z\b|\bz/e\b|\bcis\b|\btrans\b|geometr|isomerism", re.I
)
CENTRE_WORDS = re.compile(
    r"ster\w*cent|stereogenic (cent|atom|carbon)|chiral|\bcip\b|\br/s\b|\b[rs] or [rs]\b"
    r"|tetrahedral|cahn|prelog|enantiomer|mirror",
    re.I,
)
CIP_STRONG_WORDS = re.compile(
    "|".join(w for w in ITEM_WORDS["cip"] if w not in (r"configuration", r"\blabels?\b")), re.I
)
#: Ring kinds asked by name ("the ring types", "what kinds of rings"): the group list's ring
#: names ("benzene ring", "piperidine ring"), not the ring count.
RING_TYPE_WORDS = re.compile("|".join(RING_TYPE_PATTERNS), re.I)
COUNTING_WORDS = re.compile(r"how many|number of|\bcount|\btally|\bn\b|\bn[a-z]{3,}", re.I)
COUNTED_CENTRE_WORDS = re.compile(
    r"ster\w*cent|stereogenic (cent|atom|carbon)|chiral (cent|atom|carbon)|asymmetric", re.I
)
H_NOT_ELEMENT_WORDS = re.compile(
    r"hydrogen[- ]?bond|h[- ]bond|heavy|ignoring hydrogens?|excluding hydrogens?|"
    r"not counting hydrogens?|other than hydrogen|non-?\s?h(ydrogen)?\b|without hydrogens?",
    re.I,
)


#: Items whose value is text (a JSON answer holding one is a string): the formula, the CIP and
#: E/Z labels ("S,R").
TEXT_ITEMS = frozenset({"formula", "cip", "ez"})
#: Companions written with a text item (:data:`ITEM_WITH`), not asked themselves.
COMPANIONS = frozenset(k for v in ITEM_WITH.values() for k in v)


#: Element symbols a chemist writes in a question ("Cl atoms", "number of N"), matched
#: case-sensitively; one-letter symbols only before "atom(s)" or as "nX" shorthand ("nN?").
TWO_LETTER_SYMBOLS = r"\b(Cl|Br|Na|Si|Se|Li|Mg|Ca|Zn|Fe|Cu|Al|As|Sn|Pt|Hg|Co|Gd|Bi|Ag|Au|Ti|Mn|Ni|Cr|Te|Ge|Sb|Ba|Sr|Cs|Rb|Be|Pd)\b"
ONE_LETTER_SYMBOLS = r"\b([CHNOSPFBIK])\b(?=\s*(?:-?\s*)atoms?\b)|\bn([CHNOSPFBIK])\b(?=\s*\?|\s*$)"


#: Counts the sheet writes only when asked (:data:`edtformer.facts.sheet.ASKED_COUNTS`).
ASKED_COUNT_WORDS: dict[str, re.Pattern[str]] = {
    "double_bonds": re.compile(r"\bdouble bonds?\b|\bc=c bonds\b", re.I),
    "triple_bonds": re.compile(r"\btriple bonds?\b", re.I),
    "heteroatoms": re.compile(r"\bhetero-?\s?atoms?\b", re.I),
}
#: Words that make "double bond" a question about E/Z, not a count of double bonds.
STEREO_BOND_WORDS = re.compile(
    r"stereo|ster\w{0,3}o\b|\be/z\b|\bz/e\b|\bcis\b|\btrans\b|geometr|specified|defined|assigned|isomer|"
    r"\b[ez] or [ez]\b|configuration|label",
    re.I,
)

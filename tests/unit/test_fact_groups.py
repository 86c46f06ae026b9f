"""The functional-group / class vocabulary (edtformer.facts.groups): every rule on hand-picked molecules."""

from __future__ import annotations

import pytest
from rdkit import Chem

from edtformer.facts.groups import GROUP_RULES, GroupRule, group_counts, present_groups, rule

PENICILLIN_G = "CC1(C)S[C@@H]2[C@H](NC(=O)Cc3ccccc3)C(=O)N2[C@H]1C(=O)O"
CHOLESTEROL = "CC(C)CCC[C@@H](C)[C@H]1CC[C@H]2[C@@H]3CC=C4C[C@@H](O)CC[C@]4(C)[C@H]3CC[C@]12C"
TESTOSTERONE = "C[C@]12CC[C@H]3[C@@H](CCC4=CC(=O)CC[C@]34C)[C@@H]1CC[C@@H]2O"
GLUCOSE = "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O"
CAFFEINE = "Cn1cnc2c1c(=O)n(C)c(=O)n2C"
PINACOL_BORONATE = "CC1(C)OB(c2ccccc2)OC1(C)C"

#: name -> (a molecule with it, a molecule without it); the negative is a near miss where one exists.
CASES: dict[str, tuple[str, str]] = {
    "alkene": ("C=CC", "c1ccccc1"),
    "alkyne": ("CC#C", "CC#N"),
    "alcohol": ("CCO", "Oc1ccccc1"),
    "phenol": ("Oc1ccccc1", "OCc1ccccc1"),
    "enol": ("CC(O)=CC", "CC(C)=O"),
    "catechol": ("Oc1ccccc1O", "Oc1cccc(O)c1"),
    "ether": ("CCOCC", "CC(=O)OC"),
    "enol ether": ("C=COC", "C=COC(C)=O"),
    "epoxide": ("CC1CO1", "C1CCO1"),
    "acetal": ("CC(OC)OC", "CC(O)OC"),
    "hemiacetal": ("CC(O)OC", "CC(OC)OC"),
    "peroxide": ("CCOOCC", "CCOCC"),
    "aldehyde": ("CC=O", "CC(C)=O"),
    "ketone": ("CC(C)=O", "CC(=O)OC"),
    "carboxylic acid": ("CC(=O)O", "[Na+].[O-]C(=O)C"),
    "carboxylate": ("[Na+].[O-]C(=O)C", "CC(=O)O"),
    "ester": ("CC(=O)OC", "CC(=O)OC(C)=O"),
    "lactone": ("O=C1CCCO1", "CC(=O)OC"),
    "anhydride": ("CC(=O)OC(C)=O", "CC(=O)OC"),
    "acyl halide": ("CC(=O)Cl", "ClCC(C)=O"),
    "amide": ("CC(N)=O", "NC(N)=O"),
    "lactam": ("O=C1CCCN1", "CC(=O)NC"),
    "imide": ("O=C1CCC(=O)N1", "CC(=O)NC"),
    "carbamate": ("CNC(=O)OC", "CNC(=O)NC"),
    "carbonate": ("COC(=O)OC", "COC(C)=O"),
    "urea": ("NC(N)=O", "CC(N)=O"),
    "michael acceptor": ("C=CC(C)=O", "C=CCC(C)=O"),
    "isocyanate": ("CN=C=O", "CN=C=S"),
    "primary amine": ("CCN", "CC(N)=O"),
    "secondary amine": ("CNC", "CN(C)C"),
    "tertiary amine": ("CN(C)C", "C[N+](C)(C)C"),
    "quaternary ammonium": ("C[N+](C)(C)C", "C[NH+](C)C"),
    "enamine": ("CC=CN(C)C", "CCCN(C)C"),
    "imine": ("CC=NC", "CC=NO"),
    "oxime": ("CC=NO", "CC=NC"),
    "hydrazone": ("CC=NN", "CC=NC"),
    "hydrazine": ("CNN", "CC(=O)NN"),
    "azo": ("c1ccc(N=Nc2ccccc2)cc1", "c1ccc(NNc2ccccc2)cc1"),
    "azide": ("CN=[N+]=[N-]", "C=[N+]=[N-]"),
    "nitrile": ("CC#N", "CC#C"),
    "nitro": ("C[N+](=O)[O-]", "CO[N+](=O)[O-]"),
    "nitroso": ("CN(C)N=O", "C[N+](=O)[O-]"),
    "n-oxide": ("C[N+](C)(C)[O-]", "C[N+](=O)[O-]"),
    "guanidine": ("NC(N)=N", "NC(N)=O"),
    "amidine": ("CC(N)=N", "NC(N)=N"),
    "isothiocyanate": ("CN=C=S", "CN=C=O"),
    "thiol": ("CCS", "CCSC"),
    "thioether": ("CSC", "c1ccsc1"),
    "disulfide": ("CSSC", "CSC"),
    "thioester": ("CC(=O)SC", "CC(=O)OC"),
    "thioamide": ("CC(N)=S", "CC(N)=O"),
    "thiourea": ("NC(N)=S", "NC(N)=O"),
    "sulfoxide": ("CS(C)=O", "CS(C)(=O)=O"),
    "sulfone": ("CS(C)(=O)=O", "CS(C)=O"),
    "sulfonamide": ("CS(N)(=O)=O", "CS(C)(=O)=O"),
    "sulfonic acid": ("CS(=O)(=O)O", "[Na+].CS(=O)(=O)[O-]"),
    "sulfonate": ("[Na+].CS(=O)(=O)[O-]", "CS(=O)(=O)O"),
    "phosphate": ("COP(=O)(O)O", "CP(=O)(O)O"),
    "phosphonate": ("CP(=O)(O)O", "COP(=O)(O)O"),
    "boronic acid": ("OB(O)c1ccccc1", PINACOL_BORONATE),
    "boronic ester": (PINACOL_BORONATE, "OB(O)c1ccccc1"),
    "fluorine": ("CF", "CCl"),
    "chlorine": ("CCl", "CBr"),
    "bromine": ("CBr", "CI"),
    "iodine": ("CI", "CF"),
    "trifluoromethyl": ("CC(F)(F)F", "CC(F)F"),
    "benzene ring": ("Cc1ccccc1", "c1ccncc1"),
    "pyridine ring": ("c1ccncc1", "c1cncnc1"),
    "pyrimidine ring": ("c1cncnc1", "c1cnccn1"),
    "pyrazine ring": ("c1cnccn1", "c1ccnnc1"),
    "pyridazine ring": ("c1ccnnc1", "c1cncnc1"),
    "pyrrole ring": ("c1cc[nH]c1", "c1ccoc1"),
    "furan ring": ("c1ccoc1", "C1CCOC1"),
    "thiophene ring": ("c1ccsc1", "c1ccoc1"),
    "imidazole ring": ("c1c[nH]cn1", "c1cn[nH]c1"),
    "pyrazole ring": ("c1cn[nH]c1", "c1c[nH]cn1"),
    "oxazole ring": ("c1cocn1", "c1cnoc1"),
    "isoxazole ring": ("c1cnoc1", "c1cocn1"),
    "thiazole ring": ("c1cscn1", "c1cnsc1"),
    "triazole ring": ("c1nc[nH]n1", "c1nn[nH]n1"),
    "tetrazole ring": ("c1nn[nH]n1", "c1nc[nH]n1"),
    "indole ring": ("c1ccc2[nH]ccc2c1", "c1ccc2[nH]cnc2c1"),
    "quinoline ring": ("c1ccc2ncccc2c1", "c1ccc2cnccc2c1"),
    "isoquinoline ring": ("c1ccc2cnccc2c1", "c1ccc2ncccc2c1"),
    "benzimidazole ring": ("c1ccc2[nH]cnc2c1", "c1ccc2[nH]ccc2c1"),
    "purine ring": ("c1ncc2[nH]cnc2n1", "c1ccc2[nH]cnc2c1"),
    "naphthalene ring": ("c1ccc2ccccc2c1", "c1ccc(-c2ccccc2)cc1"),
    "piperidine ring": ("C1CCNCC1", "c1ccncc1"),
    "piperazine ring": ("C1CNCCN1", "C1CCNCC1"),
    "morpholine ring": ("C1COCCN1", "C1CNCCN1"),
    "pyrrolidine ring": ("C1CCNC1", "c1cc[nH]c1"),
    "tetrahydrofuran ring": ("C1CCOC1", "c1ccoc1"),
    "tetrahydropyran ring": ("C1CCOCC1", "C1CCOC1"),
    "cyclopropane ring": ("CC1CC1", "C1CCC1"),
    "cyclobutane ring": ("C1CCC1", "C1CC1"),
    "cyclopentane ring": ("C1CCCC1", "C1CCCCC1"),
    "cyclohexane ring": ("C1CCCCC1", "C1=CCCCC1"),
    "beta-lactam ring": (PENICILLIN_G, "O=C1CCCN1"),
    "amino acid": ("C[C@H](N)C(=O)O", "NCCC(=O)O"),
    "carbohydrate": (GLUCOSE, "OC1CCCCC1"),
    "nucleobase": ("Nc1ncnc2[nH]cnc12", CAFFEINE),
    "steroid core": (CHOLESTEROL, "c1ccc2ccccc2c1"),
    "heteroaromatic ring": ("c1ccncc1", "C1CCNCC1"),
    "hydroxyl": ("CCO", "CCOC"),
    "carbonyl": ("CC(C)=O", "CCO"),
    "amine": ("Nc1ccccc1", "CC(N)=O"),
    "halide": ("CCl", "CC"),
    "aromatic ring": ("c1ccccc1", "C1CCCCC1"),
    "heterocycle": ("C1CCOC1", "C1CCCCC1"),
}

EDGE_CASES = [
    "[Na+].[O-]C(=O)C",
    "C[N+](C)(C)C.[Cl-]",
    "[2H]C([2H])O",
    "[H]OC([H])([H])[H]",
    "*CC(=O)O",
    "*1CCCCC1",
    "O",
    "N",
    "[Na+].[Cl-]",
    "[Fe+2].[Cl-].[Cl-]",
    "[CH3]",
    "C1CCCCCCCCCCCCCCCCCCCCCCCCCCCC1",
    "O=C1CCCCCCCCCCCCCCCCCCCN1",
    "",
]


def counts(smiles: str) -> dict[str, int]:
    mol = Chem.MolFromSmiles(smiles)
    assert mol is not None, smiles
    return group_counts(mol)


def test_table_size_and_names() -> None:
    names = [r.name for r in GROUP_RULES]
    assert len(names) >= 60
    assert len(set(names)) == len(names)
    assert all(n == n.lower() and n.strip() == n for n in names)
    assert {r.kind for r in GROUP_RULES} == {"group", "ring", "class", "umbrella"}
    assert all(r.doc for r in GROUP_RULES)
    assert all((r.smarts is None) != (r.func is None) for r in GROUP_RULES)


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == {r.name for r in GROUP_RULES}


@pytest.mark.parametrize("name", list(CASES))
def test_rule_positive_and_negative(name: str) -> None:
    with_it, without_it = CASES[name]
    assert counts(with_it).get(name, 0) >= 1, (name, with_it, counts(with_it))
    assert name not in counts(without_it), (name, without_it, counts(without_it))


@pytest.mark.parametrize("name", list(CASES))
def test_umbrellas_follow_their_members(name: str) -> None:
    for smiles in CASES[name]:
        c = counts(smiles)
        if {"alcohol", "phenol", "enol", "carboxylic acid"} & set(c):
            assert "hydroxyl" in c, smiles
        if {"primary amine", "secondary amine", "tertiary amine"} & set(c):
            assert "amine" in c, smiles
        if {"fluorine", "chlorine", "bromine", "iodine"} & set(c):
            assert "halide" in c, smiles
        if {"ketone", "aldehyde", "ester", "amide", "carboxylic acid", "carboxylate"} & set(c):
            assert "carbonyl" in c, smiles
        if {"heteroaromatic ring", "pyridine ring", "piperidine ring", "furan ring"} & set(c):
            assert "heterocycle" in c, smiles


def test_present_groups_sorted_and_counts_in_table_order() -> None:
    mol = Chem.MolFromSmiles("OC(=O)c1ccccc1O")  # salicylic acid
    names = present_groups(mol)
    assert names == sorted(names)
    assert {"carboxylic acid", "phenol", "benzene ring", "hydroxyl", "carbonyl"} <= set(names)
    order = [r.name for r in GROUP_RULES]
    keys = list(group_counts(mol))
    assert keys == sorted(keys, key=order.index)


def test_aliases_resolve() -> None:
    for r in GROUP_RULES:
        assert rule(r.name) is r
        assert rule(r.name.upper()) is r
        for alias in r.aliases:
            assert rule(alias) is r, alias
    assert rule("COOH").name == "carboxylic acid"
    assert rule("  Carboxyl ").name == "carboxylic acid"
    assert rule("chloro").name == "chlorine"
    assert rule("β-lactam").name == "beta-lactam ring"
    assert isinstance(rule("ketal"), GroupRule)


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(KeyError, match="carboxylic acid"):
        rule("carboxylic acd")
    with pytest.raises(KeyError):
        rule("flux capacitor")


@pytest.mark.parametrize("smiles", ["CCO", "Oc1ccccc1", "CC(=O)O"])
def test_hydroxyl_umbrella(smiles: str) -> None:
    assert "hydroxyl" in counts(smiles)


@pytest.mark.parametrize("smiles", ["CC(C)=O", "CC(=O)O", "CC(N)=O"])
def test_carbonyl_umbrella(smiles: str) -> None:
    assert "carbonyl" in counts(smiles)


def test_amine_umbrella() -> None:
    assert "amine" in counts("Nc1ccccc1")
    assert "amine" not in counts("CC(N)=O")
    assert counts("NCCN(C)C")["amine"] == 2
    assert "amine" not in counts("c1ccncc1")  # aromatic ring N is not an amine


@pytest.mark.parametrize("smiles", EDGE_CASES)
def test_edge_cases_never_raise(smiles: str) -> None:
    mol = Chem.MolFromSmiles(smiles)
    assert mol is not None
    assert isinstance(group_counts(mol), dict)
    assert present_groups(mol) == sorted(group_counts(mol))


def test_edge_case_answers() -> None:
    assert "carboxylate" in counts("[Na+].[O-]C(=O)C")
    assert counts("[2H]C([2H])O")["alcohol"] == 1
    assert counts("[H]OC([H])([H])[H]")["alcohol"] == 1
    assert group_counts(Chem.AddHs(Chem.MolFromSmiles("CC(=O)O")))["carboxylic acid"] == 1
    assert counts("O") == {}
    assert counts("N") == {}
    assert counts("[Na+].[Cl-]") == {"chlorine": 1, "halide": 1}
    assert "heterocycle" not in counts("*1CCCCC1")


def test_unsanitised_and_query_molecules_do_not_raise() -> None:
    raw = Chem.MolFromSmiles("OC1CCCCC1", sanitize=False)
    assert group_counts(raw)["alcohol"] == 1
    assert isinstance(group_counts(Chem.MolFromSmarts("[#6]~[#8]")), dict)
    assert group_counts(Chem.Mol()) == {}


def test_counts() -> None:
    assert counts("CCOC(=O)CC(=O)OCC")["ester"] == 2
    assert counts("c1ccc2ccccc2c1")["benzene ring"] == 2
    assert counts("ClC(Cl)Cl")["chlorine"] == 3
    assert counts("ClC(Cl)Cl")["halide"] == 3
    assert "trifluoromethyl" not in counts("FC(F)(F)F")
    assert counts("FC(F)(F)c1ccc(C(F)(F)F)cc1")["trifluoromethyl"] == 2
    assert counts("c1nn[nH]c1")["triazole ring"] == 1  # 1,2,3-triazole
    assert counts("c1ccc(-c2cn[nH]n2)nc1")["heteroaromatic ring"] == 2
    assert counts("C1CCC2CCCCC2C1")["cyclohexane ring"] == 2  # decalin


def test_ring_rule_needs_a_real_ring() -> None:
    # norbornane: two five-rings; its outer six-cycle is not a ring of the ring set
    c = counts("C1CC2CCC1C2")
    assert c.get("cyclopentane ring") == 2
    assert "cyclohexane ring" not in c


@pytest.mark.parametrize(
    "smiles", [CHOLESTEROL, TESTOSTERONE, "C[C@]12CC[C@H]3[C@@H](CCc4cc(O)ccc43)[C@@H]1CC[C@@H]2O"]
)
def test_steroid_core(smiles: str) -> None:
    assert counts(smiles)["steroid core"] == 1


def test_steroid_core_negatives() -> None:
    assert "steroid core" not in counts("c1ccc2ccccc2c1")
    assert "steroid core" not in counts("c1ccc2c(c1)ccc1ccccc12")  # phenanthrene


@pytest.mark.parametrize(
    "smiles",
    ["C[C@H](N)C(=O)O", "N[C@@H](CO)C(=O)O", "C[C@H]([NH3+])C(=O)[O-]", "OC(=O)[C@@H]1CCCN1"],
)
def test_amino_acid(smiles: str) -> None:
    assert counts(smiles)["amino acid"] == 1


@pytest.mark.parametrize(
    "smiles",
    [
        "NCCC(=O)O",  # beta-alanine: the rule is alpha only
        "CC(=O)N[C@@H](C)C(=O)N",  # acylated N, amide C
        "C[N+](C)(C)CC(=O)[O-]",  # betaine: quaternary N
    ],
)
def test_not_amino_acid(smiles: str) -> None:
    assert "amino acid" not in counts(smiles)


def test_carbohydrate() -> None:
    assert counts(GLUCOSE)["carbohydrate"] == 1
    assert (
        counts("OC[C@H]1O[C@@](CO)(O[C@H]2O[C@H](CO)[C@@H](O)[C@H](O)[C@H]2O)[C@@H](O)[C@@H]1O")[
            "carbohydrate"
        ]
        == 2
    )  # sucrose
    assert (
        counts("OC[C@H]1O[C@@H](n2cnc3c(N)ncnc32)[C@H](O)[C@@H]1O")["carbohydrate"] == 1
    )  # adenosine
    atp = "Nc1ncnc2c1ncn2[C@@H]1O[C@H](COP(=O)(O)OP(=O)(O)OP(=O)(O)O)[C@@H](O)[C@H]1O"
    assert counts(atp)["carbohydrate"] == 1  # 5'-O-phosphate counts as an oxygen-bearing carbon
    assert (
        counts("CC(=O)OC[C@H]1OC(OC(C)=O)[C@H](OC(C)=O)[C@@H](OC(C)=O)[C@@H]1OC(C)=O")[
            "carbohydrate"
        ]
        == 1
    )
    assert "carbohydrate" not in counts("OC1CCCCC1")
    assert "carbohydrate" not in counts(
        "OC1CCCCO1"
    )  # 2-hydroxytetrahydropyran: one O-bearing carbon
    assert "carbohydrate" not in counts("OC1C(O)C(O)C(O)C(O)C1O")  # inositol: no ring O
    assert "carbohydrate" not in counts("C1CCOC1")


@pytest.mark.parametrize(
    "smiles",
    [
        "Nc1ncnc2[nH]cnc12",  # adenine
        "Nc1nc2[nH]cnc2c(=O)[nH]1",  # guanine
        "Nc1cc[nH]c(=O)n1",  # cytosine
        "Cc1c[nH]c(=O)[nH]c1=O",  # thymine
        "O=c1cc[nH]c(=O)[nH]1",  # uracil
        "OC[C@H]1O[C@@H](n2cnc3c(N)ncnc32)[C@H](O)[C@@H]1O",  # adenosine
    ],
)
def test_nucleobase(smiles: str) -> None:
    assert counts(smiles)["nucleobase"] == 1


@pytest.mark.parametrize(
    "smiles",
    [
        CAFFEINE,
        "O=C1NC(=O)C(CC)(c2ccccc2)C(=O)N1",
        "c1ncc2[nH]cnc2n1",
        "O=c1[nH]c(=O)c2ccccc2[nH]1",
    ],
)
def test_not_nucleobase(smiles: str) -> None:
    assert "nucleobase" not in counts(smiles)  # caffeine, phenobarbital, purine, quinazolinedione


def test_beta_lactam_on_penicillin() -> None:
    c = counts(PENICILLIN_G)
    assert c["beta-lactam ring"] == 1
    assert c["lactam"] == 1
    assert c["amide"] == 2

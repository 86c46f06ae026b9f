"""Fact tokens: the writer's layout, its vocabulary, and the bridge that appends them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from edtformer.bridge import build_connector, tiny
from edtformer.bridge.facts import (
    EZ_SLOTS,
    GROUP_SLOTS,
    RS_SLOTS,
    WRITTEN_COUNTS,
    FactLogits,
    FactWriter,
    n_fact_slots,
)
from edtformer.data.facts import FUNCTIONAL_GROUPS
from edtformer.errors import EdtError

D = 16
GROUPS = list(FUNCTIONAL_GROUPS)


class _WordTokenizer:
    """Splits on spaces; one id per distinct piece (digits without their space)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        pieces = text.split() if text.strip() else [text]
        return {"input_ids": [self.ids.setdefault(p, len(self.ids)) for p in pieces]}


class _SubwordTokenizer:
    """Cuts each space-led word into pieces of at most 4 characters (" carboxylic" ->
    " car", "boxy", "lic"); ``decode`` gives a piece back."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        pieces = []
        for i, word in enumerate(text.split(" ")):
            word = f" {word}" if i else word
            pieces += [word[k : k + 4] for k in range(0, len(word), 4)]
        return {"input_ids": [self.ids.setdefault(p, len(self.ids)) for p in pieces if p]}

    def decode(self, ids: list[int]) -> str:
        back = {i: p for p, i in self.ids.items()}
        return "".join(back[i] for i in ids)


def _writer(
    llm_width: int = 8, stereo: bool = False, ez_slots: int = EZ_SLOTS
) -> tuple[FactWriter, _WordTokenizer, nn.Embedding]:
    torch.manual_seed(0)
    writer = FactWriter((D, 4), llm_width, GROUPS, hidden=12, stereo=stereo, ez_slots=ez_slots)
    tok, emb = _WordTokenizer(), nn.Embedding(200, llm_width)
    writer.set_vocabulary(emb, tok)
    return writer, tok, emb


def _logits(groups: list[str], counts: dict[str, int]) -> FactLogits:
    g = torch.full((1, len(GROUPS)), -5.0)
    for name in groups:
        g[0, GROUPS.index(name)] = 5.0
    cs = []
    for name, (_, n) in WRITTEN_COUNTS.items():
        c = torch.zeros(1, n)
        c[0, counts.get(name, 0)] = 9.0
        cs.append(c)
    return FactLogits(g, cs)


def test_layout_reads_as_text() -> None:
    writer, _, _ = _writer()
    ids = writer.word_ids(
        _logits(["benzene ring", "ester", "carboxylic acid"], {"n_rings": 1, "heavy_atoms": 13})
    )
    assert ids.shape == (1, n_fact_slots()) == (1, GROUP_SLOTS + 5 * 2 + 2 * 3)
    text = writer.describe(ids)[0]
    # groups in FUNCTIONAL_GROUPS order, then each count's label and digits
    assert text.startswith("carboxylic acid ester benzene ring | rings 1 aromatic rings 0")
    assert "acceptors 0" in text and "heavy atoms 1 3" in text and text.endswith("stereocentres 0")


def test_no_groups_and_too_many_groups() -> None:
    writer, _, _ = _writer()
    assert writer.describe(writer.word_ids(_logits([], {})))[0].startswith("none |")
    ids = writer.word_ids(_logits(GROUPS[:12], {}))
    words = [writer.words[i] for i in ids[0, :GROUP_SLOTS].tolist()]
    assert words == GROUPS[:GROUP_SLOTS]  # the first GROUP_SLOTS present groups are kept


def test_vocabulary_rows_are_mean_word_embeddings() -> None:
    writer, tok, emb = _writer()
    row = writer.words.index("carboxylic acid")
    expected = emb.weight[[tok.ids["carboxylic"], tok.ids["acid"]]].mean(0)
    assert torch.allclose(writer.vocab[row], expected)
    assert "vocab" not in writer.state_dict()  # rebuilt from the LLM, never saved
    fresh = FactWriter((D, 4), 8, GROUPS, hidden=12)
    with pytest.raises(RuntimeError, match="set_vocabulary"):
        fresh([torch.zeros(1, 3, D), torch.zeros(1, 3, 4)], torch.ones(1, 3, dtype=torch.bool))


def test_tokens_are_hard_but_the_logits_learn() -> None:
    writer, _, _ = _writer()
    feats = [torch.randn(2, 5, D, requires_grad=True), torch.randn(2, 5, 4)]
    mask = torch.ones(2, 5, dtype=torch.bool)
    mask[1, 3:] = False
    tokens, logits, ids = writer(feats, mask)
    assert torch.equal(tokens, writer.vocab[ids])
    group_logits = logits.groups
    assert tokens.shape == (2, n_fact_slots(), 8) and not tokens.requires_grad
    assert group_logits.requires_grad and len(logits.counts) == len(WRITTEN_COUNTS)
    # every token is one vocabulary row
    assert (tokens.reshape(-1, 1, 8) == writer.vocab).all(-1).any(-1).all()
    # padding atoms do not change the prediction
    padded = [torch.cat([f, torch.randn(2, 2, f.shape[2])], dim=1) for f in feats]
    mask2 = torch.cat([mask, torch.zeros(2, 2, dtype=torch.bool)], dim=1)
    assert torch.allclose(writer.predict(padded, mask2).groups, group_logits, atol=1e-5)


@pytest.mark.parametrize(
    ("stereo", "spelled", "pair", "ez"),
    [(False, 0, False, 3), (True, 0, False, 3), (True, 12, True, 3), (True, 0, False, 8)],
)
def test_bridge_appends_fact_tokens_after_the_queries(
    stereo: bool, spelled: int, pair: bool, ez: int
) -> None:
    cfg = tiny(
        fact_tokens=True,
        fact_stereo=stereo,
        fact_ez_slots=ez,
        fact_pair=pair,
        fact_group_tokens=spelled,
        fact_groups=tuple(GROUPS),
        encoder_widths=(D,),
        llm_width=8,
    )
    bridge = build_connector(cfg).eval()
    assert bridge.facts is not None
    bridge.facts.set_vocabulary(nn.Embedding(300, 8), _SubwordTokenizer())
    feats = [torch.randn(2, 6, D)]
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 4:] = False
    patch = torch.tensor([[0, 0, 1, 1, 2, 2], [0, 1, 1, 2, -1, -1]])
    out = bridge(feats, mask, patch)
    n_q = out.query_states.shape[1]
    f = n_fact_slots(stereo, spelled, pair=pair, ez_slots=ez)
    assert out.tokens.shape[1] == n_q + f
    assert out.state_mask.shape == (2, n_q) and out.fact_logits is not None
    assert torch.equal(out.n_tokens, bridge.num_tokens(mask, patch))
    unpadded = out.unpad()
    assert all(torch.equal(t[-f:], out.tokens[b, n_q:]) for b, t in enumerate(unpadded))


def test_spelled_groups_are_the_llms_own_subword_rows() -> None:
    torch.manual_seed(0)
    writer = FactWriter((D, 4), 8, GROUPS, hidden=12, group_tokens=16)
    tok, emb = _SubwordTokenizer(), nn.Embedding(300, 8)
    writer.set_vocabulary(emb, tok)
    ids = writer.word_ids(_logits(["ester", "carboxylic acid", "benzene ring"], {"n_rings": 1}))
    assert ids.shape == (1, n_fact_slots(group_tokens=16)) == (1, 16 + 5 * 2 + 2 * 3)
    text = writer.describe(ids)[0]
    assert text.startswith("benzene ring, carboxylic acid, ester | rings 1 ")  # alphabetical
    # the slots are exactly the LLM's rows of each name's tokens and of ","
    want = [
        i
        for t in (" benzene ring", ",", " carboxylic acid", ",", " ester")
        for i in tok(t)["input_ids"]
    ]
    n = len(want)
    assert torch.equal(writer.vocab[ids[0, :n]], emb.weight.detach()[want])
    assert writer.describe(writer.word_ids(_logits([], {})))[0].startswith("none |")
    # more groups than fit: only whole names, in alphabetical order
    text = writer.describe(writer.word_ids(_logits(GROUPS, {})))[0].split(" | ")[0]
    names = text.split(", ")
    assert names == sorted(GROUPS)[: len(names)] and 1 <= len(names) < len(GROUPS)
    fresh = FactWriter((D,), 8, GROUPS, group_tokens=16)
    with pytest.raises(RuntimeError, match="set_vocabulary"):
        fresh.word_ids(_logits(["ester"], {}))
    with pytest.raises(EdtError, match="fact_group_tokens needs fact_tokens"):
        tiny(fact_group_tokens=8)


def test_bbb_estimate_is_written_as_a_decile() -> None:
    torch.manual_seed(0)
    writer = FactWriter((D, 4), 8, GROUPS, hidden=12, bbb=True)
    writer.set_vocabulary(nn.Embedding(200, 8), _WordTokenizer())
    feats = [torch.randn(3, 5, D), torch.randn(3, 5, 4)]
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[2, 3:] = False
    pooled = writer.pool_mean_max(feats, mask)
    assert pooled.shape == (3, 2 * (D + 4))
    # the max ignores padding atoms
    assert torch.allclose(pooled[2, D + 4 : 2 * D + 4], feats[0][2, :3].amax(0))
    logits = writer.predict(feats, mask)
    assert logits.bbb is not None and logits.bbb.shape == (3,)
    base = _logits([], {})
    for logit, digit in ((-9.0, "0"), (0.1, "5"), (9.0, "9")):
        ids = writer.word_ids(base._replace(bbb=torch.tensor([logit])))
        assert ids.shape == (1, n_fact_slots(bbb=True)) == (1, n_fact_slots() + 2)
        assert writer.describe(ids)[0].endswith(f"blood-brain barrier {digit}")
    with pytest.raises(ValueError, match="blood-brain-barrier logit"):
        writer.word_ids(base)
    with pytest.raises(EdtError, match="fact_bbb needs fact_tokens"):
        tiny(fact_bbb=True)


def test_fact_tokens_need_a_query_transformer() -> None:
    with pytest.raises(EdtError, match="fact_tokens needs a query-transformer"):
        tiny(connector="mlp", fact_tokens=True)
    with pytest.raises(ValueError, match="functional-group names"):
        FactWriter((D,), 8, ())
    with pytest.raises(EdtError, match="fact_stereo needs fact_tokens"):
        tiny(fact_stereo=True)


def test_stereo_slots_list_centres_in_atom_order() -> None:
    writer, _, _ = _writer(stereo=True)
    atoms = torch.zeros(2, 12, 6)
    atoms[..., 0] = atoms[..., 3] = 1.0  # every atom: not a centre, no E/Z bond
    for a, c in ((2, 1), (5, 2), (9, 1)):  # molecule 0: R at 2, S at 5, R at 9
        atoms[0, a, c] = 5.0
    atoms[0, [4, 6], 5] = 5.0  # Z bond 4=6 and E bond 7=8, labelled on both ends
    atoms[0, [7, 8], 4] = 5.0
    atoms[1, 11, 2] = 5.0  # molecule 1: S on a padding atom, which must not count
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 10:] = False
    logits = _logits([], {"n_stereocentres": 3})
    logits = FactLogits(
        logits.groups.expand(2, -1), [c.expand(2, -1) for c in logits.counts], atoms
    )
    ids = writer.word_ids(logits, mask)
    assert ids.shape == (2, n_fact_slots(stereo=True))
    assert n_fact_slots(stereo=True) == n_fact_slots() + RS_SLOTS + EZ_SLOTS
    texts = writer.describe(ids)
    assert texts[0].endswith("stereocentres 3 R S R Z E") and texts[1].endswith("stereocentres 3")


def test_more_ez_slots_write_a_polyenes_whole_label_list() -> None:
    """Five stereo double bonds: 3 slots write the first three labels, 6 slots all five (then a
    filler); the slot count follows, and the config refuses 0."""
    atoms = torch.zeros(1, 14, 6)
    atoms[..., 0] = atoms[..., 3] = 1.0
    for k, c in enumerate((4, 4, 5, 4, 5)):  # bonds 0=1, 2=3, ... : E E Z E Z
        atoms[0, [2 * k, 2 * k + 1], c] = 5.0
    base = _logits([], {})
    logits = FactLogits(base.groups, base.counts, atoms)
    for slots, tail in ((3, "stereocentres 0 E E Z"), (6, "stereocentres 0 E E Z E Z")):
        writer, _, _ = _writer(stereo=True, ez_slots=slots)
        ids = writer.word_ids(logits, torch.ones(1, 14, dtype=torch.bool))
        assert ids.shape == (1, n_fact_slots(stereo=True, ez_slots=slots))
        assert writer.describe(ids)[0].endswith(tail)
    assert n_fact_slots(stereo=True, ez_slots=6) == n_fact_slots(stereo=True) + 3
    with pytest.raises(ValueError, match="ez_slots"):
        _writer(stereo=True, ez_slots=0)
    with pytest.raises(EdtError, match="fact_ez_slots"):
        tiny(fact_tokens=True, fact_stereo=True, fact_ez_slots=0)


def test_atom_labels_follow_the_canonical_order() -> None:
    from edtformer.bridge.facts import CIP_CLASSES, EZ_CLASSES
    from edtformer.training.recipe import atom_labels

    # L-alanine written two ways, and an E double bond
    labels = atom_labels(["C[C@H](N)C(=O)O", "N[C@@H](C)C(=O)O", "C/C=C/C"])
    assert labels.shape[0] == 3 and labels.shape[2] == 4
    assert torch.equal(labels[0], labels[1])  # writing-invariant
    assert [CIP_CLASSES[int(c)] for c in labels[0, :, 0] if c > 0] == ["S"]
    assert [EZ_CLASSES[int(c)] for c in labels[2, :, 1] if c > 0] == ["E", "E"]  # both ends
    assert int((labels[2, :, 0] == -100).sum()) == labels.shape[1] - 4  # 4 atoms, rest padding
    assert (labels[0, :6, 2] >= 0).all() and int(labels[0, :6, 3].sum()) == 7  # alanine: 7 H


def test_bbb_read_out_is_a_logistic_regression_chosen_on_valid(tmp_path: Path) -> None:
    """fit_bbb_head: standardised mean + max features, C chosen by valid ROC-AUC, copied into
    the writer, frozen; the writer's logits are the regression's decision function."""
    import json
    from types import SimpleNamespace

    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from edtformer.chem import parse_smiles
    from edtformer.training.recipe import BBB_C_GRID, fit_bbb_head, readout_yes_prob

    # a molecule's "encoder features": its number of N and O atoms decide its label
    def smiles(i: int) -> str:
        return "C" * (1 + i % 7) + "N" * (i % 3) + "O" * (i % 2)

    def label(s: str) -> str:
        return "yes" if s.count("N") + s.count("O") < 2 else "no"

    for split, ids in (("train", range(60)), ("valid", range(60, 90))):
        (tmp_path / "bbbp").mkdir(exist_ok=True)
        rows = [
            {"id": f"bbbp-{i}", "task": "bbbp", "split": split, "smiles": [smiles(i)],
             "question": "<mol>\nCan this molecule cross the blood-brain barrier?",
             "answer": label(smiles(i)), "choices": None, "answer_type": "yesno",
             "category": "Property", "source": "test", "meta": {}}
            for i in ids
        ]  # fmt: skip
        (tmp_path / "bbbp" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows)
        )

    class Batch:
        def __init__(self, mols: list[Any]) -> None:
            self.mols = mols

        def inputs(self) -> tuple[list[torch.Tensor], torch.Tensor]:
            n = max(m.GetNumAtoms() for m in self.mols)
            h = torch.zeros(len(self.mols), n, D)
            mask = torch.zeros(len(self.mols), n, dtype=torch.bool)
            for b, m in enumerate(self.mols):
                for a in m.GetAtoms():
                    h[b, a.GetIdx(), a.GetAtomicNum() % D] = 1.0
                    mask[b, a.GetIdx()] = True
            return [h], mask

    writer = FactWriter((D,), 8, GROUPS, hidden=12, bbb=True)
    model = SimpleNamespace(
        connector=SimpleNamespace(facts=writer),
        processor=lambda recs: Batch([r.mol for r in recs]),  # MolRecord -> RDKit mol
    )
    report = fit_bbb_head(model, tmp_path, seed=0)
    assert report["C"] in BBB_C_GRID and report["valid_roc_auc"] > 0.9
    assert set(report["valid_roc_auc_by_C"]) == {str(c) for c in BBB_C_GRID}
    assert writer.bbb is not None and not writer.bbb.weight.requires_grad  # frozen
    # the writer's logit is sklearn's decision function on the standardised features
    train = [smiles(i) for i in range(60)]
    x = writer.pool_mean_max(*Batch([parse_smiles(s).mol for s in train]).inputs())
    z = ((x - writer.bbb_mean) / writer.bbb_std).double().numpy()
    y = np.array([label(s) == "yes" for s in train], dtype=int)
    clf = LogisticRegression(C=report["C"], max_iter=3000, random_state=0).fit(z, y)
    got = writer.bbb_readout(x).detach().double().numpy()
    assert np.allclose(got, clf.decision_function(z), atol=1e-3)
    # recipe.bbbp_targets=soft: P(yes) per BBBP molecule is the read-out's sigmoid
    records = [{"task": "bbbp", "smiles": [s]} for s in train] + [
        {"task": "stereo", "smiles": ["C"]}
    ]
    prob = readout_yes_prob(model, records)
    assert set(prob) == set(train)
    want = 1 / (1 + np.exp(-clf.decision_function(z)))
    assert np.allclose([prob[s] for s in train], want, atol=1e-3)


FORMULA_MOLECULES = (
    "CC(C)Cc1ccc(cc1)C(C)C(=O)O",  # ibuprofen
    "CC(=O)Oc1ccccc1C(=O)O",  # aspirin
    "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",  # caffeine
    "ClC(Cl)(Cl)Br",  # no H: carbon first, then alphabetical
    "C[Si](C)(C)OC",
    "O",  # no carbon: alphabetical with H
    "OB(O)" + "C" * 70 + "C(Cl)(Br)[Si](C)(C)OSN(F)CP(=O)(O)CI",  # C75H153BBrClFINO5PSSi
)


def test_formula_and_weight_are_the_sums_of_atom_labels() -> None:
    """From exact per-atom element / hydrogen logits the writer writes RDKit's Hill formula and
    average weight, in the tokens an answer uses; writer_accuracy's formula is 1.0."""
    import torch.nn.functional as F
    from rdkit import Chem
    from rdkit.Chem import Descriptors, rdMolDescriptors

    from edtformer.bridge.facts import ELEMENT_CLASSES, FORMULA_SLOTS, H_CLASSES
    from edtformer.training.recipe import atom_labels, fact_labels, writer_accuracy

    writer = FactWriter((D,), 8, GROUPS, hidden=12, formula=True)
    writer.set_vocabulary(nn.Embedding(200, 8), _WordTokenizer())
    labels = atom_labels(list(FORMULA_MOLECULES))
    mask = labels[..., 2] >= 0
    elements = torch.cat(
        [
            F.one_hot(labels[..., 2].clamp_min(0), len(ELEMENT_CLASSES)),
            F.one_hot(labels[..., 3].clamp_min(0), H_CLASSES),
        ],
        dim=-1,
    ).float()
    b = len(FORMULA_MOLECULES)
    base = _logits([], {})
    logits = FactLogits(
        base.groups.expand(b, -1), [c.expand(b, -1) for c in base.counts], elements=elements
    )
    ids = writer.word_ids(logits, mask)
    assert (
        ids.shape == (b, n_fact_slots(formula=True)) == (b, n_fact_slots() + 2 + FORMULA_SLOTS + 7)
    )
    for smi, text in zip(FORMULA_MOLECULES[:-1], writer.describe(ids), strict=False):
        mol = Chem.MolFromSmiles(smi)
        want = f"formula {rdMolDescriptors.CalcMolFormula(mol)} weight {Descriptors.MolWt(mol):.2f}"
        assert text.endswith(want), (text, want)
    # a formula longer than its slots keeps whole elements only
    long = writer.describe(ids)[-1].split("formula ")[1].split(" weight")[0]
    assert long == "C75H153BBrClFINO5P"  # 16 slots: S and Si do not fit
    groups, counts = fact_labels(list(FORMULA_MOLECULES))
    acc = writer_accuracy(logits, groups, counts, labels)
    assert acc["formula"] == 1.0
    wrong = elements.clone()
    wrong[0, 0] = 0.0
    wrong[0, 0, ELEMENT_CLASSES.index("N")] = 1.0  # ibuprofen's first atom read as nitrogen
    acc = writer_accuracy(logits._replace(elements=wrong), groups, counts, labels)
    assert acc["formula"] == pytest.approx((b - 1) / b, abs=1e-4)
    with pytest.raises(ValueError, match="per-atom element logits"):
        writer.word_ids(base, mask[:1])
    with pytest.raises(EdtError, match="fact_formula needs fact_tokens"):
        tiny(fact_formula=True)


def test_pair_slots_say_whether_a_molecule_matches_its_prompts_first() -> None:
    """pair: molecule 2 of a prompt ends with "same stereoisomer yes|no" (written facts and
    per-atom classes compared with molecule 1); a prompt's first molecule leaves them empty."""
    from edtformer.bridge.facts import PAIR_LABEL
    from edtformer.training.recipe import atom_labels

    # prompts: (L-Ala, L-Ala other writing), (L-Ala, D-Ala), (trans, cis), (lone L-Ala)
    smiles = ["C[C@H](N)C(=O)O", "N[C@@H](C)C(=O)O", "C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O",
              "C/C=C/C", "C/C=C\\C", "C[C@H](N)C(=O)O"]  # fmt: skip
    first = torch.tensor([0, 0, 2, 2, 4, 4, 6])
    labels = atom_labels(smiles)
    mask = labels[..., 0] >= 0
    cip, ez = labels[..., 0].clamp_min(0), labels[..., 1].clamp_min(0)
    atoms = 9.0 * torch.cat(
        [torch.nn.functional.one_hot(cip, 3), torch.nn.functional.one_hot(ez, 3)], -1
    )  # perfect per-atom logits
    writer = FactWriter((D,), 8, GROUPS, hidden=12, stereo=True, pair=True)
    writer.set_vocabulary(nn.Embedding(200, 8), _WordTokenizer())
    base = _logits([], {})
    logits = FactLogits(base.groups.expand(7, -1), [c.expand(7, -1) for c in base.counts], atoms)
    ids = writer.pair_slots(writer.word_ids(logits, mask), logits, mask, first)
    assert ids.shape == (7, n_fact_slots(stereo=True, pair=True))
    assert n_fact_slots(stereo=True, pair=True) == n_fact_slots(stereo=True) + 2
    text = writer.describe(ids)
    tails = [t.split(PAIR_LABEL)[1].strip() if PAIR_LABEL in t else None for t in text]
    assert tails == [None, "yes", None, "no", None, "no", None]
    # the untouched rows equal the plain writer's, and pair_slots leaves its input alone
    plain = writer.word_ids(logits, mask)
    assert torch.equal(ids[[0, 2, 4, 6]], plain[[0, 2, 4, 6]])
    assert torch.equal(plain[:, -2:], torch.full_like(plain[:, -2:], plain[0, -1]))
    # a molecule of another size never matches, even with equal written facts
    short = mask.clone()
    short[1, int(mask[1].sum()) - 1] = False
    assert writer.describe(writer.pair_slots(plain, logits, short, first))[1].endswith("no")
    with pytest.raises(ValueError, match="pair needs the stereo head"):
        FactWriter((D,), 8, GROUPS, pair=True)
    with pytest.raises(EdtError, match="fact_pair needs fact_stereo"):
        tiny(fact_tokens=True, fact_pair=True)

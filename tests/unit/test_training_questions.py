"""The recipe's question stream: balanced, deterministic, train molecules only, builder wording."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from edtformer.data.schema import LETTERS
from edtformer.errors import DataError
from edtformer.facts.dataset import FUNCTIONAL_GROUPS
from edtformer.training.questions import KIND_WEIGHTS, PARAPHRASES, QuestionStream, facts_of

MOLS = [
    "CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "ClCCBr",
    "N#Cc1ccccc1", "CC(=O)N", "O=C1CCCCC1", "CCOC(=O)C", "C=CC#N", "c1ccncc1", "CCN(CC)CC",
]  # fmt: skip
STEREO = [
    {"task": "stereo", "smiles": ["C[C@H](N)C(=O)O"], "question": "<mol>\nIs the stereocentre of "
     "this molecule R or S?", "answer": "S", "answer_type": "text", "choices": None,
     "meta": {"kind": "rs"}},
    {"task": "bbbp", "smiles": ["CCO"], "question": "<mol>\nCan this molecule cross the "
     "blood-brain barrier?", "answer": "yes", "answer_type": "yesno", "choices": None, "meta": {}},
]  # fmt: skip


def _stream(n: int = 4000, **kw) -> QuestionStream:
    return QuestionStream(list(MOLS), STEREO, n, seed=3, **kw)


def test_items_are_a_function_of_seed_and_index() -> None:
    a, b = _stream(), _stream()
    assert [a[i] for i in range(50)] == [b[i] for i in range(50)]
    assert [a[i] for i in range(50)] != [QuestionStream(list(MOLS), STEREO, 4000, seed=4)[i]
                                         for i in range(50)]  # fmt: skip
    with pytest.raises(IndexError):
        a[4000]


def test_has_group_is_yes_half_the_time_for_every_group_and_always_right() -> None:
    stream = _stream(n=20000, weights={"has_group": 1.0})
    yes: dict[str, list[int]] = defaultdict(list)
    for i in range(len(stream)):
        [smi], q, a = stream[i]
        assert smi in MOLS
        group = max((g for g in FUNCTIONAL_GROUPS if f" {g}" in q), key=len)
        assert (group in facts_of(smi)["functional_groups"]) == (a == "yes")  # the truth
        yes[group].append(a == "yes")
    rates = {g: sum(v) / len(v) for g, v in yes.items()}
    assert all(0.4 < r < 0.6 for r in rates.values()), rates  # no prior to learn from the text


def test_kinds_follow_the_weights_and_mc_letters_are_uniform() -> None:
    stream = _stream(n=6000, weights={"n_rings": 1.0, "struct_mc": 1.0, "rs": 1.0})
    answers: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    paraphrased = 0
    for i in range(len(stream)):
        smi, q, a = stream[i]
        if q.endswith("Answer with the letter."):
            kinds["mc"] += 1
            answers[a] += 1
            assert a in LETTERS[:4]
        elif "R or S" in q:
            kinds["rs"] += 1
            assert (smi, a) == (["C[C@H](N)C(=O)O"], "S")
        else:
            kinds["count"] += 1
            wording = q.removeprefix("<mol>\n")
            assert wording in ("How many rings does this molecule have?", *PARAPHRASES["n_rings"])
            paraphrased += wording != "How many rings does this molecule have?"
            assert a == str(facts_of(smi[0])["n_rings"])
    assert all(1700 < kinds[k] < 2300 for k in ("mc", "rs", "count")), kinds
    assert all(0.2 < answers[x] / kinds["mc"] < 0.3 for x in "ABCD"), answers
    assert 0.25 < paraphrased / kinds["count"] < 0.45  # PARAPHRASE_RATE of the questions


def test_bad_weights_and_empty_data_are_refused() -> None:
    with pytest.raises(DataError, match="unknown question kinds"):
        _stream(weights={"colour": 1.0})
    with pytest.raises(DataError, match="unknown question kinds"):  # retired in 0.2 (issue 32)
        _stream(weights={"struct_mc_text": 1.0})
    with pytest.raises(DataError, match="no training molecules"):
        QuestionStream([], [], 10)
    with pytest.raises(DataError, match="no question kind has data"):
        QuestionStream(list(MOLS), [], 10, weights={"rs": 1.0})
    assert set(KIND_WEIGHTS) >= {"has_group", "struct_mc", "same_stereoisomer", "bbbp"}


def _bbbp(smiles: str, answer: str) -> dict:
    return {**STEREO[1], "smiles": [smiles], "answer": answer}


def test_balanced_bbbp_is_yes_half_the_time_however_skewed_the_labels() -> None:
    records = [_bbbp(s, "yes") for s in MOLS[:9]] + [_bbbp(MOLS[9], "no")]  # 9:1 yes
    plain = QuestionStream(list(MOLS), records, 4000, seed=3, weights={"bbbp": 1.0})
    balanced = QuestionStream(
        list(MOLS), records, 4000, seed=3, weights={"bbbp": 1.0}, balanced=("bbbp",)
    )
    rate = {
        name: sum(s[i][2] == "yes" for i in range(len(s))) / len(s)
        for name, s in (("plain", plain), ("balanced", balanced))
    }
    assert 0.85 < rate["plain"] < 0.95 and 0.45 < rate["balanced"] < 0.55, rate
    for i in range(200):  # every answer is still the record's own label
        [smi], _, a = balanced[i]
        assert a == ("no" if smi == MOLS[9] else "yes")
    with pytest.raises(DataError, match="not record kinds"):
        QuestionStream(list(MOLS), records, 10, balanced=("has_group",))


def test_weight_questions_answer_rdkit_average_weight_to_two_decimals() -> None:
    assert KIND_WEIGHTS["weight"] == 0.0  # off unless asked for: older runs' streams unchanged
    stream = _stream(n=200, weights={"weight": 1.0})
    for i in range(50):
        [smi], q, a = stream[i]
        assert q == "<mol>\nWhat is the molecular weight of this molecule in g/mol?"
        assert a == f"{facts_of(smi)['molecular_weight']:.2f}"
    assert stream[0][2] != stream[1][2] or stream[0][0] == stream[1][0]


def test_soft_answers_carry_their_p_yes_and_read_as_the_drawn_word() -> None:
    """:class:`SoftAnswer` (the fact-sheet stream's BBBP answers, ``SheetStream.set_yes_prob``):
    the drawn word as text, its P(yes) kept through pickling (data-loader workers)."""
    import pickle

    from edtformer.training.questions import SoftAnswer

    a = SoftAnswer("no", 0.3)
    assert a == "no" and f"{a}!" == "no!" and a.p_yes == 0.3 and a.pair == ("yes", "no")
    back = pickle.loads(pickle.dumps(a))
    assert isinstance(back, SoftAnswer) and back == a and back.p_yes == a.p_yes
    assert SoftAnswer("B", 0.9, ("A", "B")).pair == ("A", "B")
    with pytest.raises(DataError, match="must lie in"):
        SoftAnswer("yes", 1.5)
    with pytest.raises(DataError, match="a soft answer is one of"):
        SoftAnswer("maybe", 0.5)

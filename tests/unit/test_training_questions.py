"""The recipe's question stream: balanced, deterministic, train molecules only, builder wording."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from edtformer.data.facts import FUNCTIONAL_GROUPS
from edtformer.data.schema import LETTERS
from edtformer.errors import DataError
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


def test_hinted_mc_names_the_right_option_and_nothing_else_changes() -> None:
    """struct_mc_hint: the struct_mc question of the same draw plus the right option's text."""
    import re

    hinted = _stream(n=300, weights={"struct_mc_hint": 1.0})
    plain = _stream(n=300, weights={"struct_mc": 1.0})
    seen = 0
    for i in range(len(hinted)):
        smi, q, a = hinted[i]
        smi_p, q_p, a_p = plain[i]
        if not q.endswith("Answer with the letter."):  # a molecule without distractors
            assert (smi, q, a) == (smi_p, q_p, a_p)
            continue
        seen += 1
        hint = re.search(r' \(Hint: the answer is "(.+?)"\.\)', q)
        assert hint is not None and (smi, a) == (smi_p, a_p)
        assert q.replace(hint.group(0), "") == q_p  # the same question, letters and options
        assert f"\n{a}. {hint.group(1)}\n" in q  # the hint names the right letter's option
    assert seen > 250
    assert KIND_WEIGHTS["struct_mc_hint"] == 0.0  # off unless a recipe asks for it


def test_bad_weights_and_empty_data_are_refused() -> None:
    with pytest.raises(DataError, match="unknown question kinds"):
        _stream(weights={"colour": 1.0})
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


def test_text_mc_writes_the_asked_fact_then_grows_to_the_whole_block() -> None:
    """struct_mc_text: no molecule, the facts in place of <mol>, the right option among them;
    only the asked fact before ``text_facts[0]``, every fact from ``text_facts[1]``."""
    from edtformer.training.questions import block_text, fact_block

    n = 900
    stream = _stream(n=n, weights={"struct_mc_text": 1.0}, text_facts=(1 / 3, 2 / 3))
    assert [stream.shown(x) for x in (0.0, 0.3, 0.5, 0.7, 1.0)] == pytest.approx(
        [0.0, 0.0, 0.5, 1.0, 1.0]
    )
    letters: Counter[str] = Counter()
    sizes: dict[str, list[int]] = defaultdict(list)
    for i in range(n):
        smi, q, a = stream[i]
        if not q.endswith("Answer with the letter."):  # a molecule without distractors
            continue
        assert smi == [] and "<mol>" not in q and q.startswith("Facts: ")
        facts_line, _, rest = q.partition("\n")
        options = dict(
            x.split(". ", 1) for x in rest.split("\n") if x[:2] in {"A.", "B.", "C.", "D."}
        )
        assert set(options) == set(LETTERS) and a in options
        right = options[a]
        if "NOT present" in q:  # the right option is the one group not written
            assert right not in facts_line
            right = ""
        else:
            assert right in facts_line  # the right option's text is stated
        phase = "single" if i < n / 3 else "full" if i >= 2 * n / 3 else "grow"
        sizes[phase].append(facts_line.count(" ") - facts_line.count(",") - (right.count(" ")))
        letters[a] += 1
        if phase == "full":  # the whole block, as the fact writer words it
            mol = next(m for m in MOLS if block_text(fact_block(facts_of(m))) == facts_line[7:])
            assert mol in MOLS
    assert min(letters.values()) > 0.18 * sum(letters.values())
    mean = {k: sum(v) / len(v) for k, v in sizes.items()}
    assert mean["single"] < 4 < mean["grow"] < mean["full"], mean
    assert KIND_WEIGHTS["struct_mc_text"] == 0.0  # off unless a recipe asks for it


def test_fact_block_words_counts_digit_by_digit_and_stereo_labels() -> None:
    from edtformer.training.questions import block_text, fact_block

    pieces = dict(fact_block(facts_of("C[C@H](N)C(=O)O")))
    assert pieces["n_stereocentres"] == "stereocentres 1 S"
    assert pieces["heavy_atoms"] == "heavy atoms 6"
    assert pieces["formula"] == "formula C3H7NO2" and pieces["weight"] == "weight 89.09"
    assert dict(fact_block(facts_of("C" * 12)))["heavy_atoms"] == "heavy atoms 1 2"
    text = block_text(fact_block(facts_of("CC(=O)Oc1ccccc1C(=O)O")))
    head, _, rest = text.partition(" | ")
    assert "carboxylic acid" in head and "ester" in head and rest.startswith("rings 1 ")


def test_text_mc_follows_the_engines_visit_order_in_batches_of_their_own() -> None:
    """With the engine's batch order the curriculum follows the visit order (a seeded
    permutation of the indices), and a batch is all text questions or none."""
    from edtformer.training.sampler import ResumableBatchOrder

    n, bs = 1200, 6
    weights = {"struct_mc_text": 1.0, "n_rings": 0.5, "hbd": 0.5}
    stream = _stream(n=n, weights=weights, text_facts=(0.4, 0.8), order=(5, bs, 1),
                     text_batches=True)  # fmt: skip
    batches = ResumableBatchOrder(n, bs, seed=5).iterate()
    text_batches, sizes = 0, []
    for step in range(n // bs):
        _, _, idx = next(batches)
        items = [stream[i] for i in idx]
        texts = [q.startswith("Facts: ") for _, q, _ in items]
        assert all(texts) or not any(texts)  # one kind of batch or the other
        if all(texts):
            text_batches += 1
            words = [len(q.partition("\n")[0].split()) for _, q, _ in items]
            sizes.append((step / (n // bs), sum(words) / len(words)))
    assert 0.4 < text_batches / (n // bs) < 0.6  # the kind's weight share of the batches
    early = [w for x, w in sizes if x < 0.4]
    late = [w for x, w in sizes if x >= 0.8]
    assert max(early) < min(late)  # the asked fact alone first, the whole block at the end
    plain = _stream(n=n, weights=weights, text_facts=(0.4, 0.8))  # index order, mixed batches
    mixed = [plain[i][1].startswith("Facts: ") for i in range(0, 60)]
    assert any(mixed) and not all(mixed)


def test_mc_layouts_reword_the_options_only_when_asked() -> None:
    """mc_layouts: the same question, letter and options in another layout at the set share;
    at 0 the stream is exactly the stream without the option."""
    import re

    weights = {"struct_mc": 1.0, "struct_mc_text": 1.0}
    plain = _stream(n=400, weights=weights)
    assert [plain[i] for i in range(400)] == [
        QuestionStream(list(MOLS), STEREO, 400, seed=3, weights=weights, mc_layouts=0.0)[i]
        for i in range(400)
    ]
    mixed = _stream(n=400, weights=weights, mc_layouts=0.5)
    other, total = 0, 0
    for i in range(400):
        _, q, a = mixed[i]
        if "\nA. " in q:  # the data's layout
            total += 1
            continue
        if not re.search(r"\(A\)|\nA\) | A\. ", q):
            continue  # a molecule without distractors
        total += 1
        other += 1
        for letter in "ABCD":  # every option keeps its letter in the new layout
            assert any(m in q for m in (f"({letter}) ", f"\n{letter}) ", f" {letter}. "))
        assert a in "ABCD" and "Answer with" in q
    assert 0.35 < other / total < 0.65


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

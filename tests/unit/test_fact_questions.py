"""The fact-sheet question generator: template coverage, train / held-out separation, exact
answers (the sheet's own writing), uniform MC letters, JSON keys and off-sheet declines."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from rdkit import Chem

from edtformer.facts.questions import (
    DECLINE,
    KIND_TYPES,
    QAItem,
    fact_kinds,
    format_answer,
    generate,
    load_templates,
)
from edtformer.facts.sheet import format_value, sheet_values

REPO = Path(__file__).resolve().parents[2]
DATA_OUT = REPO / "data_out"

MOLECULES = {
    "ethanol": "CCO",
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "L-serine": "N[C@@H](CO)C(=O)O",
    "salt": "[Na+].[Cl-]",
    "water": "O",
    "18-crown-6": "C1COCCOCCOCCOCCOCCO1",
    "stereo": "C[C@H](O)[C@@H](N)C/C=C/C",
    "acetate": "CC(=O)[O-]",
}
FORMS = ("plain", "json", "mc")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.fixture(scope="module")
def sheets() -> dict[str, tuple[str, dict]]:
    out = {}
    for name, smi in MOLECULES.items():
        mol = Chem.MolFromSmiles(smi)
        try:
            values = sheet_values(mol)
        except ImportError:  # the group vocabulary is not there yet
            values = sheet_values(mol, groups=False) | {"groups": []}
        out[name] = (smi, values)
    return out


def _all_texts(t: dict) -> list[tuple[str, str]]:
    """(section, text) of every template-like string of a template file."""
    out = [(f"kinds.{k}", s) for k, v in t["kinds"].items() for s in v]
    out += [(f"format_requests.{k}", s) for k, v in t["format_requests"].items() for s in v]
    out += [("mc_layouts", s) for s in t["mc_layouts"]]
    out += [("two_facts", s) for s in t["two_facts"]]
    out += [(f"group_choice.{k}", s) for k, v in t["group_choice"].items() for s in v]
    out += [(f"off_sheet.{k}", s) for k, v in t["off_sheet"].items() for s in v]
    return out


def _expected(values: dict, item: QAItem) -> str:
    """The answer of a plain item, computed here from the sheet values and format_value."""
    kind, subject = item.kind, item.meta.get("subject")
    if kind == "element_count":
        return str(values["atoms"].get(subject, 0))
    if kind == "has_group":
        return "yes" if subject in values["groups"] else "no"
    if kind == "groups":
        return ", ".join(values["groups"]) or "none"
    if kind == "cip":
        cip = sorted(values["cip"])
        if not cip:
            return "none"
        return ",".join(lab for _, _, lab in cip)
    return format_value(kind, values[kind])


# --------------------------------------------------------------------------- the files


def test_every_kind_has_enough_templates_in_both_files() -> None:
    train, held = load_templates("train"), load_templates("heldout")
    assert set(train["kinds"]) == set(held["kinds"]) == set(fact_kinds())
    for kind in fact_kinds():
        assert len(set(map(_norm, train["kinds"][kind]))) >= 12, kind
        assert len(set(map(_norm, held["kinds"][kind]))) >= 5, kind
    for rtype in ("number", "yes_no", "json", "text"):
        assert len(train["format_requests"][rtype]) >= 8, rtype
        assert len(held["format_requests"][rtype]) >= 3, rtype
    assert all("{key}" in s for s in train["format_requests"]["json"])
    assert all("{key}" in s for s in held["format_requests"]["json"])
    assert len(train["mc_layouts"]) >= 6 and len(held["mc_layouts"]) >= 3
    assert len(train["two_facts"]) >= 8 and len(held["two_facts"]) >= 3
    for t in (train, held):
        assert all("{mol}" in s for v in t["kinds"].values() for s in v)
        assert all("{mol}" in s for v in t["off_sheet"].values() for s in v)


def test_off_sheet_kinds_shared_heldout_only_and_train_only() -> None:
    train, held = load_templates("train")["off_sheet"], load_templates("heldout")["off_sheet"]
    assert len(train) >= 20 and len(held) >= 20
    assert len(set(train) & set(held)) >= 20  # shared kinds, other questions
    assert len(set(held) - set(train)) >= 5  # kinds never trained
    assert len(set(train) - set(held)) >= 10  # training-only kinds: a broader sense of "off sheet"
    assert all(len(v) >= 10 for v in train.values())
    assert all(len(v) >= 10 for v in held.values())
    assert sum(len(v) for v in held.values()) >= 200


def test_no_heldout_text_occurs_in_train() -> None:
    train = {_norm(s) for _, s in _all_texts(load_templates("train"))}
    clashes = [(sec, s) for sec, s in _all_texts(load_templates("heldout")) if _norm(s) in train]
    assert not clashes


def test_heldout_templates_are_distinct_within_each_section() -> None:
    for name in ("train", "heldout"):
        seen: dict[str, str] = {}
        for sec, s in _all_texts(load_templates(name)):
            assert _norm(s) not in seen or seen[_norm(s)] != sec, (name, sec, s)
            seen[_norm(s)] = sec


def _render(text: str) -> str:
    fills = {"mol": "this molecule", "element": "carbon", "group": "ester", "key": "answer",
             "a": "rings", "b": "TPSA", "q": ""}  # fmt: skip
    return _PLACEHOLDER.sub(lambda m: fills.get(m.group(1), ""), text)


def test_no_heldout_text_occurs_in_data_out() -> None:
    """Held-out wordings are new to the model: none is a question of the built data sets."""
    files = sorted(DATA_OUT.rglob("*.jsonl")) if DATA_OUT.is_dir() else []
    if not files:
        pytest.skip("no data_out folder")
    questions: set[str] = set()
    for path in files:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line.startswith("{"):
                    q = json.loads(line).get("question", "")
                    questions.add(_norm(re.sub(r"[^\n]*<mol>[^\n]*\n?", "", q)))
    corpus = "\n".join(questions)
    for sec, text in _all_texts(load_templates("heldout")):
        rendered = _norm(_render(text))
        assert rendered not in questions, (sec, text)
        if len(rendered) >= 25:
            assert rendered not in corpus, (sec, text)


def test_a_broken_template_file_is_refused(tmp_path, monkeypatch) -> None:
    import edtformer.facts.questions.templates as q  # where load_templates reads TEMPLATE_DIR

    data = json.loads((q.TEMPLATE_DIR / "train.json").read_text())
    data["kinds"]["rings"] = ["How many rings does {molecule} have?"]
    (tmp_path / "train.json").write_text(json.dumps(data))
    monkeypatch.setattr(q, "TEMPLATE_DIR", tmp_path)
    q.load_templates.cache_clear()
    try:
        with pytest.raises(ValueError, match=r"kinds\.rings"):
            q.load_templates("train")
    finally:
        monkeypatch.undo()
        q.load_templates.cache_clear()


# --------------------------------------------------------------------------- generated items


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_every_kind_and_form_fills_every_placeholder(sheets, split: str) -> None:
    rng = random.Random(0)
    for smi, values in sheets.values():
        for kind in fact_kinds():
            for form in FORMS:
                for _ in range(4):
                    item = generate(values, smi, rng, split, kind=kind, form=form)
                    assert "{" not in item.question and "}" not in item.question.replace(
                        item.answer, ""
                    ), item
                    assert item.question.strip() and item.answer.strip()
        for form in ("two_facts", "off_sheet"):
            for _ in range(20):
                item = generate(values, smi, rng, split, form=form)
                assert "{" not in item.question, item


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_plain_answers_are_the_sheets_own_text(sheets, split: str) -> None:
    rng = random.Random(1)
    for smi, values in sheets.values():
        for kind in fact_kinds():
            for _ in range(6):
                item = generate(values, smi, rng, split, kind=kind, form="plain")
                assert item.kind == kind
                assert item.answer == _expected(values, item), (smi, item)
                assert item.answer_type == KIND_TYPES[kind]
                if kind not in ("element_count", "has_group", "groups", "cip"):
                    assert item.field == kind
                    assert item.answer == format_value(kind, values[kind])


def test_examples(sheets) -> None:
    smi, ethanol = sheets["ethanol"]
    rng = random.Random(0)
    item = generate(ethanol, smi, rng, "train", kind="element_count", subject="Cl", form="plain")
    assert (item.answer, item.field, item.gold) == ("0", "atoms:Cl", 0)
    assert "chlorine" in item.question
    item = generate(ethanol, smi, rng, "train", kind="element_count", subject="C", form="plain")
    assert item.answer == "2" and "carbon" in item.question
    item = generate(ethanol, smi, rng, "train", kind="rings", form="plain")
    assert item.answer == "0"
    smi, serine = sheets["L-serine"]
    assert format_answer(serine, "cip") == "S"
    smi, stereo = sheets["stereo"]
    assert format_answer(stereo, "cip") == "S,S"  # RDKit's CIP labels, as the sheet writes them
    assert format_answer(sheets["water"][1], "cip") == "none"
    _, salt = sheets["salt"]
    assert format_answer(salt, "fragments") == "2"
    assert format_answer(salt, "groups") in ("none", ", ".join(salt["groups"]))


def test_element_counts_ask_absent_elements_too(sheets) -> None:
    smi, values = sheets["aspirin"]
    rng = random.Random(5)
    answers = Counter(
        generate(values, smi, rng, "train", kind="element_count", form="plain").answer
        for _ in range(400)
    )
    assert answers["0"] > 20 and sum(answers.values()) - answers["0"] > 200


def test_has_group_asks_present_and_absent_groups(sheets) -> None:
    smi, values = sheets["aspirin"]
    rng = random.Random(6)
    answers = Counter(
        generate(values, smi, rng, "train", kind="has_group", form="plain").answer
        for _ in range(400)
    )
    if values["groups"]:
        assert 120 < answers["yes"] < 280, answers
    assert " a ester" not in "".join(
        generate(values, smi, rng, "train", kind="has_group", subject="ester").question
        for _ in range(50)
    )


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_mc_letters_are_uniform_and_options_distinct(sheets, split: str) -> None:
    rng = random.Random(2)
    letters: Counter[str] = Counter()
    mols = list(sheets.values())
    n = 4000
    for _ in range(n):
        smi, values = rng.choice(mols)
        item = generate(values, smi, rng, split, form="mc")
        assert item.kind == "mc" and item.answer_type == "letter"
        options = item.meta["options"]
        assert len(options) == 4 and len(set(options)) == 4, item
        assert item.answer == item.gold == "ABCD"[item.meta["correct"]]
        fact = item.meta["fact_kind"]
        if fact == "has_group" and "choice" in item.meta:
            right = options[item.meta["correct"]]
            assert (right in values["groups"]) == (item.meta["choice"] == "present")
            assert all((o in values["groups"]) != (item.meta["choice"] == "present")
                       for i, o in enumerate(options) if i != item.meta["correct"])  # fmt: skip
        else:
            assert options[item.meta["correct"]] == format_answer(
                values, fact, item.meta.get("subject")
            )
        if KIND_TYPES[fact] == "int" and fact != "formal_charge" and "choice" not in item.meta:
            assert all(int(o) >= 0 for o in options), item
        for o in options:
            assert o in item.question
        letters[item.answer] += 1
    assert all(0.15 < letters[x] / n < 0.35 for x in "ABCD"), letters


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_json_answers_parse_and_carry_the_asked_key(sheets, split: str) -> None:
    rng = random.Random(3)
    for smi, values in sheets.values():
        for kind in fact_kinds():
            for _ in range(3):
                item = generate(values, smi, rng, split, kind=kind, form="json")
                key = item.meta["json_key"]
                parsed = json.loads(item.answer)
                assert list(parsed) == [key] and f'"{key}"' in item.question
                assert parsed == item.gold
                value = parsed[key]
                expected = {"int": int, "float": float, "bool": bool}.get(KIND_TYPES[kind], str)
                if kind == "groups":
                    assert value == list(values["groups"])
                else:
                    assert type(value) is expected, (kind, value)


def test_two_facts_answer_both(sheets) -> None:
    rng = random.Random(4)
    smi, values = sheets["aspirin"]
    for split in ("train", "heldout"):
        for _ in range(50):
            item = generate(values, smi, rng, split, form="two_facts")
            a, b = item.meta["facts"]
            assert a != b
            from edtformer.facts.questions import FACT_NAMES

            assert item.answer == (
                f"{FACT_NAMES[a]} {format_value(a, values[a])}, "
                f"{FACT_NAMES[b]} {format_value(b, values[b])}"
            )


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_off_sheet_questions_are_declined(sheets, split: str) -> None:
    rng = random.Random(5)
    smi, values = sheets["aspirin"]
    kinds: Counter[str] = Counter()
    for _ in range(600):
        item = generate(values, smi, rng, split, kind="off_sheet")
        assert (item.kind, item.answer, item.answer_type, item.gold) == (
            "off_sheet", DECLINE, "decline", None,
        )  # fmt: skip
        assert item.field == ""
        kinds[item.meta["off_kind"]] += 1
    assert set(kinds) == set(load_templates(split)["off_sheet"])
    assert len(DECLINE.split()) <= 22  # about 30 tokens


def test_heldout_items_use_heldout_wording_only(sheets) -> None:
    train = load_templates("train")
    held = load_templates("heldout")
    rng = random.Random(7)
    smi, values = sheets["aspirin"]
    for _ in range(500):
        item = generate(values, smi, rng, "heldout", form="plain")
        template = held["kinds"][item.kind][item.meta["template"]]
        stem = template.split("{")[0]
        assert stem == "" or item.question.lower().startswith(stem.lower()), (template, item)
        if "format_request" in item.meta:
            request = held["format_requests"][item.meta["request_type"]][
                item.meta["format_request"]
            ]
            assert item.question.endswith(request)
            assert request not in train["format_requests"][item.meta["request_type"]]


def test_draws_are_deterministic_and_mixed(sheets) -> None:
    smi, values = sheets["aspirin"]

    def draw(seed: int) -> list[QAItem]:
        rng = random.Random(seed)
        return [generate(values, smi, rng, "train") for _ in range(1000)]

    a = draw(11)
    assert a == draw(11) and a != draw(12)
    forms = Counter(
        "json" if i.answer_type == "json" else i.kind if i.kind in ("mc", "two_facts") else "plain"
        for i in a
    )
    from edtformer.facts.questions import FORM_RATES

    for form in ("json", "mc"):  # drawn at their rates (binomial, n = 1000: +-0.04 is > 3 sd)
        assert abs(forms[form] / 1000 - FORM_RATES[form]) < 0.04, forms
    assert 0.03 < forms["two_facts"] / 1000 < 0.11, forms
    assert "off_sheet" not in {i.kind for i in a}
    mentions = sum(smi in i.question for i in a)
    assert 0.3 < mentions / 1000 < 0.6  # SMILES written inline in part of the questions


def test_nothing_raises_for_odd_molecules() -> None:
    rng = random.Random(8)
    for smi in ("[Na+].[Cl-]", "O", "[He]", "[H][H]", "Cl", "C1CC1.C1CC1", "[NH4+].[NH4+].[O-]S(=O)(=O)[O-]",
                "F/C=C/F", "C[C@@H]1CC[C@H](C)CC1", "c1ccc2ccccc2c1"):  # fmt: skip
        mol = Chem.MolFromSmiles(smi)
        try:
            values = sheet_values(mol)
        except ImportError:
            values = sheet_values(mol, groups=False) | {"groups": []}
        for split in ("train", "heldout"):
            for _ in range(150):
                generate(values, smi, rng, split)
            for kind in fact_kinds():
                generate(values, smi, rng, split, kind=kind, form="mc")


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[\w{}]+|[^\w\s]", text.lower()) if w not in "?.,!:"]


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def test_heldout_wordings_are_not_train_wordings_with_one_word_changed() -> None:
    train: dict[str, list[list[str]]] = {}
    for sec, s in _all_texts(load_templates("train")):
        train.setdefault(sec, []).append(_words(s))
    near = [
        (sec, s)
        for sec, s in _all_texts(load_templates("heldout"))
        for t in train.get(sec, [])
        if _edit_distance(_words(s), t) <= 1
    ]
    assert not near


def test_group_questions_sometimes_use_an_alias(sheets) -> None:
    from edtformer.facts.questions import group_aliases

    smi, values = sheets["aspirin"]
    rng = random.Random(9)
    names = Counter()
    for _ in range(300):
        item = generate(values, smi, rng, "train", kind="has_group", subject="ester", form="plain")
        assert item.answer == "yes" and item.field == "groups:ester"
        names["alias" if "ester" not in item.question.replace("carboxylic ester", "")
              .replace("carboxylate ester", "") else "name"] += 1  # fmt: skip
    if group_aliases("ester"):
        assert 0.05 < names["alias"] / 300 < 0.3, names

"""The fact sheet in the prompt: exact RDKit text after each molecule's tokens, never in the
question the queries read, printed as ``Answer.facts``, and the BBB read-out saved with the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rdkit import Chem
from tests.fixtures.llm.tiny import make_tiny_llm

from edtformer.bridge import tiny
from edtformer.errors import EdtError
from edtformer.facts import render_sheet, sheet_values
from edtformer.model import EDTFormer, EDTFormerConfig


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_llm(tmp_path_factory.mktemp("llm") / "tiny-llama")


def _build(llm: Path, sheet_lines: str) -> EDTFormer:
    torch.manual_seed(0)
    cfg = EDTFormerConfig(
        encoders=("random",),
        llm=str(llm),
        bridge=tiny(instruction_aware=True),
        patch_rule="brics",
        fact_sheet=True,
        bbb_readout=True,
        sheet_lines=sheet_lines,
    )
    model = EDTFormer.build(cfg).eval()
    model.llm.config.max_position_embeddings = 4096  # the tiny tokenizer spells the sheet long
    return model


@pytest.fixture(scope="module")
def model(llm_dir: Path) -> EDTFormer:
    return _build(llm_dir, "all")


@pytest.fixture(scope="module")
def cut(llm_dir: Path) -> EDTFormer:
    return _build(llm_dir, "question")


def test_sheet_cut_to_the_lines_the_question_names(cut: EDTFormer) -> None:
    batch = cut.prepare_qa(
        ["CCO", "CCO"], ["How many carbon atoms?", "Melting point?"], generation=True
    )
    assert batch.sheets is not None
    asked, unknown = batch.sheets
    assert "formula: C2H6O" in asked and "TPSA:" not in asked and "P(BBB+)" not in asked
    assert "TPSA:" in unknown and "P(BBB+)" in unknown  # names no line: the whole sheet
    chat = cut.ask("CCO", "Is it chiral?", max_new_tokens=1)
    assert chat.facts is not None and "chiral: no" in chat.facts[0]
    follow = cut.prepare(
        [["CCO"]], [[*chat.messages, {"role": "user", "content": "And its TPSA?"}]]
    )
    assert (
        follow.sheets is not None
        and "chiral: no" in follow.sheets[0]
        and "TPSA:" in follow.sheets[0]
    )


def test_training_writes_the_whole_sheet_at_the_full_rate(cut: EDTFormer) -> None:
    cut.train()
    cut.sheet_full_rate = 1.0
    try:
        batch = cut.prepare_qa(["CCO"], ["How many carbon atoms?"], answers=["2"])
    finally:
        cut.sheet_full_rate = 0.0
        cut.eval()
    assert batch.sheets is not None and "TPSA:" in batch.sheets[0]


def _text(model: EDTFormer, ids: torch.Tensor) -> str:
    return str(model.tokenizer.decode(ids[ids != model.mol_ids.mol], skip_special_tokens=False))


def test_sheet_follows_the_molecule_tokens_and_the_question_follows_the_sheet(
    model: EDTFormer,
) -> None:
    batch = model.prepare_qa(["CCO"], ["How many carbon atoms?"], generation=True)
    text = _text(model, batch.input_ids[0])
    assert batch.sheets is not None and len(batch.sheets) == 1
    assert "formula: C2H6O" in batch.sheets[0]
    assert "P(BBB+)" in batch.sheets[0]  # the read-out's labelled estimate
    sheet_at, question_at = text.find("formula: C2H6O"), text.find("How many carbon atoms?")
    assert 0 < sheet_at < question_at
    ids = batch.input_ids[0].tolist()
    last_mol = len(ids) - 1 - ids[::-1].index(model.mol_ids.mol)
    assert ids.index(model.tokenizer.convert_tokens_to_ids("<mol_end>")) == last_mol + 1
    # the query transformer reads the question only, not the sheet
    assert batch.instruction_ids is not None
    q = str(model.tokenizer.decode(batch.instruction_ids[0], skip_special_tokens=True))
    assert "formula" not in q and "carbon atoms" in q


def test_sheet_is_rdkit_exact_without_bbb_when_no_readout(model: EDTFormer) -> None:
    batch = model.prepare_qa(["c1ccccc1O"], ["Is it a phenol?"], generation=True)
    assert batch.sheets is not None
    without_bbb = render_sheet(sheet_values(Chem.MolFromSmiles("c1ccccc1O")))
    assert batch.sheets[0].startswith(without_bbb)


def test_second_molecule_says_whether_it_is_the_same_stereoisomer(model: EDTFormer) -> None:
    convs = [model.prompts.messages("Molecule 1: <mol>\nMolecule 2: <mol>\nSame stereoisomer?", 2)]
    same = model.prepare([["C[C@H](N)C(=O)O", "N[C@@H](C)C(=O)O"]], convs, generation=True)
    other = model.prepare([["C[C@H](N)C(=O)O", "C[C@@H](N)C(=O)O"]], convs, generation=True)
    assert same.sheets is not None and other.sheets is not None
    assert "same stereoisomer as molecule 1" not in same.sheets[0]
    assert same.sheets[1].endswith("same stereoisomer as molecule 1: yes")
    assert other.sheets[1].endswith("same stereoisomer as molecule 1: no")


def test_answer_facts_are_the_sheet(model: EDTFormer) -> None:
    ans = model.ask("CCO", "How many rings?", max_new_tokens=2)
    assert ans.facts is not None and ans.facts[0].startswith("RDKit fact sheet")


def test_readout_round_trips_through_save_and_load(model: EDTFormer, tmp_path: Path) -> None:
    assert model.readout is not None
    with torch.no_grad():
        model.readout.bbb.weight.normal_()
        model.readout.bbb_mean.fill_(0.25)
    model.save_pretrained(tmp_path / "m")
    again = EDTFormer.from_pretrained(tmp_path / "m")
    assert again.readout is not None and again.config.fact_sheet
    assert torch.equal(again.readout.bbb.weight, model.readout.bbb.weight)
    assert torch.equal(again.readout.bbb_mean, model.readout.bbb_mean)


def test_zero_token_control_zeroes_only_the_molecule_tokens(model: EDTFormer) -> None:
    batch = model.prepare_qa(["CC(=O)Oc1ccccc1C(=O)O"], ["How many rings?"], generation=True)
    emb, _ = model.embed(batch)
    model.zero_molecule_tokens = True
    try:
        zero, _ = model.embed(batch)
    finally:
        model.zero_molecule_tokens = False
    is_mol = batch.input_ids == model.mol_ids.mol  # [B, L]
    assert int(is_mol.sum()) > 0
    assert torch.count_nonzero(zero[is_mol]) == 0  # every molecule token is zero
    assert bool(emb[is_mol].abs().sum() > 0)
    assert torch.equal(zero[~is_mol], emb[~is_mol])  # prompt, sheet and question untouched


def test_lettered_options_are_answered_by_cloze_scoring(cut: EDTFormer) -> None:
    """A question with lettered options gets the letter of the option whose text the LLM finds
    most likely as the answer to the bare question; the same as scoring each text by hand."""
    q = "How many carbon atoms does it have?\nA) 2\nB) 3\nC) 12\nD) 1"
    ans = cut.ask("CCO", q)
    assert ans.options is not None and set(ans.options) == {"A", "B", "C", "D"}
    assert abs(sum(ans.options.values()) - 1.0) < 1e-6
    best = max(ans.options, key=ans.options.__getitem__)
    assert ans.answer == f"{best}) {dict(zip('ABCD', ['2', '3', '12', '1'], strict=True))[best]}"
    assert ans.facts is not None and "carbon atoms: 2" in ans.facts[0]  # the stem's sheet
    by_hand = []
    for text in ("2", "3", "12", "1"):
        batch = cut.prepare(
            [["CCO"]], [cut.prompts.messages("How many carbon atoms does it have?", 1, text)]
        )
        by_hand.append(float(cut.answer_logprobs(batch)[0]) / len(text))
    assert "ABCD"[max(range(4), key=by_hand.__getitem__)] == best
    # in a batch with plain questions, in input order
    many = cut.ask_many(["CCO", "CCO"], ["How many rings?", q], max_new_tokens=2)
    assert not isinstance(many[0], Exception) and many[0].options is None
    assert not isinstance(many[1], Exception) and many[1].answer == ans.answer


def test_zero_token_block_restores_the_setting_also_on_an_error(model: EDTFormer) -> None:
    assert model.zero_molecule_tokens is False
    with model.molecule_tokens_zeroed() as m:
        assert m is model and model.zero_molecule_tokens is True
    assert model.zero_molecule_tokens is False
    with pytest.raises(RuntimeError), model.molecule_tokens_zeroed():
        raise RuntimeError("scoring failed")
    assert model.zero_molecule_tokens is False


def test_the_chat_processor_owns_the_prompt_text_and_prepare_delegates_to_it(
    model: EDTFormer,
) -> None:
    """``model.chat_processor`` (LLaVA's processor pattern) owns the molecule processor and the
    prompt builder; ``prepare`` is it plus what the model adds (token counts, the read-out's
    estimate on the sheet, the device); the follow-up keeps a typed ``<mol>`` as text."""
    from edtformer.model import EDTFormerProcessor

    proc = model.chat_processor
    assert isinstance(proc, EDTFormerProcessor)
    assert model.processor is proc.molecule_processor and model.prompts is proc.prompts
    assert proc.tokenizer is model.tokenizer and proc.fact_sheet and not proc.text_only
    convs = [proc.messages("How many carbon atoms?", 1, "2")]
    batch = model.prepare([["CCO"]], convs)
    direct = proc([["CCO"]], convs, num_tokens=model.connector.num_tokens, readout=model.readout)
    assert torch.equal(batch.input_ids, direct.input_ids) and batch.sheets == direct.sheets
    assert torch.equal(batch.labels, direct.labels)
    assert torch.equal(batch.mol_counts, direct.mol_counts)
    assert direct.sheets is not None and "P(BBB+)" in direct.sheets[0]
    no_bbb = proc([["CCO"]], convs, num_tokens=model.connector.num_tokens)
    assert no_bbb.sheets is not None and "P(BBB+)" not in no_bbb.sheets[0]
    follow = proc.follow_up(convs, "And <mol> here?")
    assert follow[:-1] == convs and "<mol>" not in follow[-1]["content"]
    with pytest.raises(EdtError, match="positions"):
        proc([["CCO"]], convs, num_tokens=model.connector.num_tokens, max_positions=8)


def test_more_markers_than_molecules_is_a_clear_error() -> None:
    """A hand-built conversation whose follow-up turn holds a literal <mol> beyond the given
    molecules gets a named error, not an IndexError from inside the sheet writer."""
    import pytest

    from edtformer.errors import EdtError
    from edtformer.model.chat_processing import with_sheets

    conv = [
        {"role": "user", "content": "<mol>\nHow many rings?"},
        {"role": "assistant", "content": "1"},
        {"role": "user", "content": "And <mol>?"},
    ]
    with pytest.raises(EdtError, match="2 <mol> markers but 1 molecule"):
        with_sheets(conv, ["rings 1"])
    assert with_sheets(conv[:2], ["rings 1"])[0]["content"] == "<mol>\nrings 1\nHow many rings?"

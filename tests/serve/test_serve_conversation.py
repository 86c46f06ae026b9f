"""Chat messages with attached molecules -> the model's conversation; streamed text deltas."""

from __future__ import annotations

from typing import Any

import pytest
import torch

pytest.importorskip("fastapi", reason="pip install -e '.[serve]' (fastapi, uvicorn)")

from edtformer.serve.errors import ApiError
from edtformer.serve.schemas import ChatRequest, build_conversation
from edtformer.serve.worker import TokenSink


def conversation(messages: list[dict[str, Any]], **kw: Any) -> tuple[list[str], list[Any]]:
    req = ChatRequest.model_validate({"model": "m", "messages": messages, **kw})
    mols, msgs = build_conversation(req, None, 4)
    return [m.smiles for m in mols], msgs


def test_molecule_parts_go_where_they_are_and_markers_win() -> None:
    text = {"type": "text", "text": "Compare them."}
    parts = [{"type": "molecule", "smiles": "CCO"}, text, {"type": "molecule", "smiles": "CCN"}]
    mols, msgs = conversation([{"role": "user", "content": parts}])
    assert mols == ["CCO", "CCN"] and msgs[0]["content"] == "<mol>\nCompare them.<mol>\n"
    _, msgs = conversation(
        [{"role": "user", "content": [{"type": "text", "text": "Is <mol> an acid?"}]}],
        molecules=["CC(=O)O"],
    )
    assert msgs[0]["content"] == "Is <mol> an acid?"


def test_follow_up_turns_have_no_molecule_tokens() -> None:
    mols, msgs = conversation(
        [
            {"role": "user", "content": "What is it?"},
            {"role": "assistant", "content": "Ethanol."},
            {"role": "user", "content": "Why <mol>?"},
        ],
        molecules=["CCO"],
    )
    assert mols == ["CCO"] and msgs[0]["content"] == "<mol>\nWhat is it?"
    assert "<mol>" not in msgs[2]["content"]  # typed marker kept as plain text


def test_system_prompt_of_the_model_unless_the_client_sends_one() -> None:
    req = ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "q"}], "molecules": ["C"]}
    )
    assert build_conversation(req, "Be brief.", 4)[1][0] == {
        "role": "system",
        "content": "Be brief.",
    }
    req.messages.insert(0, req.messages[0].model_copy(update={"role": "developer"}))
    assert build_conversation(req, "Be brief.", 4)[1][0]["role"] == "system"


def test_errors_name_the_problem() -> None:
    with pytest.raises(ApiError, match="no molecule given"):
        conversation([{"role": "user", "content": "q"}])
    with pytest.raises(ApiError, match="at most 4 per request"):
        conversation([{"role": "user", "content": "q"}], molecules=["C"] * 5)
    with pytest.raises(ApiError, match="last message must be the user"):
        conversation([{"role": "assistant", "content": "q"}], molecules=["C"])


def test_streamed_deltas_add_up_to_the_stripped_answer() -> None:
    pieces = {1: " ", 2: "Eth", 3: "an", 4: "ol", 5: " ", 6: "!", 7: " "}
    got: list[str] = []
    sink = TokenSink(2, {0}, lambda ids: "".join(pieces[i] for i in ids), got.append)
    sink.put(torch.zeros(2, 5, dtype=torch.long))  # the prompt: ignored
    for a, b in [(1, 2), (2, 0), (3, 9), (4, 9), (5, 9), (6, 9), (7, 9), (0, 9)]:
        sink.put(torch.tensor([a, b]))
    sink.end()
    assert "".join(got) == "Ethanol !" and got[0] == "Eth"
    assert sink.ids[0] == [1, 2, 3, 4, 5, 6, 7] and sink.ids[1] == [2]
    sink.cancelled = True
    assert sink.stopper()(torch.zeros(3, 1), None).all()


def test_each_streaming_row_gets_its_own_text_and_can_leave_alone() -> None:
    from edtformer.serve.worker import Listener

    pieces = {1: "a", 2: "b", 3: "c"}
    got: list[list[str]] = [[], [], []]
    rows = [Listener(got[0].append), None, Listener(got[2].append)]
    sink = TokenSink(3, {0}, lambda ids: "".join(pieces[i] for i in ids), rows)
    sink.put(torch.tensor([1, 2, 3]))
    stop = sink.stopper()
    assert not stop(torch.zeros(3, 1), None).any()
    rows[2].cancelled = True  # row 2's client went away: only its row ends
    assert stop(torch.zeros(3, 1), None).tolist() == [False, False, True]
    sink.put(torch.tensor([2, 1, 1]))
    sink.put(torch.tensor([0, 0, 0]))
    sink.end()
    assert got == [["a", "b"], [], ["c"]]
    assert sink.ids == [[1, 2], [2, 1], [3, 1]]

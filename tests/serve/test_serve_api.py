"""``edt serve``'s HTTP API: the official ``openai`` client against a live server with the tiny
model (non-streaming, streaming, history, errors), and FastAPI's TestClient for the rest."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from conftest import MODEL_NAME
from edtformer.cli.main import main
from edtformer.llm.prompt import MAX_QUESTION_CHARS
from edtformer.model import EDTFormer
from edtformer.serve.background import BackgroundServer

openai = pytest.importorskip("openai", reason="pip install -e '.[dev]' (openai)")
pytestmark = pytest.mark.filterwarnings("ignore:Passing `repetition_penalty`:UserWarning")

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def first_turn(question: str = "What is it?", smiles: str = ASPIRIN) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [{"type": "molecule", "smiles": smiles}, {"type": "text", "text": question}],
        }
    ]


@pytest.fixture(scope="module")
def client(live_server: BackgroundServer) -> Any:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def test_client(tiny_model: EDTFormer) -> Any:
    from fastapi.testclient import TestClient

    from edtformer.serve import create_app
    from edtformer.serve.app import ServeLimits

    app = create_app(tiny_model, MODEL_NAME, ServeLimits(max_body_bytes=20_000))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


# -- the openai client against a live server ----------------------------------------------------
def test_models_and_non_streaming_answer(client: Any) -> None:
    assert [m.id for m in client.models.list().data] == [MODEL_NAME]
    out = client.chat.completions.create(model=MODEL_NAME, messages=first_turn(), max_tokens=4)
    choice = out.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "length" and out.usage.completion_tokens == 4
    assert out.usage.total_tokens == out.usage.prompt_tokens + 4
    extra = out.model_extra["edt"]
    assert extra["n_molecule_tokens"] == extra["n_anchor_tokens"] + extra["n_dynamic_tokens"] > 0


def test_streaming_sends_the_same_answer_token_by_token(client: Any) -> None:
    whole = client.chat.completions.create(model=MODEL_NAME, messages=first_turn(), max_tokens=6)
    chunks = list(
        client.chat.completions.create(
            model=MODEL_NAME,
            messages=first_turn(),
            max_tokens=6,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(deltas) >= 3  # several pieces, not one block at the end
    assert "".join(deltas) == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage.completion_tokens == 6


def test_top_level_molecules_field_equals_a_content_part(client: Any) -> None:
    a = client.chat.completions.create(model=MODEL_NAME, messages=first_turn(), max_tokens=4)
    b = client.chat.completions.create(
        model=MODEL_NAME,
        messages=[{"role": "user", "content": "What is it?"}],
        max_tokens=4,
        extra_body={"molecules": [ASPIRIN]},
    )
    assert a.choices[0].message.content == b.choices[0].message.content
    assert a.usage.prompt_tokens == b.usage.prompt_tokens


def test_history_like_edt_chat(client: Any, tiny_model: EDTFormer) -> None:
    """A follow-up carries the first turn (with the molecule) and the answer; the server builds
    the same prompt as ``EDTFormer.ask(history=...)``."""
    first = tiny_model.ask(ASPIRIN, "What is it?", max_new_tokens=4)
    expected = tiny_model.ask(ASPIRIN, "And its mass?", max_new_tokens=4, history=first.messages)
    one = client.chat.completions.create(model=MODEL_NAME, messages=first_turn(), max_tokens=4)
    assert one.choices[0].message.content == first.answer
    history = [
        *first_turn(),
        {"role": "assistant", "content": one.choices[0].message.content},
        {"role": "user", "content": "And its mass? <mol>"},  # a typed <mol> here is text
    ]
    two = client.chat.completions.create(model=MODEL_NAME, messages=history, max_tokens=4)
    assert two.usage.prompt_tokens > one.usage.prompt_tokens
    assert two.choices[0].message.content
    plain = [*history[:-1], {"role": "user", "content": "And its mass?"}]
    three = client.chat.completions.create(model=MODEL_NAME, messages=plain, max_tokens=4)
    assert three.choices[0].message.content == expected.answer


@pytest.mark.parametrize(
    ("messages", "kwargs", "status", "code"),
    [
        (first_turn(smiles="C1CC("), {}, 400, "invalid_smiles"),
        (first_turn(smiles="C C"), {}, 400, "invalid_smiles"),
        ([{"role": "user", "content": "What is it?"}], {}, 400, "missing_molecule"),
        (first_turn("x" * (MAX_QUESTION_CHARS + 1)), {}, 400, "question_too_long"),
        (first_turn("<mol> and <mol>?"), {}, 400, "mol_marker_mismatch"),
        (first_turn(), {"max_tokens": 100_000}, 400, "max_tokens_out_of_range"),
        (first_turn() * 9, {}, 400, "too_many_molecules"),
        (first_turn(), {"model": "gpt-4o"}, 404, "model_not_found"),
        ([*first_turn(), {"role": "assistant", "content": "hi"}], {}, 400, None),
    ],
)
def test_bad_requests_are_openai_errors(
    client: Any, messages: list[dict[str, Any]], kwargs: dict[str, Any], status: int, code: str
) -> None:
    args = {"model": MODEL_NAME, "messages": messages, "max_tokens": 4, **kwargs}
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as err:
            client.chat.completions.create(**args, stream=stream)
        assert err.value.status_code == status
        body = err.value.body
        assert set(body) == {"message", "type", "param", "code"} and body["message"]
        if code is not None:
            assert body["code"] == code


def test_error_text_of_an_invalid_smiles_is_the_front_end_s(client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model=MODEL_NAME, messages=first_turn(smiles="C\u00e9"), max_tokens=4
        )
    assert "invalid SMILES" in err.value.message and "non-ASCII character" in err.value.message


def test_requests_that_arrive_together_are_batched(live_server: BackgroundServer) -> None:
    import httpx

    questions = [f"Question {k}?" for k in range(6)]

    async def ask_all() -> list[dict[str, Any]]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=120) as http:
            requests = [
                http.post(
                    "/v1/chat/completions",
                    json={"model": MODEL_NAME, "messages": first_turn(q), "max_tokens": 3},
                )
                for q in questions
            ]
            return [r.json() for r in await asyncio.gather(*requests)]

    worker = live_server.server.config.app.state.worker
    before = worker.batches_run
    answers = asyncio.run(ask_all())
    assert worker.batches_run - before < len(questions)  # fewer generate calls than requests
    assert all(a["choices"][0]["finish_reason"] == "length" for a in answers)


def test_streaming_requests_that_arrive_together_are_batched(live_server: BackgroundServer) -> None:
    import httpx

    questions = [f"Question {k}?" for k in range(6)]

    async def stream_one(http: Any, q: str) -> list[dict[str, Any]]:
        body = {"model": MODEL_NAME, "messages": first_turn(q), "max_tokens": 4, "stream": True}
        events = []
        async with http.stream("POST", "/v1/chat/completions", json=body) as r:
            assert r.status_code == 200
            async for line in r.aiter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    events.append(json.loads(line[6:]))
        return events

    async def stream_all() -> list[list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=120) as http:
            return list(await asyncio.gather(*(stream_one(http, q) for q in questions)))

    worker = live_server.server.config.app.state.worker
    before = worker.batches_run
    streams = asyncio.run(stream_all())
    assert worker.batches_run - before < len(questions)  # fewer generate calls than requests
    for events in streams:
        text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
        assert text and events[-1]["choices"][0]["finish_reason"] == "length"


# -- TestClient -----------------------------------------------------------------------------------
def test_malformed_json_and_wrong_types(test_client: Any) -> None:
    r = test_client.post(
        "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = test_client.post("/v1/chat/completions", json={"model": MODEL_NAME, "messages": "hi"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"
    bad_part = [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]
    r = test_client.post("/v1/chat/completions", json={"model": MODEL_NAME, "messages": bad_part})
    assert r.status_code == 400 and "molecule" in r.json()["error"]["message"]
    r = test_client.post(
        "/v1/chat/completions",
        json={"model": MODEL_NAME, "messages": first_turn(), "temperature": 5},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "temperature"


def test_body_too_large_and_unknown_route(test_client: Any) -> None:
    big = json.dumps({"model": MODEL_NAME, "messages": first_turn("x" * 30_000)})
    r = test_client.post(
        "/v1/chat/completions", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    r = test_client.get("/v1/nothing")
    assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_molecule_part_outside_a_user_message_is_refused(test_client: Any) -> None:
    messages = [
        {"role": "system", "content": [{"type": "molecule", "smiles": "CCO"}]},
        *first_turn(),
    ]
    r = test_client.post("/v1/chat/completions", json={"model": MODEL_NAME, "messages": messages})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_molecule_part"


def test_health(test_client: Any) -> None:
    assert test_client.get("/health").json()["status"] == "ok"


def test_score_gives_probabilities_of_the_options(test_client: Any) -> None:
    body = {"model": MODEL_NAME, "smiles": "CCO", "question": "Is it an alcohol?"}
    r = test_client.post("/v1/score", json={**body, "options": ["yes", "no"]})
    out = r.json()
    assert r.status_code == 200 and out["options"] == ["yes", "no"]
    assert sum(out["probs"]) == pytest.approx(1.0, abs=1e-4) and out["best"] in ("yes", "no")
    r = test_client.post("/v1/score", json={**body, "options": ["yes", "yes"]})
    assert r.status_code == 400 and "share a first token" in r.json()["error"]["message"]
    r = test_client.post("/v1/score", json={**body, "smiles": "C1CC(", "options": ["A", "B"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_smiles"


def test_patch_entropy_patches_and_drawing(test_client: Any) -> None:
    r = test_client.post("/v1/patch", json={"smiles": ASPIRIN, "rule": "combine"})
    out = r.json()
    assert r.status_code == 200 and out["svg"].lstrip().startswith("<?xml")
    n = len(out["atoms"])
    assert n == 13 and len(out["entropy"]) == len(out["patch_ids"]) == len(out["brics_ids"]) == n
    brics = test_client.post("/v1/patch", json={"smiles": ASPIRIN, "rule": "brics"}).json()
    assert brics["patch_ids"] == out["brics_ids"] and brics["brics_ids"] is None
    r = test_client.post("/v1/patch", json={"smiles": ASPIRIN, "rule": "nope"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "rule"
    r = test_client.post("/v1/patch", json={"smiles": "[N+5]"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_smiles"


def test_the_page_and_its_files_are_served(test_client: Any) -> None:
    page = test_client.get("/")
    assert page.status_code == 200 and "<title>edtformer" in page.text
    for name in ("app.js", "style.css"):
        assert test_client.get(f"/static/{name}").status_code == 200


def test_cli_serve_refuses_bad_flags_before_loading(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--max-tokens", "0"]) == 2
    assert "--max-tokens must be 1 to" in capsys.readouterr().err
    assert main(["serve", "--device", "toaster"]) == 2

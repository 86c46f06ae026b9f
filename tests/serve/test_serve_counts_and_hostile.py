"""The server counts molecule tokens as the CLI does, logs one line per request, names RDKit's
reason in its 400s, and answers hostile bodies with OpenAI-style 4xx (never a 500 or a reset)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from tests.fixtures.llm.tiny import make_tiny_llm

from conftest import MODEL_NAME
from edtformer.bridge import tiny
from edtformer.model import EDTFormer, EDTFormerConfig
from edtformer.serve.background import BackgroundServer

pytestmark = pytest.mark.filterwarnings("ignore:Passing `repetition_penalty`:UserWarning")
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> EDTFormer:
    """A tiny model with anchors and dynamic (BRICS) tokens."""
    root = tmp_path_factory.mktemp("tiny")
    llm = make_tiny_llm(root / "llm")
    torch.manual_seed(0)
    cfg = EDTFormerConfig(encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics")
    model = EDTFormer.build(cfg).eval()
    model.llm.generation_config.repetition_penalty = 1e4
    return model


@pytest.fixture(scope="module")
def client(tiny_model: EDTFormer) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from edtformer.serve import create_app

    with TestClient(create_app(tiny_model, MODEL_NAME), raise_server_exceptions=False) as c:
        yield c


def chat(smiles: str, question: str = "What is it?") -> dict[str, Any]:
    content = [{"type": "molecule", "smiles": smiles}, {"type": "text", "text": question}]
    return {"model": MODEL_NAME, "messages": [{"role": "user", "content": content}],
            "max_tokens": 3}  # fmt: skip


def test_token_counts_equal_the_cli_s(client: Any, tiny_model: EDTFormer) -> None:
    from edtformer.cli.ask import answer_dict

    r = client.post("/v1/chat/completions", json=chat(ASPIRIN))
    assert r.status_code == 200
    got = r.json()["edt"]
    cli = answer_dict(tiny_model.ask(ASPIRIN, "What is it?", max_new_tokens=3), "x")
    keys = ("n_molecule_tokens", "n_anchor_tokens", "n_dynamic_tokens")
    assert {k: got[k] for k in keys} == {k: cli[k] for k in keys}
    assert got["n_anchor_tokens"] > 0 and got["n_dynamic_tokens"] > 0
    assert got["n_molecule_tokens"] == sum(got[k] for k in keys[1:])
    assert "n_fact_tokens" not in got and "n_fact_tokens" not in cli  # no fact-writing bridge


def test_the_served_llm_is_laid_out_for_batches(client: Any, tiny_model: EDTFormer) -> None:
    from edtformer.llm.layout import column_major

    linears = [m for m in tiny_model.llm.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(column_major(m.weight) for m in linears)  # llm.layout.for_serving
    two = [{**chat(ASPIRIN), "max_tokens": 4}, {**chat("CCO"), "max_tokens": 4}]
    alone = [client.post("/v1/chat/completions", json=b).json() for b in two]
    texts = [a["choices"][0]["message"]["content"] for a in alone]
    direct = [tiny_model.ask(s, "What is it?", max_new_tokens=4).answer for s in (ASPIRIN, "CCO")]
    assert texts == direct  # the same answers as the model asked directly


def test_streamed_counts_equal_too(client: Any) -> None:
    with client.stream("POST", "/v1/chat/completions", json={**chat(ASPIRIN), "stream": True}) as r:
        events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: {")]
    final = next(e for e in events if e["choices"] and e["choices"][0]["finish_reason"])
    plain = client.post("/v1/chat/completions", json=chat(ASPIRIN)).json()["edt"]
    assert final["edt"] == plain


def test_one_access_line_per_request_without_molecule_text(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="edtformer.serve.access"):
        client.post("/v1/chat/completions", json=chat(ASPIRIN))
        client.post("/v1/chat/completions", json=chat("CC)C"))
        client.get("/health")
    lines = [r.getMessage() for r in caplog.records if r.name == "edtformer.serve.access"]
    assert len(lines) == 3
    assert lines[0].startswith("POST /v1/chat/completions 200 ") and lines[0].endswith(" ms")
    assert lines[1].startswith("POST /v1/chat/completions 400 ")
    assert lines[2].startswith("GET /health 200 ")
    assert not any(ASPIRIN in x or "CC)C" in x for x in lines)


@pytest.mark.parametrize(
    ("smiles", "words"),
    [
        ("C1CCCC", "unclosed ring (ring bond 1 opened at position 2"),
        ("CC)C", "extra close parentheses at position 3"),
        ("CCL", "syntax error at position 3 ('L')"),
        ("c1cccc1", "Can't kekulize"),
        ("C#C#C", "Explicit valence"),
        ("C[N+5]C", "formal charge +5"),
    ],
)
def test_400_names_rdkits_reason(client: Any, smiles: str, words: str) -> None:
    r = client.post("/v1/chat/completions", json=chat(smiles))
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_smiles" and words in err["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"[" * 10_000 + b"]" * 10_000, 400, "invalid_json"),
        (b'{"model": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", 400, "invalid_json"),
        (b'{"model": "x", "max_tokens": ' + b"9" * 5_000 + b"}", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
    ],
    ids=["nested-array", "nested-field", "huge-number", "not-an-object", "not-utf8"],
)
def test_hostile_bodies_are_4xx(client: Any, body: bytes, status: int, code: str) -> None:
    for route in ("/v1/chat/completions", "/v1/score", "/v1/patch"):
        r = client.post(route, content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, (route, r.text)
        assert r.json()["error"]["code"] == code


def _raw_post(url: str, body: bytes, chunked: bool = False) -> tuple[int, bytes]:
    """POST over a plain socket (the whole body sent first), return the status and body."""
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    )
    if chunked:
        head += "Transfer-Encoding: chunked\r\n\r\n"
        step = 1 << 16
        payload = (
            b"".join(
                f"{len(body[i : i + step]):x}\r\n".encode() + body[i : i + step] + b"\r\n"
                for i in range(0, len(body), step)
            )
            + b"0\r\n\r\n"
        )
    else:
        head += f"Content-Length: {len(body)}\r\n\r\n"
        payload = body
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(head.encode() + payload)  # a reset would raise here or on recv
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 4 + 10:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_ten_megabytes_is_a_413_not_a_reset(tiny_model: EDTFormer, chunked: bool) -> None:
    from edtformer.serve import create_app

    body = json.dumps({**chat(ASPIRIN, "x" * 10_000_000)}).encode()
    with BackgroundServer(create_app(tiny_model, MODEL_NAME)) as server:
        status, rest = _raw_post(server.url, body, chunked)
    assert status == 413 and b"body_too_large" in rest


def test_cli_serve_turns_the_access_log_on(tmp_path: Path) -> None:
    from edtformer.cli.main import build_parser

    args = build_parser().parse_args(["serve", "--no-access-log"])
    assert args.access_log is False
    assert build_parser().parse_args(["serve"]).access_log is True


def test_the_readme_s_curl_bodies_work(client: Any) -> None:
    """The two request bodies the README shows for ``curl`` (model name aside)."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    bodies = [
        json.loads(block.split("-d '", 1)[1].split("'", 1)[0])
        for block in readme.read_text().split("curl -s ")[1:3]
    ]
    assert [b.get("molecules") for b in bodies] == [None, ["CCO"]]
    for body in bodies:
        r = client.post("/v1/chat/completions", json={**body, "model": MODEL_NAME, "max_tokens": 2})
        assert r.status_code == 200, r.text


def test_a_sheet_model_returns_the_facts_it_read(tmp_path: Path) -> None:
    """With the exact fact sheet, the `edt` extension carries the sheet text the LLM read."""
    from fastapi.testclient import TestClient

    from edtformer.serve import create_app

    llm = make_tiny_llm(tmp_path / "llm")
    torch.manual_seed(0)
    cfg = EDTFormerConfig(
        encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics", fact_sheet=True
    )
    model = EDTFormer.build(cfg).eval()
    model.llm.config.max_position_embeddings = 4096  # the tiny tokenizer spells the sheet long
    with TestClient(create_app(model, MODEL_NAME), raise_server_exceptions=False) as c:
        r = c.post("/v1/chat/completions", json=chat(ASPIRIN, "How many rings?"))
        assert r.status_code == 200, r.text
        facts = r.json()["edt"]["facts"]
        assert len(facts) == 1 and "rings: 1" in facts[0] and "formula" not in facts[0]
        body = {**chat(ASPIRIN, "How many rings?"), "stream": True}
        events = [line for line in c.post("/v1/chat/completions", json=body).text.splitlines()
                  if line.startswith("data: {")]  # fmt: skip
        assert json.loads(events[-1][6:])["edt"]["facts"] == facts


def test_lettered_questions_are_answered_as_the_cli_answers_them(
    client: Any, tiny_model: EDTFormer
) -> None:
    """A single-turn question with lettered options: the options cloze-scored, as `edt ask`
    does (same answer, same counts), streamed as one piece."""
    q = "How many rings does it have?\nA) 0\nB) 1\nC) 2\nD) 3"
    cli = tiny_model.ask(ASPIRIN, q)
    assert cli.options is not None
    r = client.post("/v1/chat/completions", json=chat(ASPIRIN, q))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["choices"][0]["message"]["content"] == cli.answer
    assert body["edt"]["n_dynamic_tokens"] == cli.n_dynamic_tokens
    assert body["usage"]["prompt_tokens"] > 0
    with client.stream(
        "POST", "/v1/chat/completions", json={**chat(ASPIRIN, q), "stream": True}
    ) as s:
        events = [json.loads(x[6:]) for x in s.iter_lines() if x.startswith("data: {")]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == cli.answer


def test_answers_are_begun_as_the_cli_begins_them(tmp_path: Path) -> None:
    """A JSON question under a named key is answered ``{"key": ...}`` (valid JSON, streamed
    the same), a question naming no sheet fact is declined, as ``edt ask`` answers them."""
    from fastapi.testclient import TestClient

    from edtformer.serve import create_app

    llm = make_tiny_llm(tmp_path / "llm")
    torch.manual_seed(0)
    cfg = EDTFormerConfig(
        encoders=("random",), llm=str(llm), bridge=tiny(), patch_rule="brics", fact_sheet=True,
        sheet_lines="facts", decline_unnamed=True,
    )  # fmt: skip
    model = EDTFormer.build(cfg).eval()
    model.llm.config.max_position_embeddings = 4096
    model.llm.generation_config.repetition_penalty = 1e4
    q = 'How many rings? Emit JSON; store the result under "rings".'
    with TestClient(create_app(model, MODEL_NAME), raise_server_exceptions=False) as c:
        r = c.post("/v1/chat/completions", json={**chat(ASPIRIN, q), "max_tokens": 4})
        assert r.status_code == 200, r.text
        text = r.json()["choices"][0]["message"]["content"]
        assert set(json.loads(text)) == {"rings"}
        assert text == model.ask(ASPIRIN, q, max_new_tokens=4).answer
        body = {**chat(ASPIRIN, "What is its melting point?"), "stream": True, "max_tokens": 3}
        events = [json.loads(x[6:]) for x in c.post("/v1/chat/completions", json=body).text
                  .splitlines() if x.startswith("data: {")]  # fmt: skip
        streamed = "".join(
            e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"]
        )
        assert streamed.startswith("I can't tell")
        groups = "Which functional groups does it have?"  # decoded within the sheet's list
        # (max_tokens is a hard cap in the API, where ask() stretches its budget to hold the
        # whole list: a cap above the list's length gives both the same answer)
        r = c.post("/v1/chat/completions", json={**chat(ASPIRIN, groups), "max_tokens": 64})
        text = r.json()["choices"][0]["message"]["content"]
        assert text == model.ask(ASPIRIN, groups, max_new_tokens=64).answer
        from edtformer.chem import parse_smiles
        from edtformer.facts.groups import present_groups

        names = set(present_groups(parse_smiles(ASPIRIN).mol))
        assert text and {w.strip() for w in text.split(",") if w.strip()} == names  # all of them

"""``api/openai.py`` against a stub chat completions API on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from examples.pages import wsgi
from microapi.testing import TestClient, TestResponse

from .upstream import StubUpstream, running

KEY = "sk-test-key-5b2e9d"
ANSWER = {
    "id": "chatcmpl-1",
    "model": "gpt-4",
    "choices": [{"message": {"role": "assistant", "content": "Hello, Ada!"}}],
}


@pytest.fixture
def upstream() -> Iterator[StubUpstream]:
    with running() as server:
        server.reply = ANSWER
        yield server


@pytest.fixture
def client(upstream: StubUpstream, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.setenv("OPENAI_API_URL", upstream.url("/v1/chat/completions"))
    monkeypatch.setenv("OPENAI_API_KEY", f"{KEY}\n")  # pasted with its newline
    return TestClient(wsgi.api)


def assert_private(response: TestResponse, *secrets: str) -> None:
    """None of *secrets*, nor the key, in the client's status, headers or body."""
    seen = f"{response.status}\n{response.headers}\n{response.get_data(as_text=True)}"
    for secret in (KEY, *secrets):
        assert secret not in seen


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert isinstance(problem, dict)
    return problem


def test_the_prompt_goes_upstream_with_the_key(client: TestClient, upstream: StubUpstream) -> None:
    response = client.post(
        "/api/openai?model=gpt-5",
        json={"prompt": "Say hello to Ada"},
        headers={"Authorization": "Bearer the-users-own-token", "Cookie": "session=1"},
    )
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json == ANSWER
    (received,) = upstream.received
    assert (received.method, received.path) == ("POST", "/v1/chat/completions")
    assert received.headers["Authorization"] == f"Bearer {KEY}"
    assert received.headers["Content-Type"] == "application/json"
    assert "Cookie" not in received.headers
    assert received.json() == {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": "Say hello to Ada"}],
    }
    assert_private(response, "127.0.0.1", f":{upstream.server_port}")


def test_an_upstream_error_stays_an_error(client: TestClient, upstream: StubUpstream) -> None:
    upstream.status = 429
    upstream.reply = {"error": {"message": "Rate limit reached", "type": "requests"}}
    response = client.post("/api/openai", json={"prompt": "hi"})
    assert response.status_code == 429
    assert response.json == upstream.reply
    assert_private(response)


REQUIRED = {"prompt": ["must be a non-empty string"]}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, REQUIRED),
        ({"prompt": 3}, REQUIRED),
        ({"prompt": None}, REQUIRED),
        ({"prompt": " \t\n"}, REQUIRED),
        ({"prompt": "x" * 40_000}, {"prompt": ["at most 32768 characters"]}),
        (["hi"], {"_schema": ["must be an object"]}),
        ("hi", {"_schema": ["must be an object"]}),
    ],
)
def test_the_prompt_is_required(
    client: TestClient, upstream: StubUpstream, body: Any, errors: dict[str, list[str]]
) -> None:
    problem = assert_problem(client.post("/api/openai", json=body), 422)
    assert problem["errors"] == errors
    assert upstream.received == []


def test_the_prompt_is_sent_trimmed(client: TestClient, upstream: StubUpstream) -> None:
    assert client.post("/api/openai", json={"prompt": "  hi\n"}).status_code == 200
    [sent] = upstream.received
    assert sent.json()["messages"] == [{"role": "user", "content": "hi"}]


def test_only_post(client: TestClient, upstream: StubUpstream) -> None:
    response = client.get("/api/openai")
    assert_problem(response, 405)
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert upstream.received == []


def test_a_stopped_upstream_is_a_502_naming_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with running() as stopped:
        url = stopped.url("/v1/chat/completions")
        port = str(stopped.server_port)
    monkeypatch.setenv("OPENAI_API_URL", url)  # nobody listens there any more
    with caplog.at_level(logging.WARNING):
        response = client.post("/api/openai", json={"prompt": "hi"})
    problem = assert_problem(response, 502)
    assert problem["detail"] == "the upstream service is unavailable"
    assert_private(response, url, "127.0.0.1", port, "/v1/chat")
    for secret in (KEY, url, "127.0.0.1", port):
        assert secret not in caplog.text
    assert "upstream unavailable" in caplog.text


@pytest.mark.parametrize("key", [None, "", "  \n"])
def test_a_missing_key_is_a_503(
    client: TestClient,
    upstream: StubUpstream,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    key: str | None,
) -> None:
    if key is None:
        monkeypatch.delenv("OPENAI_API_KEY")
    else:
        monkeypatch.setenv("OPENAI_API_KEY", key)
    with caplog.at_level(logging.ERROR):
        response = client.post("/api/openai", json={"prompt": "hi"})
    problem = assert_problem(response, 503)
    assert problem["detail"] == "this service is not configured"
    assert_private(response, "OPENAI_API_KEY", "127.0.0.1", f":{upstream.server_port}")
    assert upstream.received == []
    # The operator learns why from the log.
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "OPENAI_API_KEY is not set: /api/openai answers 503")
    ]

"""The proxy example against stub weather and chat APIs on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from examples.proxy.wsgi import api
from microapi.proxy import close_pool
from microapi.testing import TestClient

WEATHER_KEY = "weather-key-4f9c2a"
OPENAI_KEY = "sk-openai-key-7d1e0b"


class _Server(ThreadingHTTPServer):
    seen: list[dict[str, Any]]
    stopping: threading.Event

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the proxy giving up on /slow is expected


class _StubApis(BaseHTTPRequestHandler):
    """Just enough of a weather API and of OpenAI's chat completions."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._reply(status, json.dumps(value).encode(), {"Content-Type": "application/json"})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.server.seen.append({"path": url.path, "query": query, "headers": dict(self.headers)})
        if url.path == "/slow":
            self.server.stopping.wait(1.5)
        if query.get("appid") != [WEATHER_KEY]:
            return self._json(401, {"cod": 401, "message": "Invalid API key"})
        body = {"name": query["q"][0], "main": {"temp": 21.5}, "units": query["units"][0]}
        return self._reply(
            200,
            json.dumps(body).encode(),
            {"Content-Type": "application/json", "Cache-Control": "max-age=600"},
        )

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.seen.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        if self.headers["Authorization"] != f"Bearer {OPENAI_KEY}":
            return self._json(401, {"error": {"message": "Incorrect API key provided"}})
        request = json.loads(body)
        words = f"You said: {request['messages'][0]['content']}".split()
        if not request["stream"]:
            message = {"role": "assistant", "content": " ".join(words)}
            return self._json(200, {"model": request["model"], "choices": [{"message": message}]})
        # Server-sent events, one chunk per word, as OpenAI streams them.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for word in [*words, None]:
            data = json.dumps({"choices": [{"delta": {"content": word}}]}) if word else "[DONE]"
            event = f"data: {data}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        return None


@pytest.fixture(scope="module")
def stub() -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _StubApis)
    server.seen = []
    server.stopping = threading.Event()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        close_pool()
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def client(stub: _Server, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    stub.seen.clear()
    base = f"http://127.0.0.1:{stub.server_port}"
    monkeypatch.setenv("WEATHER_API_URL", f"{base}/data/2.5/weather")
    monkeypatch.setenv("WEATHER_API_KEY", WEATHER_KEY)
    monkeypatch.setenv("OPENAI_API_URL", f"{base}/v1/chat/completions")
    monkeypatch.setenv("OPENAI_API_KEY", f"{OPENAI_KEY}\n")  # pasted with its newline
    return TestClient(api)


def assert_private(text: str | bytes, stub: _Server) -> None:
    if isinstance(text, bytes):
        text = text.decode()
    for secret in (WEATHER_KEY, OPENAI_KEY, "127.0.0.1", f":{stub.server_port}"):
        assert secret not in text


def test_weather_adds_the_key_the_client_never_sees(client: TestClient, stub: _Server) -> None:
    response = client.get("/api/weather?city=Tokyo&appid=attacker&units=imperial")
    assert response.status_code == 200
    assert response.json == {"name": "Tokyo", "main": {"temp": 21.5}, "units": "imperial"}
    assert response.headers["Cache-Control"] == "max-age=600"
    (seen,) = stub.seen
    assert seen["path"] == "/data/2.5/weather"
    assert seen["query"] == {"q": ["Tokyo"], "units": ["imperial"], "appid": [WEATHER_KEY]}
    assert_private(response.data, stub)
    assert_private(str(response.headers), stub)


def test_weather_checks_its_query(client: TestClient, stub: _Server) -> None:
    for query in ("", "?city=", "?units=metric"):
        missing = client.get(f"/api/weather{query}")
        assert (missing.status_code, missing.json["errors"]) == (422, {"city": ["required"]})
    bad = client.get("/api/weather?city=Tokyo&units=kelvin")
    assert bad.json["errors"] == {"units": ["must be one of metric, imperial, standard"]}
    assert stub.seen == []


def test_chat_sends_the_bearer_key(client: TestClient, stub: _Server) -> None:
    response = client.post(
        "/api/chat",
        json={"prompt": "Hello there"},
        headers={"Authorization": "Bearer the-users-own-token", "Cookie": "session=1"},
    )
    assert response.status_code == 200
    assert response.json == {
        "model": "gpt-4",
        "choices": [{"message": {"role": "assistant", "content": "You said: Hello there"}}],
    }
    (seen,) = stub.seen
    assert seen["headers"]["Authorization"] == f"Bearer {OPENAI_KEY}"
    assert "Cookie" not in seen["headers"]
    assert json.loads(seen["body"]) == {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": "Hello there"}],
        "stream": False,
    }
    assert_private(response.data, stub)


def test_chat_streams_events_as_they_come(client: TestClient) -> None:
    response = client.post("/api/chat", json={"prompt": "one two", "stream": True}, buffered=False)
    try:
        assert response.headers["Content-Type"] == "text/event-stream"
        events = [event for event in response.iter_encoded() if event]
    finally:
        response.close()
    assert len(events) == 5  # "You", "said:", "one", "two", [DONE]
    assert events[-1] == b"data: [DONE]\n\n"


def test_chat_checks_its_body(client: TestClient, stub: _Server) -> None:
    for body in ({}, {"prompt": ""}, {"prompt": 3}, {"prompt": None}):
        response = client.post("/api/chat", json=body)
        assert response.status_code == 422
        assert response.json["errors"] == {"prompt": ["must be a non-empty string"]}
    assert client.post("/api/chat", json=[1]).status_code == 422
    response = client.post("/api/chat", json={"prompt": "hi", "stream": "yes"})
    assert response.json["errors"] == {"stream": ["must be true or false"]}
    assert client.post("/api/chat", data=b"{", content_type="application/json").status_code == 400
    assert stub.seen == []


def test_upstream_down_is_a_502_that_names_nothing(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when this block ends: nobody listens
    monkeypatch.setenv("WEATHER_API_URL", f"http://127.0.0.1:{port}/weather")
    response = client.get("/api/weather?city=Tokyo")
    assert response.status_code == 502
    assert response.mimetype == "application/problem+json"
    for text in (response.get_data(as_text=True), caplog.text):
        assert WEATHER_KEY not in text
        assert "127.0.0.1" not in text
        assert str(port) not in text


def test_upstream_too_slow_is_a_504(
    client: TestClient, stub: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEATHER_API_URL", f"http://127.0.0.1:{stub.server_port}/slow")
    monkeypatch.setenv("WEATHER_API_TIMEOUT", "0.3")
    response = client.get("/api/weather?city=Tokyo")
    assert (response.status_code, response.json["title"]) == (504, "Gateway Timeout")
    assert_private(response.data, stub)


def test_a_missing_key_is_a_503_logged_for_the_operator(
    client: TestClient,
    stub: _Server,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    response = client.post("/api/chat", json={"prompt": "hi"})
    assert (response.status_code, response.json["detail"]) == (
        503,
        "this service is not configured",
    )
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.ERROR, "OPENAI_API_KEY is not set: the routes that need it answer 503")
    ]
    assert stub.seen == []

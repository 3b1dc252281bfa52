"""The todos example under real server workers (gunicorn and granian), over a SQLite file."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SERVERS, Served, serving


@pytest.fixture(scope="module", params=SERVERS)
def server_and_database(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[tuple[Served, Path]]:
    """Each server in turn (2 workers) on a free port over a new SQLite file; stopped after."""
    # `microapi serve` imports the app before the fork, so each worker must
    # make its own engine.
    path = tmp_path_factory.mktemp("todos-db") / "todos.db"
    with serving(
        "examples.todos.wsgi:api",
        tmp_path_factory.mktemp("server"),
        request.param,
        env={"DATABASE_URL": f"sqlite:///{path}"},
    ) as served:
        yield served, path


@pytest.fixture
def server(server_and_database: tuple[Served, Path]) -> tuple[str, int]:
    """The server's address."""
    return server_and_database[0].address


@pytest.fixture
def database_path(server_and_database: tuple[Served, Path]) -> Path:
    """The SQLite file the server uses (created by its first request)."""
    return server_and_database[1]


def request(
    server: tuple[str, int], method: str, path: str, body: Any = None
) -> tuple[int, Message, Any]:
    """One request on a new connection (so both workers get some)."""
    connection = http.client.HTTPConnection(*server, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        # NOTE: response.headers ignores case: granian sends names in lower case.
        return response.status, response.headers, json.loads(data) if data else None
    finally:
        connection.close()


def test_create_and_list_over_http(server: tuple[str, int], database_path: Path) -> None:
    created = []
    for n in range(6):
        status, headers, todo = request(server, "POST", "/api/todos", {"title": f"todo {n}"})
        assert status == 201, todo
        assert headers["Location"] == f"/api/todos/{todo['id']}"
        created.append(todo)
    status, _, page = request(server, "GET", "/api/todos?limit=100")
    assert status == 200
    assert page["total"] == 6
    assert page["items"] == created
    status, _, problem = request(server, "POST", "/api/todos", {"title": ""})
    assert (status, problem["errors"]) == (422, {"title": ["Length must be between 1 and 200."]})
    assert database_path.is_file()  # DATABASE_URL was honoured


def test_each_request_has_an_access_line_with_its_request_id(
    server_and_database: tuple[Served, Path],
) -> None:
    # What `make run` shows: one line per request, naming the id the client got.
    served = server_and_database[0]
    ids = []
    for path in ["/api/todos", "/api/todos/999999"]:
        status, headers, _ = request(served.address, "GET", path)
        assert status in (200, 404)
        ids.append(headers["X-Request-ID"])
    assert len(set(ids)) == 2
    deadline = time.monotonic() + 10  # the line is written after the response is sent
    while time.monotonic() < deadline:
        lines = [line for line in list(served.log) if "request_id=" in line]
        if all(any(f"request_id={id_}" in line for line in lines) for id_ in ids):
            break
        time.sleep(0.05)
    for id_, path in zip(ids, ["/api/todos", "/api/todos/999999"], strict=True):
        (line,) = [line for line in served.log if f"request_id={id_}" in line]
        assert f'"GET {path} HTTP/1.1"' in line

"""The todos example under real gunicorn workers, over a SQLite file."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import gunicorn


@pytest.fixture(scope="module")
def database_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SQLite file the server uses (created by its first request)."""
    return tmp_path_factory.mktemp("todos-db") / "todos.db"


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, database_path: Path
) -> Iterator[tuple[str, int]]:
    """Start gunicorn (2 workers, app preloaded) on a free port; stop it after."""
    # --preload, as `microapi serve` does: the app is imported before the
    # fork, so each worker must make its own engine.
    with gunicorn(
        "examples.todos.wsgi:api",
        tmp_path_factory.mktemp("gunicorn"),
        "--preload",
        env={"DATABASE_URL": f"sqlite:///{database_path}"},
    ) as address:
        yield address


def request(
    server: tuple[str, int], method: str, path: str, body: Any = None
) -> tuple[int, dict[str, str], Any]:
    """One request on a new connection (so both workers get some)."""
    connection = http.client.HTTPConnection(*server, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        payload = None if body is None else json.dumps(body)
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), json.loads(data) if data else None
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

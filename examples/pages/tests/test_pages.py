"""The pages example, sample by sample, through the test client."""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from examples.pages import wsgi
from microapi.testing import TestClient, TestResponse


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh database file for the test (created by the first request)."""
    path = tmp_path / "pages.sqlite3"
    monkeypatch.setenv("PAGES_DATABASE", str(path))
    return path


@pytest.fixture
def client(database: Path, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    # users/[id].py keeps its users in memory: give each test its own.
    users = route_module("users.[id]")
    monkeypatch.setattr(users, "USERS", {1: {"id": 1, "name": "Ada"}})
    return TestClient(wsgi.api)


def route_module(name: str) -> Any:
    """The module of a discovered file, found by its route name."""
    route = next(route for route in wsgi.api.routes() if route.name == name)
    return sys.modules[route.handler.__module__]


def rows(database: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as db:
        return db.execute(query).fetchall()


def assert_problem(response: TestResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = response.json
    return problem


def test_the_files_are_the_routes() -> None:
    assert sorted({(route.path, route.name) for route in wsgi.api.routes()}) == [
        ("/api/contact", "contact"),
        ("/api/errors/crash", "errors.crash"),
        ("/api/errors/upstream", "errors.upstream"),
        ("/api/hello", "hello"),
        ("/api/hello-app", "hello-app"),
        ("/api/openai", "openai"),
        ("/api/private/user", "private.user"),
        ("/api/todos", "todos.index"),
        ("/api/todos/[id]", "todos.[id]"),
        ("/api/users/[id]", "users.[id]"),
    ]


def test_hello_pages_router(client: TestClient) -> None:
    response = client.get("/api/hello")
    assert response.status_code == 200
    assert response.json == {"message": "Hello API!"}
    # export default function handler: every method reaches it.
    assert client.post("/api/hello").json == {"message": "Hello API!"}


def test_hello_app_router(client: TestClient) -> None:
    assert client.get("/api/hello-app").json == {"message": "Hello from App Router!"}
    echoed = client.post("/api/hello-app", json={"name": "Ada", "tags": [1, 2]})
    assert echoed.json == {"received": {"name": "Ada", "tags": [1, 2]}}
    not_exported = client.put("/api/hello-app")
    assert_problem(not_exported, 405)
    assert not_exported.headers["Allow"] == "GET, HEAD, OPTIONS, POST"


def test_users_one_handler_three_methods(client: TestClient) -> None:
    assert client.get("/api/users/1").json == {"id": 1, "name": "Ada"}
    renamed = client.put("/api/users/1", json={"name": "Grace"})
    assert renamed.json == {"id": 1, "name": "Grace"}
    invalid = assert_problem(client.put("/api/users/1", json={"name": 3}), 422)
    assert invalid["errors"] == {"name": ["must be a string"]}
    assert client.delete("/api/users/1").status_code == 204
    assert assert_problem(client.get("/api/users/1"), 404)["detail"] == "user 1 not found"
    assert_problem(client.get("/api/users/abc"), 404)
    assert_problem(client.post("/api/users/2"), 405)


def test_private_routes_need_a_token_signed_by_the_app(client: TestClient) -> None:
    token = wsgi.api.tokens.issue({"sub": 1})
    missing = client.get("/api/private/user")
    assert_problem(missing, 401)
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    for header in ("Bearer wrong", f"Bearer {token}x", f"Token {token}", "Basic dGVzdA=="):
        assert_problem(client.get("/api/private/user", headers={"Authorization": header}), 401)
    unknown_user = wsgi.api.tokens.issue({"sub": 2})
    headers = {"Authorization": f"Bearer {unknown_user}"}
    assert_problem(client.get("/api/private/user", headers=headers), 401)
    allowed = client.get("/api/private/user", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200
    assert allowed.json == {"user": {"id": 1, "name": "Ada"}}
    # The folder's middleware guards only its folder.
    assert client.get("/api/hello").status_code == 200


def test_contact_form_from_a_browser(client: TestClient, database: Path) -> None:
    page = client.get("/api/contact")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert '<form method="post" action="/api/contact">' in page.get_data(as_text=True)
    posted = client.post(
        "/api/contact",
        data={"name": " Ada ", "email": "ada@example.com", "message": "Hello!"},
    )
    assert posted.status_code == 303
    assert posted.headers["Location"] == "/api/contact?sent=1"
    thanks = client.get(posted.headers["Location"])
    assert "your message was sent" in thanks.get_data(as_text=True)
    assert rows(database, "SELECT name, email, message FROM messages") == [
        ("Ada", "ada@example.com", "Hello!")
    ]


def test_contact_form_from_fetch(client: TestClient, database: Path) -> None:
    sent = client.post(
        "/api/contact", json={"name": "Linus", "email": "l@example.org", "message": "Hi"}
    )
    assert sent.status_code == 201
    assert sent.json == {"id": 1, "received": True}
    assert rows(database, "SELECT name FROM messages") == [("Linus",)]


@pytest.mark.parametrize(
    ("send", "errors"),
    [
        ({"json": {}}, {"name": ["required"], "email": ["required"], "message": ["required"]}),
        ({"data": {"name": "Ada", "message": "Hi"}}, {"email": ["required"]}),
        (
            {"json": {"name": " ", "email": "ada at example", "message": 3}},
            {"name": ["required"], "email": ["not an email address"], "message": ["required"]},
        ),
        (
            {"json": {"name": "x" * 101, "email": "a@b.co", "message": "Hi"}},
            {"name": ["at most 100 characters"]},
        ),
        ({"json": ["Ada"]}, {"_schema": ["must be an object"]}),
    ],
)
def test_contact_form_is_validated(
    client: TestClient, database: Path, send: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    problem = assert_problem(client.post("/api/contact", **send), 422)
    assert problem["errors"] == errors
    assert not database.exists()  # nothing was stored: the database was not even opened


def test_contact_form_content_types_and_size(client: TestClient) -> None:
    assert_problem(client.post("/api/contact", data="hi", content_type="text/plain"), 415)
    too_big = {"name": "Ada", "email": "a@b.co", "message": "x" * 20_000}
    assert_problem(client.post("/api/contact", json=too_big), 413)  # config body_limit


def test_todos_database(client: TestClient, database: Path) -> None:
    assert not database.exists()
    assert client.get("/api/todos").json == []
    assert database.exists()  # created on first use
    created = client.post("/api/todos", json={"title": "Write tests"})
    assert created.status_code == 201
    assert created.json == {"id": 1, "title": "Write tests", "done": False}
    assert created.headers["Location"] == "/api/todos/1"
    client.post("/api/todos", json={"title": "Ship", "done": True})
    assert client.get("/api/todos").json == [
        {"id": 1, "title": "Write tests", "done": False},
        {"id": 2, "title": "Ship", "done": True},
    ]
    assert client.get(created.headers["Location"]).json["title"] == "Write tests"
    changed = client.patch("/api/todos/1", json={"done": True})
    assert changed.json == {"id": 1, "title": "Write tests", "done": True}
    assert client.patch("/api/todos/1", json={"title": "Renamed"}).json["title"] == "Renamed"
    assert rows(database, "SELECT id, title, done FROM todos WHERE id = 1") == [(1, "Renamed", 1)]
    assert client.delete("/api/todos/1").status_code == 204
    assert assert_problem(client.get("/api/todos/1"), 404)["detail"] == "todo 1 not found"
    assert_problem(client.delete("/api/todos/1"), 404)
    assert [todo["id"] for todo in client.get("/api/todos").json] == [2]


@pytest.mark.parametrize("todo_id", ["abc", "1.5", "-1", "\u0661"])  # the last: Arabic-Indic one
def test_todo_ids_that_are_not_numbers(client: TestClient, todo_id: str) -> None:
    client.post("/api/todos", json={"title": "one"})
    assert_problem(client.get(f"/api/todos/{todo_id}"), 404)


@pytest.mark.parametrize(
    ("method", "body", "errors"),
    [
        ("post", {}, {"title": ["required: a non-empty string"]}),
        ("post", {"title": "  "}, {"title": ["required: a non-empty string"]}),
        ("post", {"title": "x" * 201}, {"title": ["at most 200 characters"]}),
        ("post", {"title": "ok", "done": "maybe"}, {"done": ["must be true or false"]}),
        ("post", {"title": "ok", "owner": "me"}, {"owner": ["Unknown field."]}),
        ("post", [1], {"_schema": ["must be an object"]}),
        ("patch", {"title": 3}, {"title": ["required: a non-empty string"]}),
    ],
)
def test_todos_are_validated(
    client: TestClient, method: str, body: Any, errors: dict[str, list[str]]
) -> None:
    client.post("/api/todos", json={"title": "existing"})
    url = "/api/todos" if method == "post" else "/api/todos/1"
    problem = assert_problem(getattr(client, method)(url, json=body), 422)
    assert problem["errors"] == errors
    assert client.get("/api/todos/1").json["title"] == "existing"


def test_a_known_failure_is_a_specific_error(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        response = client.get("/api/errors/upstream")
    problem = assert_problem(response, 503)
    assert problem["detail"] == "the upstream service is unavailable; try again in 30 seconds"
    assert response.headers["Retry-After"] == "30"
    assert "upstream refused the connection" in caplog.text


def test_an_unexpected_exception_shows_no_internals(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        response = client.get("/api/errors/crash")
    problem = assert_problem(response, 500)
    assert problem["title"] == "Internal Server Error"
    assert "traceback" not in problem
    body = response.get_data(as_text=True)
    assert "hunter2" not in body
    assert "RuntimeError" not in body
    # The log has it all, for the people running the service.
    assert "hunter2" in caplog.text
    assert "Traceback" in caplog.text

"""The todos API, route by route, over SQLite and a real PostgreSQL."""

from __future__ import annotations

import datetime
import logging
import re
from typing import Any

import pytest
from sqlalchemy import text

from examples.todos.db import Database
from microapi.testing import TestClient
from tests.helpers import assert_problem

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00")


def create(client: TestClient, title: str = "write tests", **fields: Any) -> dict[str, Any]:
    response = client.post("/api/todos", json={"title": title, **fields})
    assert response.status_code == 201, response.get_data(as_text=True)
    todo: dict[str, Any] = response.json
    return todo


def test_create(client: TestClient) -> None:
    before = datetime.datetime.now(datetime.timezone.utc)
    response = client.post("/api/todos", json={"title": "write tests"})
    assert response.status_code == 201
    todo = response.json
    assert response.headers["Location"] == f"/api/todos/{todo['id']}"
    assert {key: todo[key] for key in ("title", "done")} == {"title": "write tests", "done": False}
    assert isinstance(todo["id"], int)
    assert ISO_UTC.fullmatch(todo["created_at"]), todo["created_at"]
    created = datetime.datetime.fromisoformat(todo["created_at"])
    assert (
        before - datetime.timedelta(seconds=1) <= created <= before + datetime.timedelta(minutes=1)
    )
    assert client.get(response.headers["Location"]).json == todo


def test_create_done_and_the_longest_title(client: TestClient) -> None:
    todo = create(client, "x" * 200, done=True)
    assert (todo["title"], todo["done"]) == ("x" * 200, True)
    assert create(client, "é 🎉 ünïcode")["title"] == "é 🎉 ünïcode"


def test_get_put_patch_delete(client: TestClient) -> None:
    todo = create(client, "draft")
    url = f"/api/todos/{todo['id']}"
    assert client.get(url).json == todo

    replaced = client.put(url, json={"title": "final", "done": True})
    assert replaced.status_code == 200
    assert replaced.json == {**todo, "title": "final", "done": True}

    patched = client.patch(url, json={"done": False})
    assert patched.status_code == 200
    assert patched.json == {**todo, "title": "final", "done": False}
    assert client.patch(url, json={"title": "renamed"}).json["title"] == "renamed"
    unchanged = client.patch(url, json={})
    assert unchanged.json == {**todo, "title": "renamed"}
    assert client.get(url).json == unchanged.json

    deleted = client.delete(url)
    assert (deleted.status_code, deleted.data) == (204, b"")
    assert_problem(client.get(url), 404)
    assert client.get("/api/todos").json["total"] == 0


def test_list_pages_and_total(client: TestClient) -> None:
    ids = [create(client, f"todo {n}")["id"] for n in range(5)]
    first = client.get("/api/todos").json
    assert (first["total"], first["limit"], first["offset"]) == (5, 20, 0)
    assert [item["id"] for item in first["items"]] == ids  # oldest first
    pages = [client.get(f"/api/todos?limit=2&offset={offset}").json for offset in (0, 2, 4, 6)]
    assert [[item["id"] for item in page["items"]] for page in pages] == [
        ids[0:2],
        ids[2:4],
        ids[4:],
        [],
    ]
    assert {page["total"] for page in pages} == {5}
    assert [(page["limit"], page["offset"]) for page in pages] == [(2, 0), (2, 2), (2, 4), (2, 6)]
    assert len(client.get("/api/todos?limit=100").json["items"]) == 5
    assert client.get("/api/todos?limit=1").json["items"] == [first["items"][0]]


def test_list_filters_by_done(client: TestClient) -> None:
    done = [create(client, f"done {n}", done=True)["id"] for n in range(2)]
    open_ = [create(client, f"open {n}")["id"] for n in range(3)]
    finished = client.get("/api/todos?done=true").json
    assert ([item["id"] for item in finished["items"]], finished["total"]) == (done, 2)
    pending = client.get("/api/todos?done=false&limit=2").json
    assert ([item["id"] for item in pending["items"]], pending["total"]) == (open_[:2], 3)
    assert client.get("/api/todos").json["total"] == 5


def test_an_empty_list(client: TestClient) -> None:
    assert client.get("/api/todos").json == {"items": [], "total": 0, "limit": 20, "offset": 0}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": 3}, "title"),
        ({"title": None}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "nul \x00 byte"}, "title"),
        ({}, "title"),
        ({"title": "ok", "done": "yes"}, "done"),
        ({"title": "ok", "done": 1}, "done"),
        ({"title": "ok", "done": None}, "done"),
        ({"title": "ok", "owner": "me"}, "owner"),
    ],
)
def test_invalid_bodies_are_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    problem = assert_problem(client.post("/api/todos", json=body), 422)
    assert list(problem["errors"]) == [field]
    assert client.get("/api/todos").json["total"] == 0


def test_a_lone_surrogate_is_refused_before_the_schema(client: TestClient) -> None:
    # microapi's JSON parser refuses it (400): no database driver sees it.
    raw = b'{"title": "lone \\ud800 surrogate"}'
    problem = assert_problem(
        client.post("/api/todos", data=raw, content_type="application/json"), 400
    )
    assert "lone surrogate" in problem["detail"]
    assert client.get("/api/todos").json["total"] == 0


def test_put_requires_both_fields_and_patch_checks_types(client: TestClient) -> None:
    url = f"/api/todos/{create(client)['id']}"
    problem = assert_problem(client.put(url, json={"title": "only"}), 422)
    assert problem["errors"] == {"done": ["Missing data for required field."]}
    assert assert_problem(client.patch(url, json={"title": ""}), 422)["errors"].keys() == {"title"}
    assert assert_problem(client.patch(url, json={"done": "no"}), 422)["errors"].keys() == {"done"}
    assert assert_problem(client.patch(url, json={"id": 7}), 422)["errors"].keys() == {"id"}
    assert client.get(url).json["title"] == "write tests"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        (f"offset={2**63}", "offset"),
        ("done=maybe", "done"),
        ("done=", "done"),
    ],
)
def test_invalid_queries_are_422(client: TestClient, query: str, field: str) -> None:
    problem = assert_problem(client.get(f"/api/todos?{query}"), 422)
    assert list(problem["errors"]) == [field]


def test_unknown_query_parameters_are_ignored(client: TestClient) -> None:
    assert client.get("/api/todos?utm_source=mail").status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("todo_id", ["999", str(2**64)])
def test_missing_todos_are_404(client: TestClient, method: str, todo_id: str) -> None:
    body = {"title": "t", "done": False} if method in ("PUT", "PATCH") else None
    problem = assert_problem(client.open(f"/api/todos/{todo_id}", method=method, json=body), 404)
    assert problem["detail"] == f"todo {todo_id} not found"


def test_a_text_body_is_415(client: TestClient) -> None:
    response = client.post("/api/todos", data="buy milk", content_type="text/plain")
    assert "application/json" in assert_problem(response, 415)["detail"]


def test_a_form_body_is_accepted(client: TestClient) -> None:
    response = client.post("/api/todos", data={"title": "from a form", "done": "true"})
    assert response.status_code == 201
    assert (response.json["title"], response.json["done"]) == ("from a form", True)


def test_other_database_errors_are_logged_500s_without_sql(
    client: TestClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    create(client)
    with database.transaction() as connection:
        connection.execute(text("DROP TABLE todos"))
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        response = client.get("/api/todos", headers={"X-Request-ID": "ignored"})
    problem = assert_problem(response, 500)
    assert set(problem) <= {"type", "title", "status", "detail"}
    body = response.get_data(as_text=True).lower()
    assert "select" not in body
    assert "todos" not in body
    assert "Retry-After" not in response.headers
    [record] = [r for r in caplog.records if r.name == "microapi.error"]
    assert record.exc_info is not None
    assert "unhandled exception in GET /api/todos" in record.getMessage()
    assert "request_id=" in record.getMessage()

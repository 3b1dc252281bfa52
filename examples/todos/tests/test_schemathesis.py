"""Property-based tests of the todos API from its own OpenAPI document.

schemathesis reads ``/openapi.json`` from the app itself (in process,
through WSGI), generates requests for every operation, valid ones and
invalid ones, sends them, and runs all its checks on every response: no
5xx, status codes, content types, headers and bodies as documented, and
invalid input refused with a 4xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from examples.todos.db import Database
from examples.todos.wsgi import create_api
from microapi.testing import TestClient

#: Todos created before each operation is tested: ids 1 to SEEDED exist.
SEEDED = 5


# NOTE: the document is read through WSGI from an app like the one tested;
# producing it touches no database (the engine is made on the first request
# that uses one), so this app's database is never opened.  The requests go
# to ``todos_app``, over a fresh database per operation.
# schemathesis.pytest.from_fixture would load it per test instead, but it
# fails on pytest 9.2 (it reads the removed ``Function._nodeid``).
schema = schemathesis.openapi.from_wsgi("/openapi.json", create_api(Database("sqlite://")))


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Send a seeded id as often as a generated one.

    Generated ids are almost never those of stored todos, so GET, PUT,
    PATCH and DELETE /api/todos/{id} would only ever answer 404.  Only a
    valid id is swapped (for another valid one): a negative case keeps
    the invalid id it was generated with.
    """
    todo_id = (path_parameters or {}).get("id")
    if isinstance(todo_id, int) and not isinstance(todo_id, bool) and todo_id >= 0:
        seeded = [{**(path_parameters or {}), "id": number} for number in range(1, SEEDED + 1)]
        return st.sampled_from([path_parameters, *seeded])
    return st.just(path_parameters)


def _vanishes(value: Any) -> bool:
    # True for [], {} and containers holding only such: a form has no
    # encoding for them, so the field is left out of the request.
    if isinstance(value, dict):
        value = list(value.values())
    return isinstance(value, list) and all(_vanishes(item) for item in value)


@schema.hook
def filter_case(context: Any, case: schemathesis.Case) -> bool:
    """Skip form bodies that cannot be sent as generated.

    Outside the project: a negative case such as ``{"title": "x", "": []}``
    (an unknown field) is sent urlencoded as ``title=x``, and the string
    ``""`` (not an object) as an empty body, the empty form: valid bodies,
    whose 200 would be reported as invalid data accepted.  JSON bodies
    carry every such case and are all kept.
    """
    media_type = case.media_type or ""
    if not media_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return True
    # A form encodes an object only: a string "body" is sent raw ("" as the
    # empty form, valid for PATCH) rather than as a non-object.
    return isinstance(case.body, dict) and not any(_vanishes(v) for v in case.body.values())


@pytest.fixture
def todos_app(tmp_path: Path) -> Iterator[Any]:
    """The todos app over a fresh SQLite database holding a few todos."""
    db = Database(f"sqlite:///{tmp_path / 'todos.db'}")
    api = create_api(db)
    client = TestClient(api)
    for number in range(SEEDED):
        response = client.post(
            "/api/todos", json={"title": f"todo {number}", "done": number % 2 == 0}
        )
        assert response.status_code == 201
    try:
        yield api
    finally:
        db.dispose()


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_todos_api(case: schemathesis.Case, todos_app: Any) -> None:
    case.call_and_validate(app=todos_app)

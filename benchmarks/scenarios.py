"""The benchmark scenarios: what each app must do, and how a response is checked.

This module is the single source of truth shared by the apps in
:mod:`benchmarks.apps` (the constants they answer with, the middleware counter)
and by the harnesses (the request to send, the response to expect).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any

#: The greeting every ``/hello`` handler answers with.
MESSAGE = "Hello API!"

#: Request header read by middleware layer 2 and echoed by the handler.
TOKEN_HEADER = "X-Token"
TOKEN = "s3cr3t-t0k3n"

#: Response header added by middleware layer 3.
MW_HEADER = "X-Mw"
MW_VALUE = "1"

#: ``routes100``: static routes ``/items0`` … ``/items49`` answer ``{"route": i}``,
#: then parametrised ones ``/items0/<int:id>`` … ``/items49/<int:id>`` answer
#: ``{"route": i, "id": id}``, registered in that order.
ROUTE_COUNT = 50
ROUTE_PREFIX = "/items"

#: ``todos_sqlite``: rows in the SQLite table, and how many one request reads.
TODO_TABLE_ROWS = 100
TODO_PAGE = 20

#: ``json100k``: items in the big response (about 100 KB of JSON).
BIG_ITEMS = 760


def todo_rows(count: int = TODO_TABLE_ROWS) -> list[dict[str, object]]:
    """The rows of the ``todos`` table, as each app answers them."""
    return [
        {"id": id, "title": f"Todo number {id}", "done": id % 3 == 0} for id in range(1, count + 1)
    ]


def big_payload() -> dict[str, object]:
    """The ``json100k`` answer: ASCII only, so every JSON encoder gives the same size."""
    return {
        "items": [
            {
                "id": index,
                "name": f"item {index:04d}",
                "price": index * 1.25,
                "active": index % 2 == 0,
                "tags": ["alpha", "beta", "gamma"][: index % 3 + 1],
                "owner": {"id": index % 17, "name": f"user {index % 17}"},
            }
            for index in range(BIG_ITEMS)
        ]
    }


class Counter:
    """A plain counter: middleware layer 1 does ``COUNTER.value += 1``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


#: Incremented once per request by middleware layer 1 of every framework.
COUNTER = Counter()


@dataclass(frozen=True)
class Scenario:
    """One request, sent identically to every framework, and its expected answer.

    ``expect_json=None`` means the body is not compared (it may differ per
    framework, e.g. the 404 page); ``counter_delta`` is how much one request
    must advance :data:`COUNTER` (the number of counting middleware layers run).
    """

    name: str
    path: str
    query: str = ""
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    expect_status: int = 200
    expect_json: Any = None
    expect_headers: dict[str, str] = field(default_factory=dict)
    counter_delta: int = 0

    def environ_template(self) -> dict[str, Any]:
        """A WSGI environ for this request, minus ``wsgi.input`` (fresh per call)."""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": self.path,
            "QUERY_STRING": self.query,
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "localhost",
            "HTTP_ACCEPT": "*/*",
            "HTTP_USER_AGENT": "microapi-benchmarks",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if self.body:
            environ["CONTENT_LENGTH"] = str(len(self.body))
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ[key] = value
        return environ

    def mismatches(
        self, status: str, headers: list[tuple[str, str]], body: bytes, counter_delta: int
    ) -> list[str]:
        """Every way a response differs from the expected one (empty when it matches)."""
        problems: list[str] = []
        code = int(status.split(None, 1)[0])
        if code != self.expect_status:
            problems.append(f"status {status!r}, expected {self.expect_status}")
        received = {name.lower(): value for name, value in headers}
        for name, value in self.expect_headers.items():
            actual = received.get(name.lower())
            if actual != value:
                problems.append(f"header {name}: {actual!r}, expected {value!r}")
        if self.expect_json is not None:
            content_type = received.get("content-type", "")
            if content_type.split(";", 1)[0].strip() != "application/json":
                problems.append(f"content type {content_type!r}, expected application/json")
            try:
                value = json.loads(body)
            except ValueError:
                problems.append(f"body is not JSON: {body[:200]!r}")
            else:
                if value != self.expect_json:
                    problems.append(f"JSON {value!r}, expected {self.expect_json!r}")
        if counter_delta != self.counter_delta:
            problems.append(
                f"counting middleware ran {counter_delta} times, expected {self.counter_delta}"
            )
        return problems


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario("hello", "/hello", expect_json={"message": MESSAGE}),
        Scenario(
            "param",
            "/users/42",
            query="fields=name",
            expect_json={"id": 42, "fields": "name"},
        ),
        Scenario("notfound", "/missing", expect_status=404),
        Scenario(
            "post_valid",
            "/todos",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=b'{"title": "Write the benchmarks"}',
            expect_status=201,
            expect_json={"title": "Write the benchmarks", "done": False},
        ),
        Scenario(
            "post_invalid",
            "/todos",
            method="POST",
            headers={"Content-Type": "application/json"},
            body=b'{"title": "", "done": "maybe"}',
            expect_status=422,
        ),
        Scenario(
            "middleware3",
            "/hello",
            headers={TOKEN_HEADER: TOKEN},
            expect_json={"message": MESSAGE, "token": TOKEN},
            expect_headers={MW_HEADER: MW_VALUE},
            counter_delta=1,
        ),
        Scenario(
            "routes100",
            f"{ROUTE_PREFIX}{ROUTE_COUNT - 1}/7",
            expect_json={"route": ROUTE_COUNT - 1, "id": 7},
        ),
        Scenario("todos_sqlite", "/todos", expect_json={"items": todo_rows(TODO_PAGE)}),
        Scenario("json100k", "/big", expect_json=big_payload()),
    )
}

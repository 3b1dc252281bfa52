"""Every example's OpenAPI document tells the truth, through a real server, on both servers.

schemathesis, every check (``--checks all``), generates requests from each
example's document (``microapi openapi``), valid ones and invalid ones, sends
them to the example served by ``microapi serve`` on gunicorn and on granian,
and checks each answer against the document: no 5xx, only documented
statuses, content types and bodies, schema-valid requests accepted, invalid
ones refused, undeclared methods answered 405.  Upstream APIs are a local
stub; secured routes get valid credentials, so requests reach the handlers
(without them, a guard answers every method on its paths, 405s included: see
docs/about/decisions.md).

``OPENAPI_CASES`` cases per operation (10 in ``make test``; ``make fuzz``: 50).  What is
configured away, and why, is in :data:`EXAMPLES`; nothing else is.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from examples.pages.tests.upstream import StubUpstream, running
from microapi import Api
from tests.helpers import ROOT, SERVERS, Served, serving

#: Cases per operation; ``make fuzz`` sets more.
CASES = int(os.environ.get("OPENAPI_CASES", "10"))
SECRET_KEY = "openapi conformance test key, not a secret"
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@dataclass(frozen=True)
class Example:
    """One example under test, with what its run needs."""

    name: str
    #: Environment of the server (databases in the test's directory, keys).
    env: Callable[[Path, StubUpstream], dict[str, str]] = lambda tmp, stub: {}
    #: Headers every request carries (credentials), given the running server.
    headers: Callable[[Served], dict[str, str]] = lambda served: {}
    #: ``[[operations]]`` settings of schemathesis.toml: (path regex, checks off).
    operations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The log line of an exception a route raises on purpose (logged with
    #: its traceback); no other traceback may be logged.
    crash: str | None = None


def _bearer(served: Served) -> dict[str, str]:
    token = Api(secret_key=SECRET_KEY).tokens.issue({"sub": 1})
    return {"Authorization": f"Bearer {token}"}


def _auth_user(served: Served) -> dict[str, str]:
    # A user registered and logged in through the server itself.
    credentials = {"email": "fuzz@example.org", "password": "a long enough password"}
    _post(served, "/api/register", {**credentials, "name": "Fuzz"})
    token = _post(served, "/api/login", credentials)["token"]
    return {"Authorization": f"Bearer {token}"}


def _post(served: Served, path: str, body: dict[str, str]) -> Any:
    connection = http.client.HTTPConnection(*served.address, timeout=10)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        return json.loads(connection.getresponse().read() or b"null")
    finally:
        connection.close()


def _upstreams(tmp: Path, stub: StubUpstream) -> dict[str, str]:
    return {
        "OPENAI_API_URL": stub.url("/v1/chat/completions"),
        "OPENAI_API_KEY": "sk-test",
        "WEATHER_API_URL": stub.url("/data/2.5/weather"),
        "WEATHER_API_KEY": "weather-test",
    }


EXAMPLES = [
    Example(
        "hello",
        headers=lambda served: {"Authorization": "Bearer let-me-in"},
    ),
    Example(
        "auth",
        env=lambda tmp, stub: {
            "AUTH_DATABASE_URL": f"sqlite:///{tmp / 'auth.db'}",
            "AUTH_LIMITS_DATABASE": str(tmp / "auth-limits.db"),
        },
        headers=_auth_user,
    ),
    Example(
        "contact",
        env=lambda tmp, stub: {
            "CONTACT_DATABASE": str(tmp / "contact.db"),
            "CONTACT_LIMITS_DATABASE": str(tmp / "contact-limits.db"),
        },
    ),
    Example(
        "pages",
        env=lambda tmp, stub: {"PAGES_DATABASE": str(tmp / "pages.db"), **_upstreams(tmp, stub)},
        headers=_bearer,
        operations=(
            # The error demos answer 500 and 503 on purpose (documented).
            ("^/api/errors/", ("not_a_server_error",)),
        ),
        crash="RuntimeError: could not connect to",
    ),
    Example("proxy", env=_upstreams),
    Example("embed"),
    Example("todos", env=lambda tmp, stub: {"DATABASE_URL": f"sqlite:///{tmp / 'todos.db'}"}),
]


#: schemathesis's default expected statuses for negative_data_rejection (4.x).
NEGATIVE_DATA_REFUSALS = [
    "400",
    "401",
    "403",
    "404",
    "405",
    "406",
    "409",
    "415",
    "422",
    "428",
    "429",
    "5xx",
]


def _config(example: Example, headers: Mapping[str, str]) -> str:
    lines = [
        f"headers = {_toml(headers)}",
        # Every check (--checks all on the command line would win over the
        # [[operations]] below).
        "checks.enabled = true",
        # The run's bounds: a slow answer is a failure, not a hang.
        "request-timeout = 5.0",
        # schemathesis's list of refusals for a request that breaks the
        # schema, and 413: a string past maxLength can make a body larger
        # than the route's body_limit, refused before it is read (make fuzz
        # found one on examples/proxy).
        "checks.negative_data_rejection.expected-statuses = "
        + _toml([*NEGATIVE_DATA_REFUSALS, "413"]),
    ]
    for pattern, checks in example.operations:
        lines += ["", "[[operations]]", f"include-path-regex = {_toml(pattern)}"]
        lines += [f"checks.{check}.enabled = false" for check in checks]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)  # a JSON string is a TOML basic string


@pytest.fixture(scope="module")
def stub() -> Iterator[StubUpstream]:
    with running() as upstream:
        yield upstream


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda example: example.name)
def test_the_example_answers_as_its_openapi_document_says(
    example: Example, server: str, tmp_path: Path, stub: StubUpstream
) -> None:
    app = f"examples.{example.name}.wsgi:api"
    env = {"MICROAPI_SECRET_KEY": SECRET_KEY, **example.env(tmp_path, stub)}
    document = tmp_path / "openapi.json"
    document.write_text(_openapi(app, env))
    with serving(app, tmp_path, server, workers=1, env=env) as served:
        config = tmp_path / "schemathesis.toml"
        config.write_text(_config(example, example.headers(served)))
        result = subprocess.run(
            [
                *(SCHEMATHESIS, "--config-file", str(config), "run", str(document)),
                *("--url", f"http://{served.host}:{served.port}"),
                *("--max-examples", str(CASES), "--generation-deterministic", "--no-color"),
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        log = served.text()
    summary = re.search(r"(\d+) generated, .*", result.stdout)
    print(f"\n{example.name} on {server}: {summary.group(0) if summary else '?'}")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert summary is not None
    assert int(summary.group(1)) > 0
    assert log.count("Traceback") == (log.count(example.crash) if example.crash else 0)


def _openapi(app: str, env: Mapping[str, str]) -> str:
    """``microapi openapi APP``'s document (read from the app, not served)."""
    result = subprocess.run(
        [sys.executable, "-m", "microapi", "openapi", app],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout

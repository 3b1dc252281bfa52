"""Secrets never reach the logs: the access lines, the error log, the stores' warnings.

Not one module's test: what every logger of microapi (``microapi.request`` in
``app.py``, ``microapi.error`` in ``handling.py``, ``microapi.ratelimit``) and
the access lines of ``microapi serve`` (``servers.py``: gunicorn's format, and
:class:`~microapi.servers.AccessLog` on granian) write while requests carry
secrets: a bearer token, a session cookie, a CSRF token, a password in a JSON
body or in Basic credentials, the app's secret key (issue #16).

Decision: an access line has the request line as sent, query string included,
as gunicorn's, nginx's and Apache's do; a secret in a URL is logged by every
proxy on the way, so keys belong in headers (``docs/security.md``).
microapi's own ``access_log=True`` line has the path only.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from gunicorn.config import Config  # type: ignore[import-untyped]
from gunicorn.glogging import Logger, SafeAtoms  # type: ignore[import-untyped]

from microapi import Api, HTTPError, Request, Res
from microapi.middleware import RedisStore, bearer_auth, csrf, rate_limit, request_id
from microapi.servers import ACCESS_LOG_FORMAT, AccessLog
from microapi.testing import TestClient, TestResponse

SECRET_KEY = "sk-log-test-7f3a9c1e5b2d4a60"
PASSWORD = "pw-log-test-correct-horse"
API_KEY = "ak-log-test-9d8c7b6a5f4e"
BASIC = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def secret_api() -> Api:
    api = Api(secret_key=SECRET_KEY, access_log=True)
    api.middleware(request_id())
    api.middleware(bearer_auth(optional=True))
    api.middleware(csrf())

    @api.route("/login", methods=["POST"])
    def login(req: Request, res: Res) -> dict[str, Any]:
        if req.body["password"] != PASSWORD:
            raise HTTPError(401, "wrong password")
        req.session.clear()
        req.session["uid"] = 1
        return {"token": api.tokens.issue({"sub": 1}), "csrf": req.csrf_token}

    @api.route("/boom", methods=["GET", "POST"])
    def boom(req: Request, res: Res) -> None:
        # Everything secret is read while the request is in flight.
        seen = (req.body, req.session.get("uid"), req.user, req.args, req.headers)
        raise RuntimeError(f"boom with {len(seen)} things read")

    @api.route("/verify")
    def verify(req: Request, res: Res) -> dict[str, Any]:
        return api.tokens.verify(req.args["token"])  # unguarded: InvalidToken is a 500

    @api.errorhandler(LookupError)
    def failing_handler(req: Request, res: Res, exc: Exception) -> None:
        raise ValueError("the error handler failed too")

    @api.route("/lookup", methods=["POST"])
    def lookup(req: Request, res: Res) -> None:
        raise KeyError("no such thing")

    @api.route("/big", methods=["POST"])
    def big(req: Request, res: Res) -> dict[str, Any]:
        req.session["big"] = os.urandom(3000).hex()  # too big for its cookie
        return {"ok": True}

    return api


def everything_logged(records: list[logging.LogRecord]) -> str:
    """Each record as a handler would write it, traceback included, and its fields."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    texts = []
    for record in records:
        texts.append(formatter.format(record))  # message, exc_text, stack_info
        texts.append(repr(record.args))
        texts.append(
            repr({k: v for k, v in vars(record).items() if k not in ("exc_info", "exc_text")})
        )
    return "\n".join(texts)


def assert_no_secret(text: str, secrets: dict[str, str]) -> None:
    for what, secret in secrets.items():
        assert secret not in text, f"the {what} is in the log"


def log_in(client: TestClient) -> dict[str, str]:
    """Log in; return the secrets the client now holds."""
    response = client.post("/login", json={"username": "alice", "password": PASSWORD})
    body = response.get_json()
    assert response.status_code == 200, body
    session = client.get_cookie("session")
    assert session is not None
    return {
        "token": body["token"],
        "session cookie": session.value,
        "CSRF token": body["csrf"],
        "secret key": SECRET_KEY,
        "password": PASSWORD,
        "Basic credentials": BASIC.split()[1],
    }


def test_no_secret_of_a_request_reaches_any_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root and every microapi logger
    client = TestClient(secret_api())
    secrets = log_in(client)
    token, csrf_token = secrets["token"], secrets["CSRF token"]
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    secrets["tampered token"] = tampered
    bearer = {"Authorization": f"Bearer {token}", "X-CSRF-Token": csrf_token}

    answers: list[TestResponse] = [
        client.get("/boom", headers=bearer),
        client.post("/boom", headers=bearer, json={"password": PASSWORD}),
        client.post("/boom", headers={"Authorization": BASIC, "X-CSRF-Token": csrf_token}),
        client.post(
            "/boom",
            headers={"X-CSRF-Token": csrf_token},
            data=f"password={PASSWORD}",
            content_type="application/x-www-form-urlencoded",
        ),
        client.get("/verify", query_string={"token": tampered}),
        client.post("/lookup", headers=bearer, json={"password": PASSWORD}),
        client.post("/big", headers=bearer, json={"password": PASSWORD}),
    ]
    assert [r.status_code for r in answers] == [500] * len(answers)
    refused: list[TestResponse] = [
        client.get("/boom", headers={"Authorization": f"Bearer {tampered}"}),  # 401
        client.post("/boom", headers={"X-CSRF-Token": tampered}, json={"password": PASSWORD}),
        client.post(
            "/login",
            headers={"X-CSRF-Token": csrf_token},
            data=f'{{"password": "{PASSWORD}',
            content_type="application/json",
        ),  # malformed JSON: 400
        client.post(
            "/login", headers={"X-CSRF-Token": csrf_token}, json={"password": PASSWORD + "x"}
        ),  # 401
    ]
    assert [r.status_code for r in refused] == [401, 403, 400, 401]

    errors = [r for r in caplog.records if r.name == "microapi.error"]
    access = [r for r in caplog.records if r.name == "microapi.request"]
    # The logs were written, tracebacks and all: the test looks at something.
    assert len(errors) == len(answers)  # one per 500, traceback chained
    assert all(r.exc_info is not None for r in errors)
    text = everything_logged(caplog.records)
    assert text.count("RuntimeError: boom with 5 things read") == 4
    assert "InvalidToken: invalid token" in text
    assert "cannot save req.session" in text
    assert len(access) == 1 + len(answers) + len(refused)
    assert_no_secret(text, secrets)


def test_microapis_access_line_has_the_path_and_no_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="microapi.request")
    client = TestClient(secret_api())
    client.get("/boom", query_string={"api_key": API_KEY})
    (line,) = [r.getMessage() for r in caplog.records if r.name == "microapi.request"]
    assert line.startswith("GET /boom 500 ")
    assert API_KEY not in line


def test_the_serve_access_lines_show_no_header_secret_on_either_server() -> None:
    stream = io.StringIO()
    client = TestClient(AccessLog(secret_api(), stream))
    secrets = log_in(client)
    bearer = {"Authorization": f"Bearer {secrets['token']}", "X-CSRF-Token": secrets["CSRF token"]}
    client.post("/boom", headers=bearer, json={"password": PASSWORD})
    client.get("/boom", headers={"Authorization": BASIC}, query_string={"api_key": API_KEY})
    # granian's line (AccessLog): no credential, no cookie, no body.
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    assert_no_secret("\n".join(lines), secrets)
    assert " - - [" in lines[2]  # %(u)s is "-" even for Basic credentials
    # The decision above: the request line is logged as sent, query included.
    assert f"GET /boom?api_key={API_KEY} HTTP/1.1" in lines[2]

    # gunicorn's line, from its own Logger and ACCESS_LOG_FORMAT, for the same request.
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/boom",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": BASIC,
        "HTTP_COOKIE": f"session={secrets['session cookie']}; csrf_token={secrets['CSRF token']}",
        "HTTP_X_CSRF_TOKEN": secrets["CSRF token"],
    }
    headers = [
        (name[5:].replace("_", "-"), v) for name, v in environ.items() if name[:5] == "HTTP_"
    ]

    class Answer:
        status = "500 Internal Server Error"
        sent = 120
        headers = (("X-Request-ID", "abc"),)

    atoms = Logger(Config()).atoms(Answer(), headers, environ, timedelta(milliseconds=3))
    line = ACCESS_LOG_FORMAT % SafeAtoms(atoms)
    assert '"POST /boom HTTP/1.1" 500 120' in line
    assert " alice " in line  # gunicorn's %(u)s: the Basic user name, never the password
    assert_no_secret(line, secrets)


def test_a_store_outage_warning_shows_no_redis_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Regression: redis-py takes the password in the query too (the documented
    # way for unix:// URLs); the WARNING named the store with it.
    caplog.set_level(logging.DEBUG)
    store = RedisStore(f"unix://{tmp_path}/none.sock?db=0&password={PASSWORD}", timeout=0.2)
    api = Api()
    api.middleware(rate_limit("5/minute", store=store))

    @api.route("/")
    def index(req: Request, res: Res) -> None:
        res.end()

    try:
        assert TestClient(api).get("/").status_code == 200  # fail_open
    finally:
        store.close()
    (warning,) = [r for r in caplog.records if r.name == "microapi.ratelimit"]
    assert "is unavailable" in warning.getMessage()
    assert "password=***" in warning.getMessage()
    assert_no_secret(everything_logged(caplog.records), {"Redis password": PASSWORD})


def test_the_apps_keys_and_tokens_do_not_show_their_secret() -> None:
    # Whatever logs the app's objects (a debugger, "%r" in a log call) shows no key.
    api = Api(secret_key=[SECRET_KEY, SECRET_KEY + "-new"], signing_key=SECRET_KEY)
    for thing in (api, api.keys, api.tokens, vars(api.tokens)):
        assert SECRET_KEY not in repr(thing)
        assert SECRET_KEY not in str(thing)

"""Errors: RFC 9457 problem+json for everything, error handlers, logging."""

from __future__ import annotations

import copy
import io
import json
import logging
import pickle
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import (
    Forbidden,
    HTTPException,
    InternalServerError,
    MethodNotAllowed,
    TooManyRequests,
    Unauthorized,
    abort,
    default_exceptions,
)
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response as WerkzeugResponse

from microapi import Api, HTTPError, Request, Res
from microapi.errors import PROBLEM_CONTENT_TYPE, to_problem
from microapi.testing import TestClient
from tests.helpers import assert_problem


def test_http_error_becomes_a_problem(api: Api, client: TestClient) -> None:
    @api.route("/todos/<int:id>")
    def todo(req: Request, res: Res) -> None:
        raise HTTPError(404, "todo not found", todo_id=req.params["id"])

    response = client.get("/todos/7")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"
    assert response.json == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "todo not found",
        "todo_id": 7,
    }


def test_http_error_options() -> None:
    error = HTTPError(
        409,
        title="Conflict!",
        type="https://example.com/probs/conflict",
        headers={"Retry-After": "5"},
        errors={"title": ["taken"]},
    )
    assert error.detail is None
    assert repr(error) == "HTTPError(409, None)"
    assert to_problem(error) == (
        409,
        {
            "type": "https://example.com/probs/conflict",
            "title": "Conflict!",
            "status": 409,
            "errors": {"title": ["taken"]},
        },
        [("Retry-After", "5")],
    )


def test_http_error_reads_like_werkzeugs_and_pickles() -> None:
    error = HTTPError(404, "todo 7 not found", errors={"id": ["unknown"]})
    assert str(error) == "404 Not Found: todo 7 not found"
    assert error.response is None
    copy = pickle.loads(pickle.dumps(error))  # e.g. from a process pool
    assert (copy.code, copy.detail, copy.extensions) == (404, "todo 7 not found", error.extensions)
    assert to_problem(copy) == to_problem(error)


@pytest.mark.parametrize("status", [200, 399, 600, "404"])
def test_http_error_refuses_non_error_status(status: Any) -> None:
    with pytest.raises(ValueError, match="400 to 599"):
        HTTPError(status)


@pytest.mark.parametrize(
    ("exc", "status", "header", "value"),
    [
        (
            Unauthorized(www_authenticate=WWWAuthenticate("bearer")),
            401,
            "WWW-Authenticate",
            "Bearer",
        ),
        (TooManyRequests(retry_after=30), 429, "Retry-After", "30"),
        (Forbidden(), 403, None, None),
    ],
)
def test_werkzeug_exceptions_render_the_same_way(
    api: Api, client: TestClient, exc: Exception, status: int, header: str | None, value: Any
) -> None:
    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        raise exc

    response = client.get("/x")
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == status
    assert response.json["title"]
    if header is not None:
        assert response.headers[header] == value


def test_abort_with_a_response_sends_it(api: Api, client: TestClient) -> None:
    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        abort(WerkzeugResponse("custom", status=418))

    response = client.get("/x")
    assert (response.status_code, response.data) == (418, b"custom")


def test_routing_errors_are_problems(api: Api, client: TestClient) -> None:
    @api.route("/only-get")
    def only_get(req: Request, res: Res) -> None:
        res.end()

    not_found = client.get("/nope")
    assert not_found.status_code == 404
    assert not_found.json["title"] == "Not Found"
    not_allowed = client.delete("/only-get")
    assert not_allowed.status_code == 405
    assert not_allowed.content_type == "application/problem+json"
    assert not_allowed.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_unhandled_exception_is_a_bare_500_and_logged(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @api.route("/boom")
    def boom(req: Request, res: Res) -> None:
        req.state.seen_id = req.id
        raise KeyError("secret-internal-detail")

    response = client.get("/boom")
    assert response.status_code == 500
    assert response.json["title"] == "Internal Server Error"
    assert "secret-internal-detail" not in response.get_data(as_text=True)
    assert "traceback" not in response.json
    [record] = caplog.records
    assert record.name == "microapi.error"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[0] is KeyError
    assert "GET /boom (route boom)" in record.getMessage()
    assert f"request_id={record.request_id}" in record.getMessage()  # type: ignore[attr-defined]
    assert len(record.request_id) == 32  # type: ignore[attr-defined]


def test_debug_shows_the_traceback() -> None:
    api = Api(debug=True)

    @api.route("/boom")
    def boom(req: Request, res: Res) -> None:
        raise KeyError("visible-in-debug")

    response = TestClient(api).get("/boom")
    assert response.status_code == 500
    assert "visible-in-debug" in "".join(response.json["traceback"])


def test_headers_set_before_an_error_survive_but_body_headers_go(
    api: Api, client: TestClient
) -> None:
    @api.middleware
    def tag(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Request-Tag", "kept")
        next()

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.set_header("Content-Disposition", "attachment")
        res.set_header("ETag", '"x"').set_header("Location", "/elsewhere")
        res.set_header("Content-Type", "text/csv")
        raise HTTPError(409, "conflict")

    for path in ("/x", "/missing"):
        response = client.get(path)
        assert response.headers["X-Request-Tag"] == "kept"
        assert response.content_type == "application/problem+json"
    response = client.get("/x")
    for gone in ("Content-Disposition", "ETag", "Location"):
        assert gone not in response.headers


def test_error_after_sending_replaces_the_body(api: Api, client: TestClient) -> None:
    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        res.json({"partial": True})
        raise HTTPError(400, "changed my mind")

    response = client.get("/x")
    assert response.status_code == 400
    assert "partial" not in response.json


def test_errorhandler_by_status(api: Api, client: TestClient) -> None:
    @api.errorhandler(404)
    def not_found(req: Request, res: Res, exc: Exception) -> None:
        res.status(404).json({"error": "nothing here", "path": req.path})

    response = client.get("/missing")
    assert response.status_code == 404
    assert response.json == {"error": "nothing here", "path": "/missing"}


def test_errorhandler_by_type_follows_the_mro(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    class DomainError(Exception):
        pass

    class OutOfStock(DomainError):
        pass

    @api.errorhandler(DomainError)
    def domain(req: Request, res: Res, exc: Exception) -> Any:
        return {"error": type(exc).__name__}, 409

    @api.route("/buy")
    def buy(req: Request, res: Res) -> None:
        raise OutOfStock

    response = client.get("/buy")
    assert (response.status_code, response.json) == (409, {"error": "OutOfStock"})
    assert not caplog.records  # a handled exception is not logged as an error


def test_status_handler_wins_over_type_for_http_errors(api: Api, client: TestClient) -> None:
    @api.errorhandler(Exception)
    def everything(req: Request, res: Res, exc: Exception) -> Any:
        return {"by": "type"}, 500

    @api.errorhandler(404)
    def not_found(req: Request, res: Res, exc: Exception) -> Any:
        return {"by": "status"}, 404

    assert client.get("/missing").json == {"by": "status"}
    assert client.delete("/missing").json == {"by": "status"}


def test_500_handler_receives_unhandled_exceptions(api: Api, client: TestClient) -> None:
    seen: list[Exception] = []

    @api.errorhandler(500)
    def server_error(req: Request, res: Res, exc: Exception) -> None:
        seen.append(exc)
        res.status(500).json({"error": "sorry"})

    @api.route("/boom")
    def boom(req: Request, res: Res) -> None:
        raise ZeroDivisionError

    response = client.get("/boom")
    assert response.json == {"error": "sorry"}
    assert isinstance(seen[0], ZeroDivisionError)


def test_handler_that_sends_nothing_leaves_the_default(api: Api, client: TestClient) -> None:
    @api.errorhandler(404)
    def note(req: Request, res: Res, exc: Exception) -> None:
        res.set_header("X-Noted", "yes")

    response = client.get("/missing")
    assert response.status_code == 404
    assert response.headers["X-Noted"] == "yes"
    assert response.json["status"] == 404


def test_failing_error_handler_is_a_logged_500(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @api.errorhandler(404)
    def broken(req: Request, res: Res, exc: Exception) -> None:
        raise RuntimeError("handler bug")

    response = client.get("/missing")
    assert response.status_code == 500
    assert len(caplog.records) == 1
    assert "error handler" in caplog.text
    assert "broken failed" in caplog.text


def test_async_error_handler(api: Api, client: TestClient) -> None:
    @api.errorhandler(404)
    async def not_found(req: Request, res: Res, exc: Exception) -> Any:
        return {"async": True}, 404

    assert client.get("/missing").json == {"async": True}


@pytest.mark.parametrize("key", [200, 600, "404", object])
def test_errorhandler_key_is_checked(api: Api, key: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        api.add_error_handler(key, lambda req, res, exc: None)


def test_http_error_headers_are_checked_where_raised() -> None:
    with pytest.raises(ValueError, match="newlines"):
        HTTPError(429, headers={"Retry-After": "1\r\nX-Evil: 1"})


def test_unrenderable_problem_is_a_logged_plain_500(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @api.middleware
    def tag(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Kept", "1")
        next()

    @api.route("/x")
    def handler(req: Request, res: Res) -> None:
        raise HTTPError(409, errors={"tags": {"a", "b"}})  # a set: not JSON

    response = client.get("/x")
    assert response.status_code == 500
    assert response.json["title"] == "Internal Server Error"
    assert response.headers["X-Kept"] == "1"
    assert "cannot render the 409 problem" in caplog.text


def test_a_500_handler_does_not_hide_the_traceback(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @api.errorhandler(500)
    def server_error(req: Request, res: Res, exc: Exception) -> Any:
        return {"error": "sorry"}, 500

    @api.route("/boom")
    def boom(req: Request, res: Res) -> None:
        raise ZeroDivisionError

    assert client.get("/boom").json == {"error": "sorry"}
    [record] = caplog.records
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError


# -- properties: every error status renders the same shape ------------------------------------


def budget(examples: int) -> Any:
    """*examples* under ``make test``, twenty times more under ``make fuzz``."""
    return settings(max_examples=examples * settings().max_examples // 100)


def raising_app(debug: bool) -> Api:
    """An app whose ``/raise`` raises the exception in ``environ["test.raise"]``."""
    api = Api(debug=debug)

    @api.middleware
    def tag(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Tag", "kept")
        res.set_header("Content-Disposition", "attachment")  # describes a body: dropped
        next()

    @api.route("/raise", ["GET", "HEAD", "POST"])
    def raiser(req: Request, res: Res) -> None:
        res.status(201).json({"half": "sent"})
        raise req.environ["test.raise"]

    return api


APPS = {False: raising_app(False), True: raising_app(True)}


def raise_through(exc: BaseException, method: str = "GET", debug: bool = False) -> Any:
    """Raise *exc* in a handler; return the WSGI answer as a TestResponse."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": "/raise",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "test.raise": exc,
    }
    started: list[tuple[str, list[tuple[str, str]]]] = []
    body = b"".join(APPS[debug](environ, lambda status, headers: started.append((status, headers))))
    assert len(started) == 1
    status, headers = started[0]
    return WerkzeugResponse(body, status=status, headers=headers), status


def check_problem(response: WerkzeugResponse, status_line: str, status: int, head: bool) -> Any:
    assert status_line == f"{status} {HTTP_STATUS_CODES.get(status, 'Unknown')}"
    assert response.status_code == status
    assert response.headers["Content-Type"] == PROBLEM_CONTENT_TYPE
    assert response.headers["X-Tag"] == "kept"
    assert "Content-Disposition" not in response.headers
    assert "ETag" not in response.headers
    if head:
        assert response.get_data() == b""
        return None
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    problem = json.loads(response.get_data())
    assert problem["status"] == status
    assert problem["type"] == "about:blank"
    assert isinstance(problem["title"], str)
    assert problem["title"]
    assert "half" not in problem
    return problem


details = st.none() | st.text(max_size=20)


@budget(100)
@given(
    st.integers(min_value=400, max_value=599),
    details,
    st.dictionaries(st.sampled_from(["errors", "hint", "n"]), st.text(max_size=5), max_size=2),
    st.sampled_from(["GET", "HEAD", "POST"]),
    st.booleans(),
)
def test_every_http_error_status_is_a_problem(
    status: int, detail: str | None, extensions: dict[str, str], method: str, debug: bool
) -> None:
    response, line = raise_through(HTTPError(status, detail, **extensions), method, debug)
    problem = check_problem(response, line, status, head=method == "HEAD")
    if problem is not None:
        assert problem["title"] == HTTP_STATUS_CODES.get(status, "Error")
        assert problem.get("detail") == detail
        assert {key: problem[key] for key in extensions} == extensions
        assert "traceback" not in problem  # not even in debug: it is no crash


@budget(100)
@given(
    st.sampled_from(sorted(default_exceptions)),
    details,
    st.sampled_from(["GET", "HEAD", "POST"]),
    st.booleans(),
)
def test_every_werkzeug_exception_is_a_problem(
    status: int, detail: str | None, method: str, debug: bool
) -> None:
    exc = default_exceptions[status](description=detail)
    response, line = raise_through(exc, method, debug)
    problem = check_problem(response, line, status, head=method == "HEAD")
    for name, value in exc.get_headers():
        if name != "Content-Type":
            assert response.headers[name] == value  # Allow, WWW-Authenticate, ...
    if problem is not None:
        assert problem["title"] == HTTP_STATUS_CODES[status]
        # The class's own description when none is given; none when empty.
        assert problem.get("detail") == (exc.description or None)
        assert "traceback" not in problem


@budget(50)
@given(
    st.sampled_from([KeyError, ValueError, RuntimeError, ZeroDivisionError, AssertionError]),
    st.text(max_size=20),
    st.booleans(),
)
def test_crashes_are_bare_500_problems_with_a_traceback_only_in_debug(
    kind: type[Exception], message: str, debug: bool
) -> None:
    logger = logging.getLogger("microapi.error")
    logger.disabled = True  # NOTE: hypothesis runs many examples; keep the log quiet
    try:
        response, line = raise_through(kind(message), "GET", debug)
    finally:
        logger.disabled = False
    problem = check_problem(response, line, 500, head=False)
    assert problem["title"] == "Internal Server Error"
    if debug:
        assert kind.__name__ in "".join(problem["traceback"])
    else:
        # werkzeug's generic description: nothing from the exception.
        assert problem == {
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "detail": InternalServerError.description,
        }


# -- werkzeug exceptions the problem renderer cannot trust (review fixes) ----------------------


class StatusNineNineNine(HTTPException):
    code = 999


class StatusTwoHundred(HTTPException):
    code = 200


class BadRetryAfter(HTTPException):
    code = 429

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Retry-After", "1\r\nSet-Cookie: a=b")]


class BadHeaderName(HTTPException):
    code = 429

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Retry After", "1")]


@pytest.mark.parametrize(
    "exc",
    [
        MethodNotAllowed(valid_methods=["GET\r\nX-Evil: 1"]),
        MethodNotAllowed(valid_methods=["GET", "\x00"]),
        BadRetryAfter(),
        BadHeaderName(),
        StatusNineNineNine(),
        StatusTwoHundred(),
    ],
    ids=repr,
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_an_exception_with_a_bad_status_or_header_is_a_logged_plain_500(
    exc: HTTPException, method: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        response, line = raise_through(exc, method)
    problem = check_problem(response, line, 500, head=method == "HEAD")
    if problem is not None:
        assert problem["title"] == "Internal Server Error"
    assert "X-Evil" not in response.headers
    assert "Set-Cookie" not in response.headers
    (record,) = [r for r in caplog.records if r.name == "microapi.error"]
    assert record.getMessage().startswith(f"cannot render the {exc.code} problem in {method}")
    assert record.exc_info is not None


def test_a_handler_for_an_exception_with_a_bad_status_answers_a_valid_status(
    api: Api, client: TestClient
) -> None:
    @api.errorhandler(StatusNineNineNine)
    def odd(req: Request, res: Res, exc: Exception) -> dict[str, str]:
        return {"handled": "yes"}

    @api.route("/x")
    def raiser(req: Request, res: Res) -> None:
        raise StatusNineNineNine()

    response = client.get("/x")
    assert (response.status_code, response.json) == (500, {"handled": "yes"})


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/new", "/new"),
        ("https://example.com/a?b=1", "https://example.com/a?b=1"),
        ("/caf\xe9", "/caf%C3%A9"),
    ],
)
def test_a_werkzeug_redirect_raised_is_a_redirect_with_its_location(
    method: str, target: str, location: str
) -> None:
    response, line = raise_through(RequestRedirect(target), method)
    assert line == "308 PERMANENT REDIRECT"
    assert response.headers["Location"] == location
    assert response.headers["X-Tag"] == "kept"  # middleware headers stay
    assert "Content-Disposition" not in response.headers
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    assert (response.get_data() == b"") == (method == "HEAD")
    assert b"half" not in response.get_data()


def test_a_werkzeug_redirect_to_a_bad_location_is_a_logged_plain_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        response, line = raise_through(RequestRedirect("/new\r\nSet-Cookie: a=b"))
    check_problem(response, line, 500, head=False)
    assert "Set-Cookie" not in response.headers
    assert "cannot answer the 308 redirect" in caplog.text


@budget(100)
@given(
    st.lists(st.text(st.characters(max_codepoint=255), max_size=8), max_size=3),
    st.sampled_from(["GET", "HEAD"]),
)
def test_any_werkzeug_405_is_answered(methods: list[str], method: str) -> None:
    logger = logging.getLogger("microapi.error")
    logger.disabled = True  # NOTE: hypothesis runs many examples; keep the log quiet
    try:
        response, line = raise_through(MethodNotAllowed(valid_methods=methods), method)
    finally:
        logger.disabled = False
    allow = ", ".join(methods)
    # RFC 9110 field values: visible ASCII, space, tab, obs-text.
    clean = not re.search(r"[^\t\x20-\x7e\x80-\xff]", allow)
    check_problem(response, line, 405 if clean else 500, head=method == "HEAD")
    if clean and methods:
        assert response.headers["Allow"] == allow


class TodoNotFound(HTTPError):
    # werkzeug's pattern: a class-level default description, kept when the
    # constructor is given none.
    description = "todo not found"

    def __init__(self) -> None:
        super().__init__(404)


def test_a_subclass_default_description_is_kept(api: Api, client: TestClient) -> None:
    assert str(TodoNotFound()) == "404 Not Found: todo not found"

    def handler(req: Request, res: Res) -> None:
        raise TodoNotFound()

    api.add_route("/todo", handler)
    assert assert_problem(client.get("/todo"), 404)["detail"] == "todo not found"


def test_http_error_copies_with_its_extras() -> None:
    error = HTTPError(
        422, detail="bad", title="T", headers={"Retry-After": "1"}, errors={"a": ["x"]}
    )
    for clone in (pickle.loads(pickle.dumps(error)), copy.copy(error)):
        assert (clone.code, clone.description, clone.title) == (422, "bad", "T")
        assert clone.headers == {"Retry-After": "1"}
        assert clone.extensions == {"errors": {"a": ["x"]}}
        assert str(clone) == str(error) == "422 Unprocessable Entity: bad"

"""Errors: RFC 9457 problem+json for everything, error handlers, logging."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, TooManyRequests, Unauthorized, abort
from werkzeug.wrappers import Response as WerkzeugResponse

from microapi import Api, HTTPError, Request, Res
from microapi.errors import to_problem
from microapi.testing import TestClient


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

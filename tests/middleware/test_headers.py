"""``security_headers()`` and ``request_id()``: on every response, errors too; hostile input."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import create_environ, run_wsgi_app
from werkzeug.wrappers import Response as WerkzeugResponse

from microapi import Api, HTTPError, Request, Res
from microapi.docs import DOCS_CSP
from microapi.middleware import request_id, security_headers
from microapi.middleware.headers import DEFAULT_CSP
from microapi.testing import TestClient
from tests.browser import Answered, dump_dom, served
from tests.helpers import assert_problem

DEFAULTS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "Strict-Transport-Security"
HEX_ID = re.compile(r"[0-9a-f]{32}")


def hello_api(*middleware: Any, **options: Any) -> Api:
    api = Api(**options)
    for func in middleware:
        api.middleware(func)

    @api.route("/hello", methods=["GET", "POST"])
    def hello(req: Request, res: Res) -> None:
        res.json({"id": req.id})

    @api.route("/boom")
    def boom(req: Request, res: Res) -> None:
        raise RuntimeError("boom")

    @api.route("/gone")
    def gone(req: Request, res: Res) -> None:
        res.set_header("Content-Disposition", "attachment")
        raise HTTPError(410, "gone")

    return api


def security_of(response: Any) -> dict[str, list[str]]:
    names = [*DEFAULTS, HSTS]
    return {name: response.headers.getlist(name) for name in names if name in response.headers}


def raw(api: Api, path: str = "/hello", **environ: str) -> tuple[str, dict[str, list[str]]]:
    """Call *api* with an environ holding exactly *environ*'s extra keys."""
    env = create_environ(path)
    env.update(environ)
    app_iter, status, headers = run_wsgi_app(api, env, buffered=True)
    b"".join(app_iter)
    collected: dict[str, list[str]] = {}
    for name, value in headers.items():
        collected.setdefault(name, []).append(value)
    return status, collected


# -- security_headers ----------------------------------------------------------


def test_security_headers_defaults_and_no_hsts_on_http() -> None:
    response = TestClient(hello_api(security_headers())).get("/hello")
    assert response.status_code == 200
    assert security_of(response) == {name: [value] for name, value in DEFAULTS.items()}
    assert DEFAULTS["Content-Security-Policy"] == DEFAULT_CSP
    assert HSTS not in response.headers


def test_hsts_only_on_https_requests() -> None:
    client = TestClient(hello_api(security_headers()))
    secure = client.get("/hello", base_url="https://localhost")
    assert secure.headers.getlist(HSTS) == ["max-age=31536000; includeSubDomains"]
    assert HSTS not in client.get("/hello", base_url="http://localhost").headers


def test_spoofed_forwarded_proto_gets_no_hsts_without_proxy_fix() -> None:
    client = TestClient(hello_api(security_headers()))
    response = client.get(
        "/hello",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "on", "Forwarded": "proto=https"},
    )
    assert HSTS not in response.headers


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"hsts_max_age": 0}, "max-age=0; includeSubDomains"),
        ({"hsts_max_age": 600, "hsts_include_subdomains": False}, "max-age=600"),
        (
            {"hsts_max_age": 63072000, "hsts_preload": True},
            "max-age=63072000; includeSubDomains; preload",
        ),
    ],
)
def test_hsts_is_configurable(options: dict[str, Any], expected: str) -> None:
    client = TestClient(hello_api(security_headers(**options)))
    assert client.get("/hello", base_url="https://localhost").headers.getlist(HSTS) == [expected]


def test_hsts_none_drops_it_on_https() -> None:
    client = TestClient(hello_api(security_headers(hsts_max_age=None)))
    response = client.get("/hello", base_url="https://localhost")
    assert HSTS not in response.headers
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "options",
    [
        {"hsts_preload": True, "hsts_max_age": 86400},
        {"hsts_preload": True, "hsts_include_subdomains": False, "hsts_max_age": 63072000},
        {"hsts_max_age": -1},
        {"hsts_max_age": True},
        {"hsts_max_age": "31536000"},
    ],
)
def test_bad_hsts_settings_are_refused_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="hsts_"):
        security_headers(**options)


def test_preload_with_the_defaults_is_accepted() -> None:
    client = TestClient(hello_api(security_headers(hsts_preload=True)))
    response = client.get("/hello", base_url="https://localhost")
    assert response.headers[HSTS] == "max-age=31536000; includeSubDomains; preload"


@pytest.mark.parametrize(
    ("option", "header"),
    [
        ("content_type_options", "X-Content-Type-Options"),
        ("frame_options", "X-Frame-Options"),
        ("referrer_policy", "Referrer-Policy"),
        ("content_security_policy", "Content-Security-Policy"),
        ("cross_origin_opener_policy", "Cross-Origin-Opener-Policy"),
        ("cross_origin_resource_policy", "Cross-Origin-Resource-Policy"),
    ],
)
def test_each_header_is_configurable_and_none_drops_it(option: str, header: str) -> None:
    dropped = TestClient(hello_api(security_headers(**{option: None}))).get("/hello")
    assert header not in dropped.headers
    assert len(security_of(dropped)) == len(DEFAULTS) - 1
    changed = TestClient(hello_api(security_headers(**{option: "custom-value"}))).get("/hello")
    assert changed.headers.getlist(header) == ["custom-value"]


def test_all_none_is_a_pass_through() -> None:
    middleware = security_headers(
        content_type_options=None,
        frame_options=None,
        referrer_policy=None,
        content_security_policy=None,
        cross_origin_opener_policy=None,
        cross_origin_resource_policy=None,
        hsts_max_age=None,
    )
    response = TestClient(hello_api(middleware)).get("/hello", base_url="https://localhost")
    assert response.status_code == 200
    assert security_of(response) == {}


@pytest.mark.parametrize("path", ["/nowhere", "/boom", "/gone"])
def test_security_headers_are_on_error_responses(path: str) -> None:
    client = TestClient(hello_api(security_headers()))
    response = client.get(path, base_url="https://localhost")
    assert response.status_code in (404, 500, 410)
    assert response.mimetype == "application/problem+json"
    assert security_of(response) == {
        **{name: [value] for name, value in DEFAULTS.items()},
        HSTS: ["max-age=31536000; includeSubDomains"],
    }
    assert "Content-Disposition" not in response.headers


def test_security_headers_are_on_405_options_head_and_304() -> None:
    api = hello_api(security_headers())

    @api.route("/fixed")
    def fixed(req: Request, res: Res) -> None:
        res.json({"same": "body"})

    client = TestClient(api)
    not_allowed = client.delete("/hello")
    assert_problem(not_allowed, 405)
    options = client.options("/hello")
    head = client.head("/hello")
    etag = client.get("/fixed").headers["ETag"]
    not_modified = client.get("/fixed", headers={"If-None-Match": etag})
    assert (options.status_code, head.status_code, not_modified.status_code) == (204, 200, 304)
    for response in (not_allowed, options, head, not_modified):
        assert security_of(response) == {name: [value] for name, value in DEFAULTS.items()}


def test_an_error_raised_by_inner_middleware_keeps_them() -> None:
    def deny(req: Request, res: Res, next: Any) -> None:
        raise HTTPError(429, "slow down", headers={"Retry-After": "7"})

    response = TestClient(hello_api(security_headers(), deny)).get("/hello")
    assert_problem(response, 429)
    assert response.headers["Retry-After"] == "7"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_handler_value_wins_once() -> None:
    api = hello_api(security_headers())

    @api.route("/page")
    def page(req: Request, res: Res) -> None:
        res.set_header("content-security-policy", "default-src 'self'")
        res.set_header("X-Frame-Options", "SAMEORIGIN")
        res.send("<p>hi</p>")

    @api.route("/tuple")
    def returned(req: Request, res: Res) -> Any:
        return {"ok": True}, 200, {"Referrer-Policy": "same-origin"}

    @api.route("/werkzeug")
    def werkzeug(req: Request, res: Res) -> WerkzeugResponse:
        return WerkzeugResponse("x", headers={"Cross-Origin-Resource-Policy": "cross-origin"})

    client = TestClient(api)
    page_response = client.get("/page")
    assert page_response.headers.getlist("Content-Security-Policy") == ["default-src 'self'"]
    assert page_response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert page_response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/tuple").headers.getlist("Referrer-Policy") == ["same-origin"]
    from_werkzeug = client.get("/werkzeug")
    assert from_werkzeug.headers.getlist("Cross-Origin-Resource-Policy") == ["cross-origin"]
    assert from_werkzeug.headers.getlist("X-Frame-Options") == ["DENY"]


def test_an_outer_middleware_value_is_kept() -> None:
    def outer(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Frame-Options", "SAMEORIGIN")
        res.set_header("Strict-Transport-Security", "max-age=5")
        next()

    client = TestClient(hello_api(outer, security_headers()))
    response = client.get("/hello", base_url="https://localhost")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist(HSTS) == ["max-age=5"]
    assert response.headers.getlist("Referrer-Policy") == ["no-referrer"]
    plain = client.get("/hello")
    assert plain.headers.getlist(HSTS) == ["max-age=5"]  # the outer middleware's choice


def test_outer_headers_without_hsts_still_get_it_on_https() -> None:
    def outer(req: Request, res: Res, next: Any) -> None:
        res.set_header("referrer-policy", "same-origin")
        next()

    for first in (outer, request_id()):
        client = TestClient(hello_api(first, security_headers()))
        response = client.get("/hello", base_url="https://localhost")
        assert response.headers.getlist(HSTS) == ["max-age=31536000; includeSubDomains"]
        expected = {name: [value] for name, value in DEFAULTS.items()}
        if first is outer:
            expected["Referrer-Policy"] = ["same-origin"]
        assert security_of(client.get("/hello")) == expected


def test_the_docs_page_keeps_its_own_policy() -> None:
    api = Api(docs=True)
    api.middleware(security_headers())
    client = TestClient(api)
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers.getlist("Content-Security-Policy") == [DOCS_CSP]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    document = client.get("/openapi.json")
    assert document.headers.getlist("Content-Security-Policy") == [DEFAULT_CSP]
    static = client.get("/docs/static/swagger-ui.css")
    assert static.status_code == 200
    assert static.headers.getlist("Cross-Origin-Resource-Policy") == ["same-origin"]


def test_extra_headers_are_added() -> None:
    middleware = security_headers(
        extra={"Permissions-Policy": "camera=()", "Cache-Control": "no-store"}
    )
    response = TestClient(hello_api(middleware)).get("/nowhere")
    assert response.headers["Permissions-Policy"] == "camera=()"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"frame_options": "DENY\r\nSet-Cookie: a=b"}, ValueError, "newlines"),
        ({"referrer_policy": "no-referrer\n"}, ValueError, "newlines"),
        ({"content_security_policy": "a\0b"}, ValueError, "NUL"),
        ({"content_security_policy": ""}, ValueError, "pass None"),
        ({"frame_options": "   "}, ValueError, "pass None"),
        ({"frame_options": 1}, TypeError, "must be a str"),
        ({"extra": {"Bad Name": "x"}}, ValueError, "invalid header name"),
        ({"extra": {"X-Frame-Options": "SAMEORIGIN"}}, ValueError, "frame_options="),
        ({"extra": {"strict-transport-security": "max-age=1"}}, ValueError, "hsts_max_age="),
        ({"extra": {"Content-Type": "text/html"}}, ValueError, "describes the body"),
        ({"extra": {"ETag": '"x"'}}, ValueError, "describes the body"),
        ({"extra": {"X-A": "1", "x-a": "2"}}, ValueError, "given twice"),
        ({"extra": {"X-A": "caf\u00e9"}}, ValueError, "ASCII"),
        ({"content_security_policy": "default-src \u2028'none'"}, ValueError, "ASCII"),
    ],
)
def test_bad_header_values_are_refused_at_construction(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        security_headers(**options)


def test_untrusted_host_400_carries_no_middleware_headers() -> None:
    api = hello_api(request_id(), security_headers(), trusted_hosts=["example.com"])
    client = TestClient(api)
    refused = client.get("/hello", headers={"Host": "evil.com"}, base_url="https://evil.com")
    assert_problem(refused, 400)
    assert security_of(refused) == {}
    assert "X-Request-ID" not in refused.headers
    accepted = client.get("/hello", base_url="https://example.com")
    assert accepted.status_code == 200
    assert accepted.headers["X-Request-ID"] == accepted.json["id"]
    assert HSTS in accepted.headers


# -- request_id ----------------------------------------------------------------


def test_request_id_is_generated_set_on_req_and_echoed() -> None:
    client = TestClient(hello_api(request_id()))
    first = client.get("/hello")
    second = client.get("/hello")
    assert HEX_ID.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] == first.json["id"]
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert first.headers.getlist("X-Request-ID") == [first.json["id"]]


def test_incoming_id_is_ignored_unless_trusted() -> None:
    client = TestClient(hello_api(request_id()))
    response = client.get("/hello", headers={"X-Request-ID": "client-chosen"})
    assert response.json["id"] != "client-chosen"
    assert HEX_ID.fullmatch(response.headers["X-Request-ID"])


@pytest.mark.parametrize(
    "incoming",
    ["abc-123", "x", "A" * 128, "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", "!~\"'<>{}"],
)
def test_a_trusted_valid_id_is_used(incoming: str) -> None:
    client = TestClient(hello_api(request_id(trust_header=True)))
    response = client.get("/hello", headers={"X-Request-ID": incoming})
    assert response.json["id"] == incoming
    assert response.headers.getlist("X-Request-ID") == [incoming]


@pytest.mark.parametrize(
    "incoming",
    [
        "",
        "A" * 129,
        "A" * 100_000,
        "has space",
        " leading",
        "trailing ",
        "tab\there",
        "line\nbreak",
        "carriage\rreturn",
        "ok\r\nSet-Cookie: session=evil",
        "nul\0byte",
        "del\x7fchar",
        "caf\xe9",  # latin-1 as WSGI hands "café" over
        "caf\u00c3\u00a9",  # UTF-8 "é" read as latin-1
        "\u2028",
        "emoji\U0001f600",
        "first,second",  # a repeated header, joined by the server
        "first, second",
    ],
)
def test_a_hostile_trusted_id_is_replaced(incoming: str) -> None:
    # Through a raw environ: clients (werkzeug's too) refuse to send some of these.
    api = hello_api(request_id(trust_header=True))
    status, headers = raw(api, HTTP_X_REQUEST_ID=incoming)
    assert status.startswith("200")
    assert len(headers["X-Request-ID"]) == 1
    assert HEX_ID.fullmatch(headers["X-Request-ID"][0])


def test_request_id_is_on_every_error_and_in_the_error_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = TestClient(hello_api(request_id(trust_header=True), security_headers()))
    for path, status in [("/nowhere", 404), ("/gone", 410)]:
        response = client.get(path, headers={"X-Request-ID": f"id-{status}"})
        assert_problem(response, status)
        assert response.headers.getlist("X-Request-ID") == [f"id-{status}"]
    assert_problem(client.delete("/hello", headers={"X-Request-ID": "id-405"}), 405)
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        failed = client.get("/boom", headers={"X-Request-ID": "trace-500"})
        generated = client.get("/boom")
    assert_problem(failed, 500)
    assert failed.headers["X-Request-ID"] == "trace-500"
    records = [r for r in caplog.records if r.name == "microapi.error"]
    assert [r.request_id for r in records] == ["trace-500", generated.headers["X-Request-ID"]]  # type: ignore[attr-defined]
    assert "[request_id=trace-500]" in records[0].getMessage()


def test_access_log_names_the_echoed_id(caplog: pytest.LogCaptureFixture) -> None:
    client = TestClient(hello_api(request_id(), access_log=True))
    with caplog.at_level(logging.INFO, logger="microapi.request"):
        response = client.get("/hello")
    lines = [r.getMessage() for r in caplog.records if r.name == "microapi.request"]
    assert lines == [lines[0]]
    assert lines[0].endswith(f"[request_id={response.headers['X-Request-ID']}]")


def test_a_custom_header_name() -> None:
    client = TestClient(hello_api(request_id(trust_header=True, header="X-Correlation-ID")))
    response = client.get("/hello", headers={"X-Correlation-ID": "corr-1", "X-Request-ID": "other"})
    assert response.json["id"] == "corr-1"
    assert response.headers["X-Correlation-ID"] == "corr-1"
    assert "X-Request-ID" not in response.headers


def test_a_handler_may_replace_the_echoed_id() -> None:
    api = hello_api(request_id())

    @api.route("/own")
    def own(req: Request, res: Res) -> None:
        res.set_header("X-Request-ID", "mine").end()

    assert TestClient(api).get("/own").headers.getlist("X-Request-ID") == ["mine"]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("X Request", "invalid header name"),
        ("X-Request-ID\r\n", "invalid header name"),
        ("", "invalid header name"),
        ("Content-Length", "describes the body"),
        ("content-type", "describes the body"),
    ],
)
def test_request_id_refuses_bad_header_names(header: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        request_id(header=header)


# -- in a real browser ----------------------------------------------------------


@pytest.fixture
def served_docs() -> Iterator[tuple[str, Answered]]:
    api = Api(title="Headers", version="1.0.0", docs=True)
    api.middleware(request_id())
    api.middleware(security_headers())

    @api.route("/health")
    def health(req: Request, res: Res) -> dict[str, str]:
        """Say the service is up."""
        return {"status": "ok"}

    answered: Answered = []
    with served(api, answered) as server:
        yield f"http://127.0.0.1:{server.server_port}", answered


def test_the_docs_page_renders_under_the_default_security_headers(
    served_docs: tuple[str, Answered], tmp_path: Path
) -> None:
    base, requests = served_docs
    result = dump_dom(f"{base}/docs", tmp_path / "profile")
    paths = re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', result.stdout)
    assert paths == ["/health"]
    assert "Content Security Policy" not in result.stderr
    assert "Cross-Origin-Resource-Policy" not in result.stderr
    assert "Failed to load resource" not in result.stderr
    assert {"/docs", "/docs/static/swagger-ui-bundle.js", "/openapi.json"} <= {
        path for _, path, _ in requests
    }
    assert all(status in (200, 304) for _, _, status in requests), requests

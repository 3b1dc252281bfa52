"""``csrf()``: signed double-submit tokens for requests carrying the session cookie."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from microapi import Api, Request, Res
from microapi.middleware import csrf
from microapi.request import CSRF_SESSION_KEY
from microapi.security import csrf_token_for, new_csrf_secret
from microapi.testing import TestClient, TestResponse
from tests.helpers import assert_problem

BASE = "https://good.example.com"


def csrf_app(secret_key: Any = "k", **options: Any) -> Api:
    api = Api(secret_key=secret_key)
    api.middleware(csrf(**options))

    @api.route("/public", methods=["GET", "POST"])
    def public(req: Request, res: Res) -> dict[str, Any]:
        return {"ok": True}

    @api.route("/login", methods=["POST"])
    def login(req: Request, res: Res) -> dict[str, Any]:
        req.session["user"] = "ann"
        return {"ok": True}

    @api.route("/form")
    def form(req: Request, res: Res) -> dict[str, Any]:
        return {"csrf_token": req.csrf_token}

    @api.route("/todos", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def todos(req: Request, res: Res) -> dict[str, Any]:
        return {"user": req.session.get("user")}

    @api.route("/raw", methods=["POST"], body_parser=False)
    def raw(req: Request, res: Res) -> dict[str, Any]:
        return {"raw": req.get_data(as_text=True)}

    @api.route("/logout", methods=["POST"])
    def logout(req: Request, res: Res) -> dict[str, Any]:
        req.session.clear()
        return {"ok": True}

    @api.route("/rotate", methods=["POST"])
    def rotate(req: Request, res: Res) -> dict[str, Any]:
        before = req.csrf_token
        req.session[CSRF_SESSION_KEY] = new_csrf_secret()
        return {"before": before}

    return api


def logged_in(api: Api | None = None) -> tuple[TestClient, str]:
    """A client with a session, and its CSRF token (from the readable cookie)."""
    client = TestClient(api or csrf_app())
    client.post("/login", base_url=BASE)
    cookie = client.get_cookie("csrf_token", domain="good.example.com")
    assert cookie is not None
    return client, cookie.value


def set_cookies(response: TestResponse, name: str) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{name}=")]


def forbidden(response: TestResponse) -> str:
    detail: str = assert_problem(response, 403)["detail"]
    return detail


# -- who is subject to it ------------------------------------------------------------------


def test_safe_requests_without_a_session_pay_nothing() -> None:
    client = TestClient(csrf_app(), use_cookies=False)  # the Cookie header is sent as is
    for headers in ({}, {"Cookie": "theme=dark; mysession=1"}):
        response = client.get("/public", headers=headers, base_url=BASE)
        assert response.json == {"ok": True}
        assert "Set-Cookie" not in response.headers
        assert "Vary" not in response.headers  # the session was never read


def test_requests_without_the_session_cookie_need_no_token() -> None:
    client = TestClient(csrf_app(), use_cookies=False)
    # A bearer client with other cookies, even a stray csrf_token.
    headers = {"Cookie": "theme=dark; csrf_token=junk; =session"}
    assert client.post("/todos", headers=headers, base_url=BASE).json == {"user": None}
    assert client.delete("/todos", base_url=BASE).json == {"user": None}
    # Cross-origin requests a browser sends only after a CORS preflight are cors()'s.
    evil = {"Origin": "https://evil.net", "Sec-Fetch-Site": "cross-site"}
    assert client.post("/todos", json={}, headers=evil, base_url=BASE).json == {"user": None}
    with_credentials = {**evil, "Authorization": "Bearer abc"}
    response = client.post("/todos", data={"a": "1"}, headers=with_credentials, base_url=BASE)
    assert response.json == {"user": None}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ({"data": {"user": "mallory"}}, "application/x-www-form-urlencoded"),
        ({"data": {"user": "mallory"}}, "multipart/form-data"),
        ({"data": "user=mallory"}, "text/plain"),
        ({}, None),
    ],
)
@pytest.mark.parametrize(
    "cross_site",
    [{"Origin": "https://evil.net"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}],
)
def test_cross_site_simple_requests_are_refused_even_without_a_session(
    body: dict[str, Any], content_type: str | None, cross_site: dict[str, str]
) -> None:
    # A login CSRF: another site's form posts the attacker's credentials.
    client = TestClient(csrf_app(), use_cookies=False)
    options: dict[str, Any] = {**body, "headers": cross_site, "base_url": BASE}
    if content_type is not None:
        options["content_type"] = content_type
    assert "cross-" in forbidden(client.post("/login", **options))
    # The same form from the app's own pages, or from a trusted origin, is fine.
    same_site = {"Origin": BASE.rstrip("/"), "Sec-Fetch-Site": "same-origin"}
    assert client.post("/login", **{**options, "headers": same_site}).json == {"ok": True}
    trusting = TestClient(csrf_app(trusted_origins=["https://evil.net"]), use_cookies=False)
    if "Origin" in cross_site and cross_site["Origin"] != "null":
        assert trusting.post("/login", **options).json == {"ok": True}


def test_logging_in_sets_the_readable_cookie_with_the_session() -> None:
    client = TestClient(csrf_app())
    response = client.post("/login", base_url=BASE)
    (cookie,) = set_cookies(response, "csrf_token")
    assert "HttpOnly" not in cookie
    assert "; SameSite=Lax" in cookie
    assert "; Secure" in cookie
    assert "; Path=/" in cookie
    assert "; Max-Age=2678400" in cookie
    assert len(set_cookies(response, "session")) == 1
    # The session saved after the middleware holds the secret the token names.
    token = cookie.split(";")[0].split("=", 1)[1]
    response = client.post("/todos", headers={"X-CSRF-Token": token}, base_url=BASE)
    assert response.json == {"user": "ann"}


def test_the_cookie_is_not_secure_over_http() -> None:
    client = TestClient(csrf_app())
    (cookie,) = set_cookies(client.post("/login"), "csrf_token")
    assert "Secure" not in cookie


def test_unsafe_methods_need_the_token() -> None:
    client, token = logged_in()
    for method in ("POST", "PUT", "PATCH", "DELETE", "post", "pOsT", "delete"):
        detail = forbidden(client.open("/todos", method=method, base_url=BASE))
        assert detail == (
            "CSRF token missing: send the csrf_token cookie's value in the X-CSRF-Token "
            "header or the csrf_token form field"
        )
        response = client.open(
            "/todos", method=method, headers={"X-CSRF-Token": token}, base_url=BASE
        )
        assert response.json == {"user": "ann"}


def test_safe_methods_are_never_checked() -> None:
    client, _ = logged_in()
    headers = {"Origin": "https://evil.net", "Sec-Fetch-Site": "cross-site"}
    assert client.get("/todos", headers=headers, base_url=BASE).json == {"user": "ann"}
    assert client.open("/todos", method="get", base_url=BASE).json == {"user": "ann"}
    assert client.head("/todos", headers=headers, base_url=BASE).status_code == 200
    assert client.options("/todos", headers=headers, base_url=BASE).status_code == 204


def test_unmatched_paths_are_not_checked() -> None:
    client, _ = logged_in()
    assert_problem(client.post("/nowhere", base_url=BASE), 404)
    assert_problem(client.post("/form", base_url=BASE), 405)
    assert_problem(client.open("/todos", method="PURGE", base_url=BASE), 405)


def test_a_tampered_or_nameless_session_cookie_counts_by_name() -> None:
    client = TestClient(csrf_app(), use_cookies=False)
    for cookie in ("session=forged", "session", "session=", "theme=1; session=x.y.z"):
        detail = forbidden(client.post("/todos", headers={"Cookie": cookie}, base_url=BASE))
        assert detail.startswith("CSRF token missing")
    # Its token is of no use with a forged cookie.
    _, token = logged_in()
    headers = {"Cookie": "session=forged", "X-CSRF-Token": token}
    assert forbidden(client.post("/todos", headers=headers, base_url=BASE)).startswith(
        "CSRF token invalid"
    )


# -- where the token comes from ---------------------------------------------------------------


def test_the_token_may_come_from_a_form_field() -> None:
    client, token = logged_in()
    response = client.post("/todos", data={"csrf_token": token}, base_url=BASE)
    assert response.json == {"user": "ann"}
    multipart = {"csrf_token": token, "title": "x", "file": (b"data", "a.txt")}
    response = client.post("/todos", data=multipart, base_url=BASE)
    assert response.json == {"user": "ann"}
    # The header wins over the field.
    response = client.post(
        "/todos", data={"csrf_token": "junk"}, headers={"X-CSRF-Token": token}, base_url=BASE
    )
    assert response.json == {"user": "ann"}


def test_the_token_in_the_wrong_place_is_missing() -> None:
    client, token = logged_in()
    for options in (
        {"query_string": {"csrf_token": token}},
        {"json": {"csrf_token": token}},
        {"headers": {"X-CSRF": token}},
        {"headers": {"Csrf-Token": token}},
        {"data": {"csrf-token": token}},
        {"data": f"csrf_token={token}", "content_type": "text/plain"},
        {"headers": {"Authorization": f"Bearer {token}"}},
    ):
        detail = forbidden(client.post("/todos", base_url=BASE, **options))
        assert detail.startswith("CSRF token missing"), options


def test_a_body_parser_false_route_takes_the_header_only() -> None:
    client, token = logged_in()
    body = f"csrf_token={token}"
    form = "application/x-www-form-urlencoded"
    response = client.post("/raw", data=body, content_type=form, base_url=BASE)
    assert forbidden(response).startswith("CSRF token missing")
    response = client.post(
        "/raw", data=body, content_type=form, headers={"X-CSRF-Token": token}, base_url=BASE
    )
    assert response.json == {"raw": body}  # the body was left unread


def test_bad_form_bodies_are_4xx() -> None:
    client, _ = logged_in()
    response = client.post(
        "/todos",
        data=b"--x\r\nbroken",
        content_type="multipart/form-data; boundary=x",
        base_url=BASE,
    )
    assert_problem(response, 400)
    big = {f"f{i}": "v" for i in range(1001)}
    assert_problem(client.post("/todos", data=big, base_url=BASE), 413)


# -- which tokens pass --------------------------------------------------------------------------


def test_a_token_from_another_session_fails() -> None:
    api = csrf_app()
    alice, _ = logged_in(api)
    _, mallory_token = logged_in(api)
    response = alice.post("/todos", headers={"X-CSRF-Token": mallory_token}, base_url=BASE)
    assert forbidden(response) == (
        "CSRF token invalid: send the current csrf_token cookie's value in the X-CSRF-Token "
        "header or the csrf_token form field"
    )


def test_forged_tokens_fail() -> None:
    api = csrf_app()
    client, token = logged_in(api)
    session = client.get_cookie("session", domain="good.example.com")
    assert session is not None
    secret = new_csrf_secret()
    payload, signature = token.split(".")
    for forged in (
        token[:-1],
        token + "=",
        payload,
        f"{payload}.{signature[::-1]}",
        csrf_token_for(Api(secret_key="other").keys, secret),
        api.tokens.issue({"sub": "ann"}),
        session.value,  # the session cookie itself
        token + "," + token,
        " ",
        "é" * 40,
        "x" * 10_000,
    ):
        response = client.post("/todos", headers={"X-CSRF-Token": forged}, base_url=BASE)
        assert forbidden(response).startswith("CSRF token "), forged


def test_duplicate_token_headers_fail() -> None:
    client, token = logged_in()
    headers = [("X-CSRF-Token", token), ("X-CSRF-Token", token)]
    assert forbidden(client.post("/todos", headers=headers, base_url=BASE))


# -- cross-site requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://good.example.com.evil.net",
        "https://evil.net",
        "null",
        "http://good.example.com",  # another scheme
        "https://good.example.com:8443",  # another port
        "https://sub.good.example.com",
        "https://good.example.co",
        "good.example.com",
        "https://good.example.com@evil.net",
        "\x00",
    ],
)
def test_a_foreign_origin_is_refused_even_with_the_token(origin: str) -> None:
    client, token = logged_in()
    headers = {"X-CSRF-Token": token, "Origin": origin}
    detail = forbidden(client.post("/todos", headers=headers, base_url=BASE))
    assert detail.startswith("cross-origin request refused (Origin: ")


@pytest.mark.parametrize(
    "origin",
    ["https://good.example.com", "HTTPS://Good.Example.COM", "https://good.example.com:443"],
)
def test_the_own_origin_passes(origin: str) -> None:
    client, token = logged_in()
    headers = {"X-CSRF-Token": token, "Origin": origin, "Sec-Fetch-Site": "same-origin"}
    assert client.post("/todos", headers=headers, base_url=BASE).json == {"user": "ann"}
    # Still needs the token.
    forbidden(client.post("/todos", headers={"Origin": origin}, base_url=BASE))


def test_the_own_origin_includes_a_non_default_port() -> None:
    client = TestClient(csrf_app())
    base = "http://localhost:8080"
    client.post("/login", base_url=base)
    cookie = client.get_cookie("csrf_token")
    assert cookie is not None
    headers = {"X-CSRF-Token": cookie.value, "Origin": base}
    assert client.post("/todos", headers=headers, base_url=base).json == {"user": "ann"}
    headers["Origin"] = "http://localhost"
    assert forbidden(client.post("/todos", headers=headers, base_url=base)).startswith(
        "cross-origin"
    )


@pytest.mark.parametrize("site", ["cross-site", "Cross-Site", " cross-site "])
def test_sec_fetch_site_cross_site_is_refused_even_with_the_token(site: str) -> None:
    client, token = logged_in()
    headers = {"X-CSRF-Token": token, "Sec-Fetch-Site": site}
    assert forbidden(client.post("/todos", headers=headers, base_url=BASE)) == (
        "cross-site request refused (Sec-Fetch-Site: cross-site)"
    )


@pytest.mark.parametrize("site", ["same-origin", "same-site", "none", "", "bogus"])
def test_other_sec_fetch_site_values_pass_with_the_token(site: str) -> None:
    client, token = logged_in()
    headers = {"X-CSRF-Token": token, "Sec-Fetch-Site": site}
    assert client.post("/todos", headers=headers, base_url=BASE).json == {"user": "ann"}


def test_trusted_origins_may_send_unsafe_requests_with_the_token() -> None:
    api = csrf_app(trusted_origins=["https://app.example.com/", "HTTPS://Other.example.org:443"])
    client, token = logged_in(api)
    for origin in ("https://app.example.com", "https://other.example.org"):
        headers = {"X-CSRF-Token": token, "Origin": origin, "Sec-Fetch-Site": "cross-site"}
        assert client.post("/todos", headers=headers, base_url=BASE).json == {"user": "ann"}
        response = client.post("/todos", headers={"Origin": origin}, base_url=BASE)
        assert forbidden(response).startswith("CSRF token missing")
    headers = {"X-CSRF-Token": token, "Origin": "https://app.example.com.evil.net"}
    assert forbidden(client.post("/todos", headers=headers, base_url=BASE)).startswith(
        "cross-origin"
    )


@pytest.mark.parametrize(
    "origins",
    [
        ["app.example.com"],
        ["https://app.example.com/path"],
        ["ftp://x.example"],
        ["https://"],
        ["https://user@app.example.com"],
        ["https://app.example.com?x"],
    ],
)
def test_trusted_origins_must_be_origins(origins: list[str]) -> None:
    with pytest.raises(ValueError, match="must be a scheme and host"):
        csrf(trusted_origins=origins)


def test_trusted_origins_is_a_list() -> None:
    with pytest.raises(TypeError, match="not one string"):
        csrf(trusted_origins="https://app.example.com")


@pytest.mark.parametrize(
    "options",
    [{"cookie_name": ""}, {"cookie_name": "a b"}, {"header_name": "X:Y"}, {"field_name": ""}],
)
def test_names_must_be_tokens(options: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="must be a non-empty token"):
        csrf(**options)


def test_custom_names() -> None:
    api = csrf_app(cookie_name="xsrf", header_name="X-XSRF-Token", field_name="_xsrf")
    client = TestClient(api)
    client.post("/login")
    cookie = client.get_cookie("xsrf")
    assert cookie is not None
    assert client.get_cookie("csrf_token") is None
    assert client.post("/todos", headers={"X-XSRF-Token": cookie.value}).json == {"user": "ann"}
    assert client.post("/todos", data={"_xsrf": cookie.value}).json == {"user": "ann"}
    detail = forbidden(client.post("/todos", headers={"X-CSRF-Token": cookie.value}))
    assert "X-XSRF-Token header or the _xsrf form field" in detail


# -- keeping the readable cookie ------------------------------------------------------------------


def test_the_cookie_is_set_only_when_it_differs() -> None:
    client, token = logged_in()
    response = client.get("/todos", base_url=BASE)
    assert set_cookies(response, "csrf_token") == []
    assert set_cookies(response, "session") == []
    client.delete_cookie("csrf_token", domain="good.example.com")
    (cookie,) = set_cookies(client.get("/todos", base_url=BASE), "csrf_token")
    assert cookie.startswith(f"csrf_token={token};")
    client.set_cookie("csrf_token", "stale", domain="good.example.com")
    (cookie,) = set_cookies(client.get("/public", base_url=BASE), "csrf_token")
    assert cookie.startswith(f"csrf_token={token};")


def test_the_handlers_token_is_the_cookies() -> None:
    client = TestClient(csrf_app())
    token = client.get("/form", base_url=BASE).json["csrf_token"]
    cookie = client.get_cookie("csrf_token", domain="good.example.com")
    assert cookie is not None
    assert cookie.value == token
    response = client.post("/todos", data={"csrf_token": token}, base_url=BASE)
    assert response.json == {"user": None}


def test_a_forged_session_cookie_gets_a_fresh_session_and_token() -> None:
    client = TestClient(csrf_app())
    client.set_cookie("session", "forged", domain="good.example.com")
    response = client.get("/public", base_url=BASE)
    assert len(set_cookies(response, "session")) == 1
    (cookie,) = set_cookies(response, "csrf_token")
    token = cookie.split(";")[0].split("=", 1)[1]
    assert client.post("/todos", headers={"X-CSRF-Token": token}, base_url=BASE).status_code == 200


def test_a_refusal_carries_the_cookie_so_the_client_can_retry() -> None:
    client, token = logged_in()
    client.delete_cookie("csrf_token", domain="good.example.com")
    response = client.post("/todos", base_url=BASE)
    forbidden(response)
    (cookie,) = set_cookies(response, "csrf_token")
    assert cookie.startswith(f"csrf_token={token};")
    assert client.post("/todos", headers={"X-CSRF-Token": token}, base_url=BASE).status_code == 200


def test_logging_out_drops_the_token_with_the_session() -> None:
    client, token = logged_in()
    response = client.post("/logout", headers={"X-CSRF-Token": token}, base_url=BASE)
    assert response.json == {"ok": True}
    (session,) = set_cookies(response, "session")
    (cookie,) = set_cookies(response, "csrf_token")
    assert "Max-Age=0" in session
    assert "Max-Age=0" in cookie
    assert client.get_cookie("csrf_token", domain="good.example.com") is None
    assert client.post("/todos", base_url=BASE).json == {"user": None}  # no session: exempt


def test_a_new_secret_set_by_the_handler_reaches_the_cookie() -> None:
    client, token = logged_in()
    response = client.post("/rotate", headers={"X-CSRF-Token": token}, base_url=BASE)
    assert response.json == {"before": token}
    (cookie,) = set_cookies(response, "csrf_token")
    fresh = cookie.split(";")[0].split("=", 1)[1]
    assert fresh != token
    forbidden(client.post("/todos", headers={"X-CSRF-Token": token}, base_url=BASE))
    assert client.post("/todos", headers={"X-CSRF-Token": fresh}, base_url=BASE).status_code == 200


def test_a_session_written_by_a_safe_request_gets_the_cookie() -> None:
    api = Api(secret_key="k")
    api.middleware(csrf())

    @api.route("/callback")
    def callback(req: Request, res: Res) -> dict[str, Any]:
        req.session["user"] = "ann"
        return {}

    @api.route("/peek")
    def peek(req: Request, res: Res) -> dict[str, Any]:
        return dict(req.session)

    client = TestClient(api)
    assert client.get("/peek").json == {}
    assert client.get_cookie("csrf_token") is None  # an empty session is not in use
    assert len(set_cookies(client.get("/callback"), "csrf_token")) == 1


def test_without_a_key_sessions_fail_but_anonymous_reads_work(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("MICROAPI_SECRET_KEY", raising=False)
    client = TestClient(csrf_app(secret_key=None), use_cookies=False)
    assert client.get("/public").json == {"ok": True}
    assert client.post("/public").json == {"ok": True}
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        assert_problem(client.get("/public", headers={"Cookie": "session=x"}), 500)
    (record,) = [r for r in caplog.records if r.name == "microapi.error"]
    assert record.exc_info is not None
    assert "MICROAPI_SECRET_KEY" in str(record.exc_info[1])


def test_a_forged_session_cookie_read_by_the_handler_is_replaced() -> None:
    client = TestClient(csrf_app())
    client.set_cookie("session", "forged", domain="good.example.com")
    response = client.get("/todos", base_url=BASE)
    assert response.json == {"user": None}
    assert len(set_cookies(response, "session")) == 1
    assert len(set_cookies(response, "csrf_token")) == 1


def test_logging_out_without_the_readable_cookie_clears_only_the_session() -> None:
    client, token = logged_in()
    client.delete_cookie("csrf_token", domain="good.example.com")
    response = client.post("/logout", headers={"X-CSRF-Token": token}, base_url=BASE)
    assert len(set_cookies(response, "session")) == 1
    assert set_cookies(response, "csrf_token") == []

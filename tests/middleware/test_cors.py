"""``cors``: allowed origins, preflights, error responses, hostile origins and headers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields

from microapi import Api, HTTPError, Request, Res, Router
from microapi.middleware import cors
from microapi.testing import TestClient, TestResponse
from tests.helpers import assert_problem

APP = "https://app.example.com"
PREFLIGHT = {"Access-Control-Request-Method": "POST"}


class Todo(Schema):
    title = fields.String(required=True)


def make(*origins: str | re.Pattern[str], **options: Any) -> tuple[Api, list[str]]:
    """A tiny API behind ``cors(origins, **options)``; returns it and a call log."""
    api = Api()
    calls: list[str] = []
    api.middleware(cors(origins=list(origins), **options))

    @api.middleware
    def inner(req: Request, res: Res, next: Any) -> None:
        calls.append(f"{req.method} {req.path}")
        next()

    @api.route("/items", methods=["GET", "POST"])
    def items(req: Request, res: Res) -> None:
        res.set_header("X-Total", "3").set_header("X-Secret", "s").json([1, 2, 3])

    @api.route("/todos", methods=["POST"], body=Todo)
    def todos(req: Request, res: Res) -> None:
        res.status(201).json(req.body)

    @api.route("/upload", methods=["POST"], body_limit=4)
    def upload(req: Request, res: Res) -> None:
        res.send(req.get_data())

    @api.route("/boom")
    def boom(req: Request, res: Res) -> None:
        raise RuntimeError("bug")

    @api.route("/gone")
    def gone(req: Request, res: Res) -> None:
        raise HTTPError(410, "gone for good")

    return api, calls


def get(origin: str | None, *origins: str | re.Pattern[str], **options: Any) -> TestResponse:
    api, _ = make(*origins, **options)
    # Through the environ, so that values a client library would refuse get in.
    environ = {} if origin is None else {"HTTP_ORIGIN": origin}
    return TestClient(api).get("/items", environ_overrides=environ)


def cors_headers(response: TestResponse) -> dict[str, str]:
    return {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


def varies(response: TestResponse) -> list[str]:
    return [part.strip() for value in response.headers.getlist("Vary") for part in value.split(",")]


# -- actual requests --------------------------------------------------------------


def test_an_allowed_origin_is_echoed_with_vary_origin() -> None:
    response = get(APP, APP)
    assert response.status_code == 200
    assert response.json == [1, 2, 3]
    assert cors_headers(response) == {"access-control-allow-origin": APP}
    assert varies(response) == ["Origin"]


def test_a_disallowed_origin_gets_no_cors_headers_but_its_answer() -> None:
    response = get("https://evil.example.net", APP)
    assert response.status_code == 200
    assert cors_headers(response) == {}
    assert varies(response) == ["Origin"]


def test_a_request_without_origin_still_varies_on_origin() -> None:
    response = get(None, APP)
    assert cors_headers(response) == {}
    assert varies(response) == ["Origin"]


def test_credentials_and_exposed_headers_on_actual_responses() -> None:
    response = get(APP, APP, credentials=True, expose=["X-Total", "X-Total"])
    assert cors_headers(response) == {
        "access-control-allow-origin": APP,
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": "X-Total",
    }


def test_star_sends_a_literal_star_to_any_real_origin() -> None:
    assert get("https://anyone.test", "*").headers["Access-Control-Allow-Origin"] == "*"
    assert get("http://[::1]:8000", "*").headers["Access-Control-Allow-Origin"] == "*"
    for hostile in ("null", ""):
        response = get(hostile, "*")
        assert cors_headers(response) == {}
        assert varies(response) == ["Origin"]


def test_star_with_credentials_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="list the allowed origins"):
        cors(origins=["*"], credentials=True)
    with pytest.raises(ValueError, match="list the allowed origins"):
        cors(origins=[APP, "*"], credentials=True)


def test_with_credentials_the_origin_is_echoed_never_star() -> None:
    response = get("https://a.example.com", "https://*.example.com", credentials=True)
    assert response.headers["Access-Control-Allow-Origin"] == "https://a.example.com"


# -- origin matching ----------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com.evil.net",  # suffix attack
        "https://evilapp.example.com",  # prefix attack
        "https://evil-app.example.com",
        "https://app.example.co",
        "https://app.example.comm",
        "http://app.example.com",  # scheme
        "https://app.example.com:8443",  # port
        "https://app.example.com:443",  # not how browsers write it
        "https://app.example.com/",  # trailing slash
        "https://APP.EXAMPLE.COM",  # browsers send lowercase
        "https://user@app.example.com",  # userinfo
        "https://app.example.com@evil.net",
        " https://app.example.com",
        "https://app.example.com\t",
        "https://app.example.com, https://evil.net",  # two Origin headers joined
        "app.example.com",
        "",
        "null",
        "https://app.example.com" + "m" * 10_000,
    ],
)
def test_an_exact_origin_matches_only_itself(origin: str) -> None:
    assert cors_headers(get(origin, APP)) == {}


@pytest.mark.parametrize(
    "origin",
    ["https://good.example.com", "https://a.example.com", "https://x-1.example.com"],
)
def test_a_glob_allows_one_subdomain_label(origin: str) -> None:
    response = get(origin, "https://*.example.com")
    assert response.headers["Access-Control-Allow-Origin"] == origin


@pytest.mark.parametrize(
    "origin",
    [
        "https://good.example.com.evil.net",
        "https://a.b.example.com",  # two labels
        "https://example.com",  # no label
        "https://.example.com",
        "https://evil-example.com",
        "https://evilexample.com",
        "https://good.example.com.",
        "https://good.example.com/",
        "https://good.example.com:443",
        "https://good.example.com:8443",
        "http://good.example.com",
        "https://GOOD.example.com",
        "https://-bad.example.com",
        "https://bad-.example.com",
        "https://under_score.example.com",
        "https://" + "a" * 64 + ".example.com",  # a label is at most 63
        "https://user@good.example.com",
        "https://good.example.com@evil.net",
        "https://evil.net#.example.com",
        "https://evil.net/.example.com",
        "https://evil.net?.example.com",
        "https://bücher.example.com",  # browsers send punycode
        "https://b\u00c3\u00bccher.example.com",  # UTF-8 bytes read as latin-1
        "https://good.example.com\n",
        "null",
        "",
        "*",
        "https://*.example.com",
        "https://" + "a." * 5000 + "example.com",
    ],
)
def test_a_glob_rejects_origin_tricks(origin: str) -> None:
    assert cors_headers(get(origin, "https://*.example.com")) == {}


def test_a_glob_label_may_be_63_characters() -> None:
    origin = "https://" + "a" * 63 + ".example.com"
    assert get(origin, "https://*.example.com").headers["Access-Control-Allow-Origin"] == origin


def test_globs_for_inner_labels_and_ports() -> None:
    assert cors_headers(get("https://api.eu.example.com", "https://api.*.example.com"))
    assert not cors_headers(get("https://api.eu.west.example.com", "https://api.*.example.com"))
    for port in ("3000", "8080", "1"):
        assert cors_headers(get(f"http://localhost:{port}", "http://localhost:*"))
    for origin in ("http://localhost", "http://localhost:", "http://localhost:123456"):
        assert not cors_headers(get(origin, "http://localhost:*"))
    assert not cors_headers(get("http://localhost:x", "http://localhost:*"))


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=60)
    | st.builds(
        lambda left, right: f"https://{left}.example.com{right}",
        st.text(max_size=12),
        st.sampled_from(["", ".", "/", ":1", ".evil", "@x"]),
    )
)
def test_a_glob_never_allows_anything_but_one_label(origin: str) -> None:
    response = get(origin, "https://*.example.com")
    assert response.status_code == 200
    one_label = re.fullmatch(r"https://[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.example\.com", origin)
    assert cors_headers(response) == ({"access-control-allow-origin": origin} if one_label else {})


def test_a_pattern_is_fullmatched() -> None:
    pattern = re.compile(r"https://app[0-9]\.example\.com")
    assert cors_headers(get("https://app1.example.com", pattern))
    assert not cors_headers(get("https://app1.example.com.evil.net", pattern))
    assert not cors_headers(get("https://xapp1.example.com", pattern))


def test_null_is_allowed_only_when_listed_exactly() -> None:
    anything = re.compile(r".*")
    assert not cors_headers(get("null", anything))
    assert not cors_headers(get("null", "https://*.example.com"))
    assert not cors_headers(get("null", "*"))
    assert get("null", "null").headers["Access-Control-Allow-Origin"] == "null"
    assert get("https://x.test", anything, "null").headers["Access-Control-Allow-Origin"]


def test_configured_origins_are_normalised_as_browsers_send_them() -> None:
    assert cors_headers(get("https://app.example.com", "HTTPS://App.Example.COM:443"))
    assert cors_headers(get("http://app.example.com", "http://app.example.com:80"))
    assert cors_headers(get("https://app.example.com:8443", "https://app.example.com:8443"))
    assert cors_headers(get("https://xn--bcher-kva.example", "https://bücher.example"))
    assert cors_headers(get("https://a.xn--bcher-kva.example", "https://*.bücher.example"))
    assert cors_headers(get("http://[::1]:5173", "http://[::1]:5173"))
    assert cors_headers(get("chrome-extension://abcdef", "chrome-extension://abcdef"))


def test_many_forged_glob_origins_do_not_change_the_verdicts() -> None:
    api, _ = make("https://*.example.com", re.compile(r"https://[a-z]+\.example\.org"))
    client = TestClient(api)
    for number in range(1100):  # past the verdict cache's size
        origin = f"https://s{number}.example.com"
        response = client.get("/items", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == origin
    for origin in ("https://evil.net", "https://" + "a" * 300 + ".example.org", "null"):
        for _ in range(2):  # the second time from the cache, where kept
            expected = origin.endswith(".org")
            response = client.get("/items", headers={"Origin": origin})
            assert ("Access-Control-Allow-Origin" in response.headers) is expected


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("https://app.example.com/", "must not end with '/'"),
        ("https://app.example.com/path", "is not scheme://host"),
        ("https://user@app.example.com", "is not scheme://host"),
        ("app.example.com", "is not scheme://host"),
        ("https://app.example.com?x", "is not scheme://host"),
        ("*://app.example.com", "is not scheme://host"),
        ("https://app-*.example.com", "must be a whole label"),
        ("https://*example.com", "must be a whole label"),
        ("https://a..example.com", "is not a host label"),
        ("https://-a.example.com", "is not a host label"),
        ("https://*", "not the last label"),
        ("https://example.*", "not the last label"),
        ("https://[::1]:*", "IPv6 address takes no"),
        ("https://*.com", "at least two labels"),
        ("https://*.*.com", "at least two labels"),
        ("https://a.*.com", "at least two labels"),
        ("https://app.example.com:99999", "port out of range"),
        ("https://a\u0000b.example.com", "is not a host label"),
        ("https://" + "é" * 70 + ".example", "invalid host label"),
        ("", "is not scheme://host"),
    ],
)
def test_malformed_origins_are_refused_at_construction(origin: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        cors(origins=[origin])


def test_wrong_types_are_refused_at_construction() -> None:
    with pytest.raises(TypeError, match="takes a list"):
        cors(origins=APP)
    with pytest.raises(TypeError, match="takes a list"):
        cors(origins=re.compile(".*"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not int"):
        cors(origins=[1])  # type: ignore[list-item]
    bytes_pattern: Any = re.compile(b".*")
    with pytest.raises(TypeError, match="str pattern"):
        cors(origins=[bytes_pattern])
    with pytest.raises(TypeError, match="takes a list"):
        cors(origins=[APP], methods="GET")
    with pytest.raises(ValueError, match="not a valid name"):
        cors(origins=[APP], headers=["X-Ok", "X Bad"])
    with pytest.raises(ValueError, match="not a valid name"):
        cors(origins=[APP], expose=["X-A\r\nSet-Cookie: a=b"])
    with pytest.raises(ValueError, match="not a valid name"):
        cors(origins=[APP], methods=[""])
    with pytest.raises(ValueError, match="not a wildcard when credentials=True"):
        cors(origins=[APP], credentials=True, headers=["*"])
    for max_age in (-1, True, 1.5, "600"):
        with pytest.raises(ValueError, match="max_age"):
            cors(origins=[APP], max_age=max_age)  # type: ignore[arg-type]


def test_an_empty_allow_list_allows_nothing() -> None:
    response = get(APP)
    assert cors_headers(response) == {}
    assert varies(response) == ["Origin"]


# -- preflights ---------------------------------------------------------------------


def preflight(api: Api, path: str, origin: str = APP, **headers: str) -> TestResponse:
    return TestClient(api).options(path, headers={"Origin": origin, **PREFLIGHT, **headers})


@pytest.mark.parametrize("path", ["/items", "/no/such/path", "/boom", "/upload/"])
def test_a_preflight_from_an_allowed_origin_is_204_for_any_path(path: str) -> None:
    api, calls = make(APP)
    response = preflight(api, path, **{"Access-Control-Request-Headers": "Content-Type,X-Token"})
    assert response.status_code == 204
    assert response.data == b""
    assert cors_headers(response) == {
        "access-control-allow-origin": APP,
        "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
        "access-control-allow-headers": "content-type, x-token",
        "access-control-max-age": "600",
    }
    assert varies(response) == [
        "Origin",
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
    ]
    assert "Allow" not in response.headers
    assert calls == []  # nothing inside cors ran


def test_after_a_preflight_the_actual_request_reads_its_404_and_405() -> None:
    api, calls = make(APP)
    client = TestClient(api)
    missing = client.post("/no/such/path", headers={"Origin": APP})
    assert_problem(missing, 404)
    assert missing.headers["Access-Control-Allow-Origin"] == APP
    assert varies(missing) == ["Origin"]
    assert preflight(api, "/boom", **{"Access-Control-Request-Method": "DELETE"}).status_code == 204
    wrong = client.delete("/boom", headers={"Origin": APP})
    assert_problem(wrong, 405)
    assert wrong.headers["Access-Control-Allow-Origin"] == APP
    assert wrong.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert calls == ["POST /no/such/path", "DELETE /boom"]


def test_a_routers_cors_answers_the_preflights_of_its_paths() -> None:
    # The preflight's OPTIONS is no route's method: its answer still passes
    # through the Router's middleware, as the actual request will.
    api = Api()
    public = Router(prefix="/public")
    public.middleware(cors(origins=[APP]))
    public.add_route("/items", lambda req, res: {"ok": True}, methods=["POST"])
    api.include(public)
    response = preflight(api, "/public/items")
    assert response.status_code == 204
    assert cors_headers(response)["access-control-allow-origin"] == APP
    actual = TestClient(api).post("/public/items", headers={"Origin": APP})
    assert actual.headers["Access-Control-Allow-Origin"] == APP


def test_a_routers_cors_answers_its_preflight_when_another_router_shares_the_path() -> None:
    # A guarded GET registered first, a public POST whose Router has cors():
    # the preflight asks about POST, so the POST route's middleware answers.
    api = Api()
    private = Router()

    @private.middleware
    def guard(req: Request, res: Res, next: Any) -> None:
        if req.headers.get("Authorization") != "Bearer yes":
            raise HTTPError(401, "token required")
        next()

    private.add_route("/items", lambda req, res: [], name="list_items")
    public = Router()
    public.middleware(cors(origins=[APP]))
    public.add_route("/items", lambda req, res: {}, methods=["POST"], name="add_item")
    api.include(private)
    api.include(public)
    response = preflight(api, "/items", **{"Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert cors_headers(response)["access-control-allow-origin"] == APP


def test_preflight_options() -> None:
    api, _ = make(
        APP,
        credentials=True,
        methods=["get", "POST", "post", "PURGE"],
        headers=["Content-Type", "X-Token"],
        expose=["X-Total"],
        max_age=0,
    )
    response = preflight(api, "/items", **{"Access-Control-Request-Headers": "x-other"})
    assert response.status_code == 204
    assert cors_headers(response) == {
        "access-control-allow-origin": APP,
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "GET, POST, PURGE",
        # The configured list, whatever was asked: the browser decides.
        "access-control-allow-headers": "Content-Type, X-Token",
        "access-control-max-age": "0",
    }


def test_a_preflight_for_a_method_not_allowed_gets_the_policy() -> None:
    api, _ = make(APP, methods=["GET"])
    response = preflight(api, "/items", **{"Access-Control-Request-Method": "DELETE"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Methods"] == "GET"


def test_wildcard_lists_without_credentials() -> None:
    api, _ = make("*", methods=["*"], headers=["*"], expose=["*"])
    response = preflight(api, "/items", "https://any.test")
    assert cors_headers(response) == {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "*",
        "access-control-allow-headers": "*",
        "access-control-max-age": "600",
    }
    actual = TestClient(api).get("/items", headers={"Origin": "https://any.test"})
    assert actual.headers["Access-Control-Expose-Headers"] == "*"


def test_a_preflight_without_requested_headers_allows_none() -> None:
    api, _ = make(APP)
    for requested in ({}, {"Access-Control-Request-Headers": ""}):
        response = preflight(api, "/items", **requested)
        assert response.status_code == 204
        assert "Access-Control-Allow-Headers" not in response.headers


def test_requested_headers_are_checked_and_normalised() -> None:
    api, _ = make(APP)
    response = preflight(
        api, "/items", **{"Access-Control-Request-Headers": " ,X-A ,\tx-b,, Authorization "}
    )
    assert response.headers["Access-Control-Allow-Headers"] == "x-a, x-b, authorization"


@pytest.mark.parametrize(
    "requested",
    [
        "x-a, x b",
        "x-a\r\nSet-Cookie: stolen=1",
        "x-a;y",
        "<script>alert(1)</script>",
        'x-a, "quoted"',
        "x-ä",
        "x-a:1",
        "(x)",
    ],
)
def test_hostile_requested_headers_are_a_400_never_reflected(requested: str) -> None:
    api, calls = make(APP)
    response = TestClient(api).options(
        "/items",
        headers={"Origin": APP, **PREFLIGHT},
        environ_overrides={"HTTP_ACCESS_CONTROL_REQUEST_HEADERS": requested},
    )
    problem = assert_problem(response, 400)
    assert problem["detail"] == "Access-Control-Request-Headers must be a list of header names"
    assert "Access-Control-Allow-Headers" not in response.headers
    assert "Access-Control-Allow-Origin" not in response.headers
    assert requested not in response.get_data(as_text=True)
    assert varies(response) == [
        "Origin",
        "Access-Control-Request-Method",
        "Access-Control-Request-Headers",
    ]
    assert calls == []


@pytest.mark.parametrize("method", ["", "GET POST", "G\u00e9T", "GET\r\nX: y", "GET,POST"])
def test_a_malformed_requested_method_is_a_400(method: str) -> None:
    api, _ = make(APP)
    response = TestClient(api).options(
        "/items",
        headers={"Origin": APP},
        environ_overrides={"HTTP_ACCESS_CONTROL_REQUEST_METHOD": method},
    )
    problem = assert_problem(response, 400)
    assert problem["detail"] == "Access-Control-Request-Method must be a method name"


def test_a_preflight_from_a_disallowed_origin_is_left_to_the_app() -> None:
    api, calls = make(APP)
    known = preflight(api, "/items", "https://evil.net")
    assert known.status_code == 204
    assert known.headers["Allow"] == "GET, HEAD, OPTIONS, POST"  # the automatic OPTIONS
    assert cors_headers(known) == {}
    assert varies(known) == ["Origin"]
    unknown = preflight(api, "/no/such/path", "https://evil.net")
    assert_problem(unknown, 404)
    assert cors_headers(unknown) == {}
    assert calls == ["OPTIONS /items", "OPTIONS /no/such/path"]


def test_a_plain_options_from_an_allowed_origin_is_an_actual_request() -> None:
    api, calls = make(APP)
    response = TestClient(api).options("/items", headers={"Origin": APP})
    assert response.status_code == 204
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert cors_headers(response) == {"access-control-allow-origin": APP}
    assert calls == ["OPTIONS /items"]


def test_a_routes_own_options_handler_gets_all_but_allowed_preflights() -> None:
    api = Api()
    api.middleware(cors(origins=[APP]))

    @api.route("/own", methods=["GET", "OPTIONS"])
    def own(req: Request, res: Res) -> None:
        res.status(200).json({"own": req.method})

    client = TestClient(api)
    allowed = client.options("/own", headers={"Origin": APP, **PREFLIGHT})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == APP
    plain = client.options("/own", headers={"Origin": APP})
    assert plain.json == {"own": "OPTIONS"}
    assert plain.headers["Access-Control-Allow-Origin"] == APP
    disallowed = client.options("/own", headers={"Origin": "https://evil.net", **PREFLIGHT})
    assert disallowed.json == {"own": "OPTIONS"}
    assert cors_headers(disallowed) == {}


def test_a_preflight_skips_middleware_registered_after_cors() -> None:
    api = Api()
    api.middleware(cors(origins=[APP]))

    @api.middleware
    def auth(req: Request, res: Res, next: Any) -> None:
        if req.headers.get("Authorization") != "Bearer ok":
            raise HTTPError(401, "no token", headers={"WWW-Authenticate": "Bearer"})
        next()

    @api.route("/me")
    def me(req: Request, res: Res) -> dict[str, bool]:
        return {"me": True}

    client = TestClient(api)
    assert (
        preflight(api, "/me", **{"Access-Control-Request-Headers": "authorization"}).status_code
        == 204
    )
    denied = client.get("/me", headers={"Origin": APP})
    assert_problem(denied, 401)
    assert denied.headers["Access-Control-Allow-Origin"] == APP
    ok = client.get("/me", headers={"Origin": APP, "Authorization": "Bearer ok"})
    assert ok.json == {"me": True}


# -- error responses ----------------------------------------------------------------


def test_error_responses_carry_the_cors_headers() -> None:
    api, _ = make(APP, credentials=True, expose=["X-Total"])
    client = TestClient(api)
    expected = {
        "access-control-allow-origin": APP,
        "access-control-allow-credentials": "true",
        "access-control-expose-headers": "X-Total",
    }
    headers = {"Origin": APP}
    responses = {
        404: client.get("/nope", headers=headers),
        405: client.put("/items", headers=headers),
        410: client.get("/gone", headers=headers),
        413: client.post("/upload", data=b"12345", headers=headers),
        422: client.post("/todos", json={"title": 1}, headers=headers),
        500: client.get("/boom", headers=headers),
    }
    problems = {}
    for status, response in responses.items():
        problems[status] = assert_problem(response, status)
        assert cors_headers(response) == expected, status
        assert varies(response) == ["Origin"], status
    assert problems[422]["errors"] == {"title": ["Not a valid string."]}
    fine = client.post("/upload", data=b"1234", headers=headers)
    assert fine.data == b"1234"
    assert cors_headers(fine) == expected


def test_error_responses_to_disallowed_origins_have_only_vary() -> None:
    api, _ = make(APP)
    client = TestClient(api)
    for response in (
        client.get("/nope", headers={"Origin": "https://evil.net"}),
        client.get("/boom", headers={"Origin": "https://evil.net"}),
        client.get("/boom"),
    ):
        assert cors_headers(response) == {}
        assert varies(response) == ["Origin"]


# -- Vary, HEAD, 304, match= ----------------------------------------------------------


def test_vary_is_appended_to_never_clobbered() -> None:
    api = Api()
    api.middleware(cors(origins=[APP]))

    @api.route("/appends")
    def appends(req: Request, res: Res) -> None:
        res.append_header("Vary", "Accept-Encoding").json({})

    @api.route("/sets")
    def sets(req: Request, res: Res) -> None:
        res.set_header("Vary", "Accept-Language").json({})

    @api.route("/returns")
    def returns(req: Request, res: Res) -> tuple[dict[str, str], int, dict[str, str]]:
        return {}, 200, {"Vary": "Cookie"}

    client = TestClient(api)
    for origin in (APP, "https://evil.net", None):
        headers = {"Origin": origin} if origin else {}
        assert varies(client.get("/appends", headers=headers)) == ["Origin", "Accept-Encoding"]
        assert varies(client.get("/sets", headers=headers)) == ["Accept-Language", "Origin"]
        assert varies(client.get("/returns", headers=headers)) == ["Cookie", "Origin"]


def test_vary_origin_survives_vary_set_through_res_headers() -> None:
    # Reading res.headers makes that view the response's header store: cors
    # must put Origin back into it, not into the list it held before next().
    api = Api()

    @api.middleware
    def outer(req: Request, res: Res, next: Any) -> None:
        if req.path == "/read-before-cors":
            res.headers.add("X-Outer", "1")
        next()

    api.middleware(cors(origins=[APP]))

    @api.route("/sets", name="sets")
    @api.route("/read-before-cors", name="read_before_cors")
    def sets(req: Request, res: Res) -> None:
        res.headers["Vary"] = "Accept-Language"
        res.json({})

    @api.route("/appends")
    def appends(req: Request, res: Res) -> None:
        res.headers.add("Vary", "Accept-Encoding")
        res.json({})

    client = TestClient(api)
    for origin in (APP, "https://evil.net", None):
        headers = {"Origin": origin} if origin else {}
        for path in ("/sets", "/read-before-cors"):
            assert varies(client.get(path, headers=headers)) == ["Accept-Language", "Origin"]
        assert varies(client.get("/appends", headers=headers)) == ["Origin", "Accept-Encoding"]
    allowed = client.get("/read-before-cors", headers={"Origin": APP})
    assert allowed.headers["Access-Control-Allow-Origin"] == APP
    assert allowed.headers["X-Outer"] == "1"


def test_head_and_not_modified_answers_keep_the_cors_headers() -> None:
    api, _ = make(APP)
    client = TestClient(api)
    head = client.head("/items", headers={"Origin": APP})
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Access-Control-Allow-Origin"] == APP
    etag = client.get("/items").headers["ETag"]
    cached = client.get("/items", headers={"Origin": APP, "If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.headers["Access-Control-Allow-Origin"] == APP
    assert varies(cached) == ["Origin"]


def test_match_limits_cors_to_some_paths() -> None:
    api = Api()
    api.middleware(cors(origins=[APP]), match="/api/:path*")

    @api.route("/api/items")
    def api_items(req: Request, res: Res) -> list[int]:
        return [1]

    @api.route("/page")
    def page(req: Request, res: Res) -> str:
        return "html"

    client = TestClient(api)
    inside = client.get("/api/items", headers={"Origin": APP})
    assert inside.headers["Access-Control-Allow-Origin"] == APP
    assert varies(inside) == ["Origin"]
    outside = client.get("/page", headers={"Origin": APP})
    assert cors_headers(outside) == {}
    assert "Vary" not in outside.headers
    unknown_inside = client.options("/api/nothing", headers={"Origin": APP, **PREFLIGHT})
    assert unknown_inside.status_code == 204
    assert unknown_inside.headers["Access-Control-Allow-Origin"] == APP
    missing_inside = client.get("/api/nothing", headers={"Origin": APP})
    assert_problem(missing_inside, 404)
    assert missing_inside.headers["Access-Control-Allow-Origin"] == APP
    outside_preflight = client.options("/page", headers={"Origin": APP, **PREFLIGHT})
    assert outside_preflight.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert cors_headers(outside_preflight) == {}


def test_cors_wraps_async_handlers() -> None:
    api = Api()
    api.middleware(cors(origins=[APP]))

    @api.route("/slow")
    async def slow(req: Request, res: Res) -> dict[str, bool]:
        return {"async": True}

    @api.route("/slow-error")
    async def slow_error(req: Request, res: Res) -> None:
        raise HTTPError(409, "conflict")

    try:
        client = TestClient(api)
        ok = client.get("/slow", headers={"Origin": APP})
        assert ok.json == {"async": True}
        assert ok.headers["Access-Control-Allow-Origin"] == APP
        conflict = client.get("/slow-error", headers={"Origin": APP})
        assert_problem(conflict, 409)
        assert conflict.headers["Access-Control-Allow-Origin"] == APP
    finally:
        api.close()


def test_each_request_gets_its_own_echoed_origin() -> None:
    api, _ = make("https://*.example.com")
    client = TestClient(api)
    seen = [
        client.get("/items", headers={"Origin": f"https://{name}.example.com"}).headers[
            "Access-Control-Allow-Origin"
        ]
        for name in ("a", "b", "a")
    ]
    assert seen == ["https://a.example.com", "https://b.example.com", "https://a.example.com"]

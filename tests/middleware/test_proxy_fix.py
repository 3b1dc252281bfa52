"""``proxy_fix()``: forwarded headers count only from configured proxies; spoofing fails."""

from __future__ import annotations

import http.client
import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import create_environ, run_wsgi_app

from microapi import Api, Request, Res
from microapi.middleware import proxy_fix, rate_limit, request_id, security_headers
from microapi.middleware.addresses import normalise_address
from microapi.middleware.proxy_fix import _apply_unquoted
from microapi.testing import TestClient, TestResponse
from tests.helpers import assert_problem, serving

# NOTE: the module, for monkeypatching: microapi.middleware.proxy_fix as
# an attribute (and so "import ... as") is the function of that name.
proxy_fix_module = importlib.import_module("microapi.middleware.proxy_fix")

HSTS = "Strict-Transport-Security"
SPOOFED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Port": "8443",
    "X-Forwarded-Prefix": "/evil",
}


class PeerClient(TestClient):
    """A test client whose requests come from 127.0.0.1, as a proxy's would."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        kwargs.setdefault("environ_base", {"REMOTE_ADDR": "127.0.0.1"})
        return super().open(*args, **kwargs)


def seen(req: Request) -> dict[str, Any]:
    return {
        "remote_addr": req.remote_addr,
        "scheme": req.scheme,
        "secure": req.is_secure,
        "host": req.host,
        "url": req.url,
        "root_path": req.root_path,
        "server": list(req.server) if req.server else None,
    }


def forwarded_api(*middleware: Any, **options: Any) -> Api:
    api = Api(secret_key="test-key", **options)
    for func in middleware:
        api.middleware(func)

    @api.route("/where")
    def where(req: Request, res: Res) -> None:
        req.session["visited"] = True
        res.cookie("pref", "1")
        res.json(seen(req))

    @api.route("/todos", name="todos")
    def todos(req: Request, res: Res) -> None:
        res.json({"url_for": req.url_for("todos")})

    return api


def cookie_flags(response: Any) -> dict[str, bool]:
    cookies = response.headers.getlist("Set-Cookie")
    return {cookie.split("=", 1)[0]: "; Secure" in cookie for cookie in cookies}


def gunicorn_api(with_proxy_fix: bool) -> Api:
    """The app the real servers serve in the tests below."""
    middleware = [proxy_fix()] if with_proxy_fix else []
    return forwarded_api(*middleware, security_headers())


# -- without proxy_fix -------------------------------------------------------------


def test_without_proxy_fix_forwarded_headers_change_nothing() -> None:
    client = PeerClient(forwarded_api(security_headers()))
    plain = client.get("/where").json
    response = client.get("/where", headers=SPOOFED)
    assert response.json == plain
    assert response.json["remote_addr"] == "127.0.0.1"
    assert response.json["scheme"] == "http"
    assert response.json["host"] == "localhost"
    assert HSTS not in response.headers
    assert cookie_flags(response) == {"pref": False, "session": False}
    assert client.get("/todos", headers=SPOOFED).json == {"url_for": "/todos"}


# -- with proxy_fix ------------------------------------------------------------------


def test_forwarded_for_and_proto_are_applied() -> None:
    client = PeerClient(forwarded_api(proxy_fix(), security_headers()))
    response = client.get(
        "/where", headers={"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
    )
    assert response.json["remote_addr"] == "198.51.100.7"
    assert response.json["scheme"] == "https"
    assert response.json["secure"] is True
    assert response.json["url"] == "https://localhost/where"
    assert response.headers[HSTS] == "max-age=31536000; includeSubDomains"
    assert cookie_flags(response) == {"pref": True, "session": True}


def test_default_proxy_fix_ignores_host_port_and_prefix() -> None:
    client = PeerClient(forwarded_api(proxy_fix()))
    response = client.get("/where", headers=SPOOFED)
    assert response.json["remote_addr"] == "203.0.113.9"
    assert response.json["host"] == "localhost"
    assert response.json["root_path"] == ""
    assert client.get("/todos", headers=SPOOFED).json == {"url_for": "/todos"}


@pytest.mark.parametrize(
    ("x_for", "header", "expected"),
    [
        (1, "evil, 198.51.100.7", "198.51.100.7"),
        (1, "10.0.0.1,10.0.0.2,198.51.100.7", "198.51.100.7"),
        (1, " 198.51.100.7 ", "198.51.100.7"),
        (1, "evil,, ,198.51.100.7, ", "198.51.100.7"),
        (2, "evil, 198.51.100.7, 10.0.0.2", "198.51.100.7"),
        (2, "198.51.100.7", "127.0.0.1"),  # fewer values than proxies: untouched
        (1, "", "127.0.0.1"),
        (1, " , ", "127.0.0.1"),
        (1, '"quoted, with comma", 198.51.100.7', "198.51.100.7"),
        (2, '"quoted, with comma", 198.51.100.7', "127.0.0.1"),  # no address: the peer's
        (0, "198.51.100.7", "127.0.0.1"),
    ],
)
def test_only_the_configured_number_of_hops_counts(x_for: int, header: str, expected: str) -> None:
    client = PeerClient(forwarded_api(proxy_fix(x_for=x_for)))
    response = client.get("/where", headers={"X-Forwarded-For": header})
    assert response.json["remote_addr"] == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1.2.3.4:5678", "1.2.3.4"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("[::ffff:1.2.3.4]:80", "1.2.3.4"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::1", "::1"),
        ("not-an-ip", "127.0.0.1"),
        ("unknown", "127.0.0.1"),
        ("_hidden", "127.0.0.1"),
        ("example.com", "127.0.0.1"),
        ("1.2.3.4:abc", "127.0.0.1"),
        ("1.2.3.4:123456", "127.0.0.1"),
        ("01.2.3.4", "127.0.0.1"),
        ("1.2.3.4.5", "127.0.0.1"),
        ("[2001:db8::1", "127.0.0.1"),
        ("[2001:db8::1]x", "127.0.0.1"),
        ("[1.2.3.4]:80x", "127.0.0.1"),
        ("2001:db8::1:80", "2001:db8::1:80"),  # a valid IPv6 address, not a port
    ],
)
def test_forwarded_for_takes_only_an_ip_address_normalised(header: str, expected: str) -> None:
    client = PeerClient(forwarded_api(proxy_fix()))
    response = client.get("/where", headers={"X-Forwarded-For": header})
    assert response.json["remote_addr"] == expected


def test_spellings_of_one_forwarded_address_share_a_rate_limit() -> None:
    api = Api()
    api.middleware(proxy_fix())
    api.middleware(rate_limit("2/minute"))

    @api.route("/")
    def index(req: Request, res: Res) -> dict[str, Any]:
        return {}

    client = PeerClient(api)
    spellings = ["1.2.3.4", "1.2.3.4:5678", "::ffff:1.2.3.4", "[2001:db8::1]", "2001:db8::2"]
    statuses = [client.get("/", headers={"X-Forwarded-For": ip}).status_code for ip in spellings]
    assert statuses == [200, 200, 429, 200, 200]  # IPv4 thrice; then one /64 twice
    assert client.get("/", headers={"X-Forwarded-For": "2001:db8::3"}).status_code == 429
    # Garbage is the proxy's own address, not a fresh counter each time.
    garbage = [client.get("/", headers={"X-Forwarded-For": f"x{n}"}).status_code for n in range(3)]
    assert garbage == [200, 200, 429]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("https", "https"),
        ("HTTPS", "https"),
        ("https, http", "http"),  # the client's "https" is not the proxy's
        ("http, https", "https"),
        ("javascript", "http"),
        ("https\u00a0", "http"),
        ("ftp", "http"),
        ("", "http"),
    ],
)
def test_forwarded_proto_takes_the_last_hop_and_only_http_or_https(
    header: str, expected: str
) -> None:
    client = PeerClient(forwarded_api(proxy_fix(), security_headers()))
    response = client.get("/where", headers={"X-Forwarded-Proto": header})
    assert response.json["scheme"] == expected
    assert (HSTS in response.headers) == (expected == "https")
    assert cookie_flags(response)["session"] == (expected == "https")


def test_forwarded_proto_http_downgrades_an_https_hop() -> None:
    client = PeerClient(forwarded_api(proxy_fix(), security_headers()))
    response = client.get(
        "/where", base_url="https://localhost", headers={"X-Forwarded-Proto": "http"}
    )
    assert response.json["scheme"] == "http"
    assert HSTS not in response.headers


def test_forwarded_host_port_and_prefix_when_configured() -> None:
    client = PeerClient(forwarded_api(proxy_fix(x_host=1, x_port=1, x_prefix=1)))
    response = client.get(
        "/where",
        headers={
            "X-Forwarded-Host": "evil.example, api.example.com",
            "X-Forwarded-Port": "8443",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Prefix": "/v1/",
        },
    )
    assert response.json["host"] == "api.example.com:8443"
    assert response.json["server"] == ["api.example.com", 8443]
    assert response.json["url"] == "https://api.example.com:8443/v1/where"
    assert response.json["root_path"] == "/v1"
    todos = client.get("/todos", headers={"X-Forwarded-Prefix": "/v1"})
    assert todos.json == {"url_for": "/v1/todos"}


@pytest.mark.parametrize(
    ("prefix", "root_path"),
    [("//evil.example", "/evil.example"), ("///x//", "/x"), ("/", ""), ("api", "/api")],
)
def test_a_forwarded_prefix_cannot_make_redirects_leave_the_host(
    prefix: str, root_path: str
) -> None:
    client = PeerClient(forwarded_api(proxy_fix(x_prefix=1)))
    assert client.get("/where", headers={"X-Forwarded-Prefix": prefix}).json["root_path"] == (
        root_path
    )
    redirect = client.get("/todos/", headers={"X-Forwarded-Prefix": prefix})
    assert redirect.status_code == 308
    assert redirect.headers["Location"] == f"{root_path}/todos"
    assert not redirect.headers["Location"].startswith("//")


def test_a_forwarded_host_is_checked_against_trusted_hosts() -> None:
    api = forwarded_api(
        proxy_fix(x_host=1), request_id(), trusted_hosts=["api.example.com", ".example.org"]
    )
    client = PeerClient(api)
    trusted = {"Host": "api.example.com"}
    ok = client.get("/where", headers={**trusted, "X-Forwarded-Host": "www.example.org"})
    assert ok.json["host"] == "www.example.org"
    for forwarded in ["evil.example", "api.example.com.evil.example", "api.example.com@evil", ""]:
        refused = client.get("/where", headers={**trusted, "X-Forwarded-Host": forwarded})
        if forwarded == "":
            assert refused.json["host"] == "api.example.com"  # no value: not applied
            continue
        problem = assert_problem(refused, 400)
        assert problem["detail"] == "the forwarded host is not trusted"  # not repeated
        # proxy_fix ran first: no middleware had set a header yet.
        assert "X-Request-ID" not in refused.headers
    # The Host the server saw must still be trusted before any middleware.
    refused = client.get(
        "/where", headers={"Host": "evil.example", "X-Forwarded-Host": "api.example.com"}
    )
    assert_problem(refused, 400)


def test_a_forwarded_port_is_checked_against_trusted_hosts() -> None:
    client = PeerClient(forwarded_api(proxy_fix(x_port=1), trusted_hosts=["api.example.com"]))
    headers = {"Host": "api.example.com"}
    assert client.get("/where", headers={**headers, "X-Forwarded-Port": "8080"}).json["host"] == (
        "api.example.com:8080"
    )
    for port in ["0", "99999", "abc", "80@evil"]:
        assert_problem(client.get("/where", headers={**headers, "X-Forwarded-Port": port}), 400)


def test_a_garbage_forwarded_host_without_trusted_hosts_is_no_host() -> None:
    client = PeerClient(forwarded_api(proxy_fix(x_host=1)))
    response = client.get("/where", headers={"X-Forwarded-Host": "evil.example/path?x"})
    assert response.status_code == 200
    assert response.json["host"] == ""


def test_values_read_before_proxy_fix_are_recomputed() -> None:
    api = Api(trusted_hosts=["localhost", "api.example.com"])
    names = [
        "remote_addr",
        "scheme",
        "server",
        "root_path",
        "host",
        "url",
        "base_url",
        "root_url",
        "host_url",
        "url_root",
        "access_route",
    ]

    def reads_early(req: Request, res: Res, next: Any) -> None:
        req.state.early = {name: getattr(req, name) for name in names}
        next()

    api.middleware(reads_early)
    api.middleware(proxy_fix(x_for=1, x_proto=1, x_host=1, x_prefix=1))

    @api.route("/where")
    def where(req: Request, res: Res) -> None:
        res.json({"early": req.state.early, "late": {name: getattr(req, name) for name in names}})

    response = PeerClient(api).get(
        "/where",
        headers={
            "X-Forwarded-For": "198.51.100.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "api.example.com",
            "X-Forwarded-Prefix": "/v1",
        },
    )
    early, late = response.json["early"], response.json["late"]
    assert early["remote_addr"] == "127.0.0.1"
    assert early["url"] == "http://localhost/where"
    assert late == {
        "remote_addr": "198.51.100.7",
        "scheme": "https",
        "server": ["api.example.com", 80],
        "root_path": "/v1",
        "host": "api.example.com",
        "url": "https://api.example.com/v1/where",
        "base_url": "https://api.example.com/v1/where",
        "root_url": "https://api.example.com/v1/",
        "host_url": "https://api.example.com/",
        "url_root": "https://api.example.com/v1/",
        "access_route": ["198.51.100.7"],
    }


@pytest.mark.parametrize(
    "options",
    [{"x_for": -1}, {"x_proto": True}, {"x_host": "1"}, {"x_port": 1.0}, {"x_prefix": None}],
)
def test_bad_counts_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="number of proxies"):
        proxy_fix(**options)


def test_crlf_and_huge_forwarded_values_are_no_500() -> None:
    api = forwarded_api(proxy_fix(x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1))
    for value in ["a\r\nb", "\x00", "x" * 100_000, ",".join(["1.2.3.4"] * 10_000), '"unclosed']:
        environ = create_environ("/where")
        for key in ("FOR", "PROTO", "HOST", "PORT", "PREFIX"):
            environ[f"HTTP_X_FORWARDED_{key}"] = value
        app_iter, status, _ = run_wsgi_app(api, environ, buffered=True)
        b"".join(app_iter)
        assert int(status[:3]) < 500, (value[:20], status)


# -- the same answers as werkzeug's ProxyFix ------------------------------------------

_header_text = st.text(alphabet=' \t,"\\abc.1:', max_size=24)


@settings(max_examples=300, deadline=None)
@given(
    x_for=st.integers(min_value=0, max_value=3),
    x_proto=st.integers(min_value=0, max_value=3),
    forwarded_for=_header_text,
    forwarded_proto=st.sampled_from(["https", "http", "https, http", "http,https", " , https"]),
)
def test_the_client_address_is_werkzeugs(
    x_for: int, x_proto: int, forwarded_for: str, forwarded_proto: str
) -> None:
    def werkzeug_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [json.dumps([environ["REMOTE_ADDR"], environ["wsgi.url_scheme"]]).encode()]

    api = Api()
    api.middleware(proxy_fix(x_for=x_for, x_proto=x_proto))

    @api.route("/")
    def index(req: Request, res: Res) -> None:
        res.json([req.remote_addr, req.scheme])

    headers = {"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": forwarded_proto}
    expected = PeerClient(ProxyFix(werkzeug_app, x_for=x_for, x_proto=x_proto)).get(
        "/", headers=headers
    )
    address, scheme = json.loads(expected.data)
    # The same entry as werkzeug's, taken only if it is an address.
    address = normalise_address(address) or "127.0.0.1"
    assert PeerClient(api).get("/", headers=headers).json == [address, scheme]


# The environ keys ProxyFix reads or writes.
_TOUCHED = (
    "werkzeug.proxy_fix.orig",
    "REMOTE_ADDR",
    "wsgi.url_scheme",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "SCRIPT_NAME",
)
_OPTIONS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")
_HEADERS = {
    "x_for": "HTTP_X_FORWARDED_FOR",
    "x_proto": "HTTP_X_FORWARDED_PROTO",
    "x_host": "HTTP_X_FORWARDED_HOST",
    "x_port": "HTTP_X_FORWARDED_PORT",
    "x_prefix": "HTTP_X_FORWARDED_PREFIX",
}

# List items as proxies and clients write them, and garbage (with
# whitespace that is not a space or tab: not stripped); never a '"'.
_addresses = st.sampled_from(
    [
        "203.0.113.7",
        "1.2.3.4:5678",
        "::1",
        "2001:db8::1",
        "[2001:db8::1]",
        "[2001:db8::1]:443",
        "[::ffff:1.2.3.4]:80",
        "fe80::1%eth0",
        "unknown",
        "_hidden",
    ]
)
_hosts = st.sampled_from(
    [
        "api.example.com",
        "api.example.com:8443",
        "localhost:",
        ":80",
        "[::1]",
        "[::1]:8080",
        "::1",
        "2001:db8::1:80",
        "evil.example/path?x",
        "a@b:c:d",
    ]
)
_words = st.sampled_from(["https", "http", "HTTPS", "ftp", "443", "8080", "0", "/v1", "//x", "/"])
_garbage = st.text(alphabet=" \t\\abc.1:[]/@%\u00a0\x0b", max_size=12)
_item = st.one_of(_addresses, _hosts, _words, _garbage)
_separator = st.sampled_from([",", ", ", " ,", ",\t", " , ", ",,", ", ,", "\t,\t"])


@st.composite
def _unquoted_headers(draw: st.DrawFn) -> str:
    """An unquoted list header: items joined by commas, spaces and tabs, empty items."""
    items = draw(st.lists(_item, max_size=4))
    value = draw(st.sampled_from(["", " ", "\t", ","]))
    for index, item in enumerate(items):
        if index:
            value += draw(_separator)
        value += item
    return value + draw(st.sampled_from(["", " ", "\t", ",", ", "]))


_header_values = st.one_of(
    st.none(), _unquoted_headers(), st.text(alphabet=" \t,\\abc.1:[]\u00a0", max_size=16)
)


def _inner_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    return []


def _no_start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
) -> Callable[[bytes], object]:  # pragma: no cover - never called
    raise AssertionError("the inner app does not respond")


@settings(max_examples=1000, deadline=None)
@given(
    counts=st.fixed_dictionaries({option: st.integers(0, 3) for option in _OPTIONS}),
    headers=st.fixed_dictionaries(dict.fromkeys(_OPTIONS, _header_values)),
    base_url=st.sampled_from(
        ["http://localhost/", "https://api.example.com:8443/app/", "http://[::1]:8000/"]
    ),
    host=st.sampled_from([None, "", "example.org", "example.org:81", "[::1]", "[::1]:81"]),
)
def test_the_fast_path_leaves_werkzeugs_environ(
    counts: dict[str, int],
    headers: dict[str, str | None],
    base_url: str,
    host: str | None,
) -> None:
    environ = create_environ("/where", base_url, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    if host is None:
        del environ["HTTP_HOST"]
    else:
        environ["HTTP_HOST"] = host
    for option, value in headers.items():
        assert value is None or '"' not in value
        if value is not None:
            environ[_HEADERS[option]] = value
    fast, stock = dict(environ), dict(environ)

    _apply_unquoted(fast, **counts)
    ProxyFix(_inner_app, **counts)(stock, _no_start_response)
    assert {key: fast.get(key) for key in _TOUCHED} == {key: stock.get(key) for key in _TOUCHED}
    assert fast == stock  # and nothing else changed


@pytest.mark.parametrize(
    ("headers", "fast"),
    [
        ({"X-Forwarded-For": "10.0.0.1, 198.51.100.7", "X-Forwarded-Proto": "https"}, True),
        ({"X-Forwarded-For": '"198.51.100.7"', "X-Forwarded-Proto": "https"}, False),
        ({"X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": '"https"'}, False),
        # A quote in a header no proxy is configured for changes nothing.
        (
            {
                "X-Forwarded-For": "198.51.100.7",
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": '"x"',
            },
            True,
        ),
    ],
)
def test_only_quoted_headers_go_to_werkzeugs_proxy_fix(
    headers: dict[str, str], fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def spy(environ: dict[str, Any], *counts: int) -> None:
        calls.append("fast")
        _apply_unquoted(environ, *counts)

    monkeypatch.setattr(proxy_fix_module, "_apply_unquoted", spy)
    body = PeerClient(forwarded_api(proxy_fix())).get("/where", headers=headers).json
    assert calls == (["fast"] if fast else [])
    assert body is not None
    assert (body["remote_addr"], body["scheme"]) == ("198.51.100.7", "https")


# -- behind real servers -----------------------------------------------------------


def ask(address: tuple[str, int], headers: dict[str, str]) -> tuple[dict[str, Any], Any]:
    connection = http.client.HTTPConnection(*address, timeout=10)
    try:
        connection.request("GET", "/where", headers=headers)
        response = connection.getresponse()
        return json.loads(response.read()), response.headers
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("server", "with_proxy_fix", "server_options", "client", "scheme"),
    [
        ("gunicorn", False, ("--forwarded-allow-ips", "192.0.2.1"), "127.0.0.1", "http"),
        ("gunicorn", True, ("--forwarded-allow-ips", "192.0.2.1"), "198.51.100.7", "https"),
        # NOTE: gunicorn itself applies X-Forwarded-Proto from the peers in
        # --forwarded-allow-ips (127.0.0.1 by default), proxy_fix or not.
        ("gunicorn", False, ("--forwarded-allow-ips", "127.0.0.1"), "127.0.0.1", "https"),
        # granian never reads X-Forwarded-*: only proxy_fix does.
        ("granian", False, (), "127.0.0.1", "http"),
        ("granian", True, (), "198.51.100.7", "https"),
    ],
)
def test_behind_real_servers(
    server: str,
    with_proxy_fix: bool,
    server_options: tuple[str, ...],
    client: str,
    scheme: str,
    tmp_path: Path,
) -> None:
    app = f"tests.middleware.test_proxy_fix:gunicorn_api({with_proxy_fix})"
    with serving(app, tmp_path, server, *server_options) as address:
        body, headers = ask(
            address,
            {"X-Forwarded-For": "evil, 198.51.100.7", "X-Forwarded-Proto": "https"},
        )
    assert body["remote_addr"] == client
    assert body["scheme"] == scheme
    secure = scheme == "https"
    assert (headers.get(HSTS) == "max-age=31536000; includeSubDomains") is secure
    cookies = headers.get_all("Set-Cookie")
    assert len(cookies) == 2
    assert all(("; Secure" in cookie) is secure for cookie in cookies)
    assert headers["X-Content-Type-Options"] == "nosniff"


# -- with rate_limit's client_ip --------------------------------------------------


@pytest.mark.parametrize("with_proxy_fix", [False, True])
def test_spoofed_forwarded_for_does_not_escape_the_rate_limit(with_proxy_fix: bool) -> None:
    from microapi.middleware import MemoryStore, rate_limit

    middleware = [proxy_fix()] if with_proxy_fix else []
    client = PeerClient(forwarded_api(*middleware, rate_limit("2/minute", store=MemoryStore())))
    statuses = [
        client.get("/where", headers={"X-Forwarded-For": f"10.0.0.{n}, 198.51.100.7"}).status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 429, 429]
    # Another client, as the proxy reports it, has its own budget only with proxy_fix.
    other = client.get("/where", headers={"X-Forwarded-For": "198.51.100.8"})
    assert other.status_code == (200 if with_proxy_fix else 429)

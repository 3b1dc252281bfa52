"""``req``: werkzeug's Request, lazier, plus params/query/state/route/user/id."""

from __future__ import annotations

import io
import json
import logging
import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wrappers import Response as WerkzeugResponse

from microapi import Api, Request, Res
from microapi.bodies import parse_query
from microapi.testing import TestClient
from tests.helpers import Unreadable, assert_problem

# -- params ---------------------------------------------------------------------------


def test_params_are_converted(api: Api, client: TestClient) -> None:
    @api.route("/todos/<int:id>/tags/[tag]")
    def todo(req: Request, res: Res) -> dict[str, Any]:
        return {"params": req.params, "type": type(req.params["id"]).__name__}

    response = client.get("/todos/42/tags/caf%C3%A9")
    assert response.json == {"params": {"id": 42, "tag": "café"}, "type": "int"}


def test_params_of_catch_alls_are_lists(api: Api, client: TestClient) -> None:
    @api.route("/docs/[...slug]")
    def docs(req: Request, res: Res) -> dict[str, Any]:
        return req.params

    @api.route("/opt/[[...slug]]")
    def opt(req: Request, res: Res) -> dict[str, Any]:
        return req.params

    assert client.get("/docs/a/b/c").json == {"slug": ["a", "b", "c"]}
    assert client.get("/opt").json == {"slug": []}
    assert client.get("/opt/x").json == {"slug": ["x"]}


def test_params_of_a_static_route_are_empty(api: Api, client: TestClient) -> None:
    @api.route("/static")
    def static(req: Request, res: Res) -> dict[str, Any]:
        return {"params": req.params}

    assert client.get("/static").json == {"params": {}}


# -- query ----------------------------------------------------------------------------


def test_query_is_a_multidict(api: Api, client: TestClient) -> None:
    @api.route("/search")
    def search(req: Request, res: Res) -> dict[str, Any]:
        query = req.query
        assert isinstance(query, MultiDict)
        assert query is req.args
        with pytest.raises(TypeError):
            query["x"] = "mutated"  # type: ignore[index]
        return {
            "tags": query.getlist("tag"),
            "missing": query.getlist("missing"),
            "q": query.get("q"),
            "n": query.get("n", type=int),
            "blank": query["blank"],
            "items": [list(item) for item in query.items(multi=True)],
        }

    response = client.get("/search?tag=a&q=hello+w%C3%B6rld&tag=b&n=7&blank=&tag=&x=%2B%26")
    assert response.json == {
        "tags": ["a", "b", ""],
        "missing": [],
        "q": "hello wörld",
        "n": 7,
        "blank": "",
        "items": [  # grouped by key, in first-seen order
            ["tag", "a"],
            ["tag", "b"],
            ["tag", ""],
            ["q", "hello wörld"],
            ["n", "7"],
            ["blank", ""],
            ["x", "+&"],
        ],
    }


def test_query_keeps_invalid_escapes_literally(api: Api, client: TestClient) -> None:
    @api.route("/q")
    def q(req: Request, res: Res) -> dict[str, Any]:
        return {"items": [list(item) for item in req.query.items(multi=True)]}

    response = client.get("/q?a=%FF&b=%zz&c=%&d=%C3&e=a;b")
    assert response.json == {
        "items": [["a", "%FF"], ["b", "%zz"], ["c", "%"], ["d", "%C3"], ["e", "a;b"]]
    }


@pytest.mark.parametrize("attribute", ["query", "args", "values", "full_path"])
@pytest.mark.parametrize("raw", ["a=\xff", "a=1&b=caf\xe9", "\xc3", "x=\xed\xa0\x80"])
def test_non_utf8_query_string_is_400(
    api: Api, client: TestClient, attribute: str, raw: str
) -> None:
    @api.route("/q")
    def q(req: Request, res: Res) -> dict[str, Any]:
        return {"value": str(getattr(req, attribute))}

    problem = assert_problem(client.get("/q", environ_overrides={"QUERY_STRING": raw}), 400)
    assert "UTF-8" in problem["detail"]


def test_non_utf8_query_string_is_fine_when_nobody_reads_it(api: Api, client: TestClient) -> None:
    @api.route("/q")
    def q(req: Request, res: Res) -> dict[str, Any]:
        return {"path": req.path}

    response = client.get("/q", environ_overrides={"QUERY_STRING": "a=\xff"})
    assert response.json == {"path": "/q"}


def test_utf8_query_string_passes_through_wsgi_latin1(api: Api, client: TestClient) -> None:
    @api.route("/q")
    def q(req: Request, res: Res) -> dict[str, Any]:
        return {"items": [list(item) for item in req.query.items(multi=True)]}

    raw = "name=café&☃=日本".encode().decode("latin-1")
    response = client.get("/q", environ_overrides={"QUERY_STRING": raw})
    assert response.json == {"items": [["name", "café"], ["☃", "日本"]]}


# -- state, route, user, id -------------------------------------------------------------


def test_state_carries_values_from_middleware_and_is_per_request(
    api: Api, client: TestClient
) -> None:
    @api.middleware
    def tag(req: Request, res: Res, next: Any) -> None:
        assert vars(req.state) == {}
        req.state.tenant = req.headers.get("X-Tenant")
        next()

    @api.route("/whoami")
    def whoami(req: Request, res: Res) -> dict[str, Any]:
        return vars(req.state)

    assert client.get("/whoami", headers={"X-Tenant": "acme"}).json == {"tenant": "acme"}
    assert client.get("/whoami").json == {"tenant": None}


def test_route_is_the_matched_route(api: Api, client: TestClient) -> None:
    @api.route("/todos/[id]", name="todo")
    def todo(req: Request, res: Res) -> dict[str, Any]:
        route = req.route
        assert route is not None
        return {
            "name": route.name,
            "endpoint": route.endpoint,
            "path": route.path,
            "rule": route.rule,
            "handler": route.handler is todo,
        }

    assert client.get("/todos/3").json == {
        "name": "todo",
        "endpoint": "todo",
        "path": "/todos/[id]",
        "rule": "/todos/<id>",
        "handler": True,
    }


@pytest.mark.parametrize(("method", "status"), [("GET", 404), ("DELETE", 405)])
def test_route_is_none_when_nothing_matched(
    api: Api, client: TestClient, method: str, status: int
) -> None:
    seen: list[Any] = []

    @api.middleware
    def spy(req: Request, res: Res, next: Any) -> None:
        seen.append((req.route, req.params, req.user))
        next()

    @api.route("/exists")
    def exists(req: Request, res: Res) -> str:
        return "ok"

    path = "/missing" if status == 404 else "/exists"
    assert_problem(client.open(path, method=method), status)
    assert seen == [(None, {}, None)]


def test_user_is_none_unless_middleware_sets_it(api: Api, client: TestClient) -> None:
    @api.middleware
    def auth(req: Request, res: Res, next: Any) -> None:
        if req.headers.get("Authorization") == "Bearer good":
            req.user = {"id": 1}
        next()

    @api.route("/me")
    def me(req: Request, res: Res) -> dict[str, Any]:
        return {"user": req.user}

    assert client.get("/me").json == {"user": None}
    assert client.get("/me", headers={"Authorization": "Bearer good"}).json == {"user": {"id": 1}}
    assert client.get("/me").json == {"user": None}


def test_id_is_32_hex_digits_stable_within_a_request(api: Api, client: TestClient) -> None:
    ids: list[str] = []

    @api.middleware
    def outer(req: Request, res: Res, next: Any) -> None:
        ids.append(req.id)
        next()
        ids.append(req.id)

    @api.route("/id")
    def handler(req: Request, res: Res) -> dict[str, str]:
        ids.append(req.id)
        return {"id": req.id}

    first = client.get("/id").json["id"]
    second = client.get("/id").json["id"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert ids == [first] * 3 + [second] * 3
    assert first != second


def test_id_exists_on_404(api: Api, client: TestClient) -> None:
    ids: list[str] = []

    @api.middleware
    def spy(req: Request, res: Res, next: Any) -> None:
        ids.append(req.id)
        next()

    assert_problem(client.get("/nope"), 404)
    assert len(ids) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", ids[0])


# -- url_for ----------------------------------------------------------------------------


def _url_api() -> Api:
    api = Api()

    @api.route("/todos/<int:id>", name="todo")
    def todo(req: Request, res: Res) -> dict[str, str]:
        return {
            "req": req.url_for("todo", id=req.params["id"] + 1),
            "req_query": req.url_for("todo", id=1, page=2),
            "api": api.url_for("todo", id=5),
            "docs": req.url_for("docs", slug=["a", "b c"]),
        }

    @api.route("/docs/[...slug]", name="docs")
    def docs(req: Request, res: Res) -> str:
        return "docs"

    return api


def test_url_for_without_a_mount() -> None:
    assert TestClient(_url_api()).get("/todos/1").json == {
        "req": "/todos/2",
        "req_query": "/todos/1?page=2",
        "api": "/todos/5",
        "docs": "/docs/a/b%20c",
    }


@pytest.mark.parametrize("base_url", ["http://localhost/api", "http://localhost/api/"])
def test_req_url_for_includes_script_name(base_url: str) -> None:
    response = TestClient(_url_api()).get("/todos/1", base_url=base_url)
    assert response.json == {
        "req": "/api/todos/2",
        "req_query": "/api/todos/1?page=2",
        "api": "/todos/5",
        "docs": "/api/docs/a/b%20c",
    }


def test_req_url_for_under_dispatcher_middleware() -> None:
    outer = WerkzeugResponse("outer")
    app = DispatcherMiddleware(outer, {"/v1/api": _url_api()})
    response = TestClient(app).get("/v1/api/todos/9")
    assert response.json["req"] == "/v1/api/todos/10"
    assert response.json["api"] == "/todos/5"


@pytest.mark.parametrize("script_name", ["/café", "/a b", "/x%2Fy"])
def test_req_url_for_quotes_the_mount_prefix(script_name: str) -> None:
    # Unlike werkzeug's MapAdapter (which leaves the decoded root path as it
    # is), the result is a valid URL path, fit for a Location header, and the
    # same as the trailing-slash redirect's.
    response = TestClient(_url_api()).get(
        "/todos/1", environ_overrides={"SCRIPT_NAME": wsgi(script_name)}
    )
    assert response.json["req"] == quote(script_name) + "/todos/2"
    assert response.json["req"].isascii()


def test_req_url_for_needs_an_api() -> None:
    with pytest.raises(RuntimeError, match="Api"):
        Request({}).url_for("todo")


# -- laziness --------------------------------------------------------------------------


def test_body_is_not_read_unless_asked(api: Api, client: TestClient) -> None:
    @api.route("/upload", ["POST"])
    def upload(req: Request, res: Res) -> dict[str, Any]:
        return {"method": req.method, "length": req.content_length, "type": req.mimetype}

    response = client.post(
        "/upload",
        content_type="application/json",
        environ_overrides={"wsgi.input": Unreadable(), "CONTENT_LENGTH": str(10**12)},
    )
    assert response.json == {"method": "POST", "length": 10**12, "type": "application/json"}


def test_body_is_not_read_for_404_or_405(api: Api, client: TestClient) -> None:
    @api.route("/only-get")
    def only_get(req: Request, res: Res) -> str:
        return "ok"

    overrides = {"wsgi.input": Unreadable(), "CONTENT_LENGTH": "100"}
    assert_problem(client.post("/missing", environ_overrides=overrides), 404)
    assert_problem(client.post("/only-get", environ_overrides=overrides), 405)


def test_nothing_is_computed_at_construction() -> None:
    # Nonsense that werkzeug's eager __init__ would trip on (a port that is
    # not a number is fine for it; an environ value that is not latin-1 is not).
    environ = {"PATH_INFO": "/\u20ac", "SCRIPT_NAME": "/\u20ac", "REQUEST_METHOD": "GET"}
    with pytest.raises(UnicodeEncodeError):
        WerkzeugRequest(environ)
    req = Request(environ)
    assert req.method == "GET"
    with pytest.raises(UnicodeEncodeError):
        _ = req.path


def test_lazy_attributes_can_be_assigned() -> None:
    req = Request({"PATH_INFO": "/a", "REQUEST_METHOD": "post"})
    assert (req.path, req.method) == ("/a", "POST")
    req.path = "/b"
    req.method = "PUT"
    req.state.x = 1
    assert (req.path, req.method, req.state.x) == ("/b", "PUT", 1)
    assert req.environ["werkzeug.request"] is req


def test_body_parser_false_leaves_the_stream_unread() -> None:
    api = Api()
    reads: list[int] = []

    class Recording(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            reads.append(len(data))
            return data

        def readinto(self, buffer: Any) -> int:
            size = super().readinto(buffer)
            reads.append(size)
            return size

    @api.middleware
    def look(req: Request, res: Res, next: Any) -> None:
        assert req.content_length == 11
        next()

    @api.route("/hook", ["POST"], body_parser=False)
    def hook(req: Request, res: Res) -> dict[str, Any]:
        assert reads == []
        first = req.stream.read(5)
        rest = req.stream.read()
        return {"first": first.decode(), "rest": rest.decode()}

    response = TestClient(api).post(
        "/hook",
        content_type="application/json",
        environ_overrides={"wsgi.input": Recording(b"hello world"), "CONTENT_LENGTH": "11"},
    )
    assert response.json == {"first": "hello", "rest": " world"}


def test_body_parser_false_get_data_is_the_raw_bytes(api: Api, client: TestClient) -> None:
    @api.route("/hook", ["POST"], body_parser=False)
    def hook(req: Request, res: Res) -> bytes:
        return req.get_data()

    raw = b'{"sig": "\xff\x00"'
    response = client.post("/hook", data=raw, content_type="application/json")
    assert response.get_data() == raw


def test_body_parser_false_still_honours_the_limit(api: Api, client: TestClient) -> None:
    @api.route("/hook", ["POST"], body_parser=False, body_limit=4)
    def hook(req: Request, res: Res) -> bytes:
        return req.stream.read()

    assert client.post("/hook", data=b"1234").get_data() == b"1234"
    assert_problem(client.post("/hook", data=b"12345"), 413)


LIMIT_DETAIL = "the request body is larger than the limit of 4 bytes"


@pytest.mark.parametrize("how", ["req.body", "stream", "stream, terminated input"])
def test_the_413_says_the_limit(api: Api, client: TestClient, how: str) -> None:
    @api.route("/body", ["POST"], body_limit=4)
    def body(req: Request, res: Res) -> Any:
        return req.body

    @api.route("/stream", ["POST"], body_parser=False, body_limit=4)
    def stream(req: Request, res: Res) -> bytes:
        return req.stream.read()

    response = client.post(
        "/body" if how == "req.body" else "/stream",
        data=b'"12345"',
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True} if "terminated" in how else {},
    )
    assert assert_problem(response, 413)["detail"] == LIMIT_DETAIL


def test_the_413_of_a_chunked_body_says_the_limit() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input_terminated": True,
        "wsgi.input": io.BytesIO(b"12345"),
    }
    req = Request(environ)
    req.api = Api(body_limit=4)
    with pytest.raises(RequestEntityTooLarge) as caught:
        req.stream.read()
    assert caught.value.description == LIMIT_DETAIL


def test_body_on_a_body_parser_false_route_is_a_clear_error(
    api: Api, client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    @api.route("/webhooks/stripe", ["POST"], body_parser=False)
    def stripe(req: Request, res: Res) -> dict[str, Any]:
        return {"body": req.body}

    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        response = client.post("/webhooks/stripe", data=b"{}", content_type="application/json")
    problem = assert_problem(response, 500)
    assert "body_parser" not in response.get_data(as_text=True)  # no internals leak
    assert problem["title"] == "Internal Server Error"
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.exc_info is not None
    error = record.exc_info[1]
    assert isinstance(error, RuntimeError)
    assert "'/webhooks/stripe'" in str(error)
    assert "body_parser=False" in str(error)
    assert "req.stream" in str(error)


# -- agreement with werkzeug -------------------------------------------------------------


def wsgi(text: str) -> str:
    """A str as a WSGI environ value: its UTF-8 bytes as latin-1."""
    return text.encode().decode("latin-1")


latin1_bytes_as_str = st.binary(max_size=12).map(lambda raw: raw.decode("latin-1"))

path_pieces = st.sampled_from(
    [
        "/", "//", "a", "todos", "42", "é", "日本", "%", "%2F", "%FF", "%zz", "..", ".",
        " ", "+", ";", "~", "?", "#", "\x00", "\t", "@", ":", "[id]",
    ]
)  # fmt: skip
paths = st.one_of(
    st.lists(path_pieces, max_size=6).map(lambda parts: wsgi("".join(parts))),
    latin1_bytes_as_str,
)

query_pieces = st.sampled_from(
    [
        "a", "b", "key", "=", "&", "&&", ";", "+", "%", "%FF", "%zz", "%2", "%20", "%2B",
        "%26", "%3D", "%C3%A9", "%E2%98", "é", "☃", " ", "/", "?", "#", "\x7f", "==",
    ]
)  # fmt: skip
query_strings = st.lists(query_pieces, max_size=12).map("".join)

header_values = st.one_of(
    st.sampled_from(["", " ", "a", "x, y", '"q"', "é".encode().decode("latin-1")]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=12),
)

OPTIONAL_KEYS: dict[str, st.SearchStrategy[Any]] = {
    "REQUEST_METHOD": st.sampled_from(
        ["GET", "get", "Post", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PROPFIND", ""]
    ),
    "SCRIPT_NAME": st.one_of(
        st.sampled_from(["", "/", "/api", "/api/", "/a b", wsgi("/café"), "/%41"]), paths
    ),
    "PATH_INFO": paths,
    "QUERY_STRING": st.one_of(
        query_strings.map(wsgi), latin1_bytes_as_str, st.sampled_from(["a=\xff", "\xc3"])
    ),
    "wsgi.url_scheme": st.sampled_from(["http", "https", "ws", "wss"]),
    "SERVER_NAME": st.sampled_from(
        ["localhost", "example.com", "127.0.0.1", "[::1]", "/run/app.sock", "", wsgi("ü.de")]
    ),
    "SERVER_PORT": st.sampled_from(["80", "443", "8080", "", "abc", "0", "65535"]),
    "HTTP_HOST": st.one_of(
        st.sampled_from(
            [
                "example.com",
                "Example.COM:8443",
                "example.com:80",
                "example.com:443",
                "[::1]:5000",
                "bad host",
                "évil.com",
                "a@b",
                "",
                "localhost:",
            ]
        ),
        header_values,
    ),
    "REMOTE_ADDR": st.sampled_from(["127.0.0.1", "::1", "10.0.0.7", ""]),
    "CONTENT_TYPE": st.one_of(
        st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                'TEXT/Plain; Charset="latin-1"',
                "multipart/form-data; boundary=x",
                "application/x-www-form-urlencoded",
                "garbage;;=",
                "",
            ]
        ),
        header_values,
    ),
    "CONTENT_LENGTH": st.sampled_from(["0", "12", "-1", "abc", " 5", "1e3", "9" * 20, ""]),
    "HTTP_COOKIE": st.one_of(
        st.sampled_from(
            ["a=1; b=2", "a=1; a=2", "=bad; ;x", 'q="quo\\"ted"', "session=; x=%FF", ""]
        ),
        header_values,
    ),
    "HTTP_TRANSFER_ENCODING": st.sampled_from(["chunked", "gzip, chunked", "identity"]),
    "HTTP_X_FORWARDED_FOR": st.sampled_from(["1.2.3.4", "1.2.3.4, 5.6.7.8", ""]),
    "HTTP_X_CUSTOM_HEADER": header_values,
    "HTTP_ACCEPT": header_values,
}


@st.composite
def environs(draw: st.DrawFn) -> dict[str, Any]:
    environ: dict[str, Any] = {"wsgi.input": io.BytesIO(b"")}
    for key, strategy in OPTIONAL_KEYS.items():
        if draw(st.booleans()):
            environ[key] = draw(strategy)
    return environ


ATTRIBUTES = [
    "method",
    "scheme",
    "server",
    "root_path",
    "path",
    "script_root",
    "query_string",
    "remote_addr",
    "url",
    "base_url",
    "host",
    "host_url",
    "root_url",
    "is_secure",
    "mimetype",
    "mimetype_params",
    "content_type",
    "content_length",
    "access_route",
]


def outcome(obj: Any, name: str) -> tuple[str, Any]:
    """What reading *name* gives: a comparable value, or the error type."""
    try:
        value = getattr(obj, name)
    except Exception as exc:
        return ("raises", type(exc))
    if isinstance(value, MultiDict):
        return ("multidict", list(value.items(multi=True)))
    return ("value", value)


@settings(max_examples=200, deadline=None)
@given(environs())
def test_attributes_agree_with_werkzeug(environ: dict[str, Any]) -> None:
    ours = Request(dict(environ))
    theirs = WerkzeugRequest(dict(environ))
    for name in ATTRIBUTES:
        assert outcome(ours, name) == outcome(theirs, name), name
    assert list(ours.headers.items()) == list(theirs.headers.items())
    assert outcome(ours, "cookies") == outcome(theirs, "cookies")
    raw_query = environ.get("QUERY_STRING", "").encode("latin-1")
    for name in ("args", "full_path"):
        try:
            raw_query.decode()
        except UnicodeDecodeError:
            # werkzeug's UnicodeDecodeError would be a 500; ours is a 400.
            assert outcome(theirs, name) == ("raises", UnicodeDecodeError)
            assert outcome(ours, name) == ("raises", BadRequest)
        else:
            assert outcome(ours, name) == outcome(theirs, name)


@settings(max_examples=200, deadline=None)
@given(environs(), st.permutations(ATTRIBUTES))
def test_attributes_do_not_depend_on_reading_order(
    environ: dict[str, Any], order: list[str]
) -> None:
    reference = {name: outcome(Request(dict(environ)), name) for name in ATTRIBUTES}
    req = Request(dict(environ))
    assert {name: outcome(req, name) for name in order} == reference


def werkzeug_args(query_string: str) -> list[tuple[str, str]]:
    environ = {"QUERY_STRING": query_string, "wsgi.input": io.BytesIO(b"")}
    return list(WerkzeugRequest(environ).args.items(multi=True))


@settings(max_examples=200, deadline=None)
@given(st.one_of(query_strings, st.text(max_size=20)))
def test_parse_query_equals_werkzeug_args(query: str) -> None:
    environ_value = wsgi(query)
    parsed = parse_query(environ_value)
    assert isinstance(parsed, ImmutableMultiDict)
    assert list(parsed.items(multi=True)) == werkzeug_args(environ_value)
    assert parsed.to_dict(flat=False) == WerkzeugRequest(
        {"QUERY_STRING": environ_value}
    ).args.to_dict(flat=False)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=20))
def test_parse_query_of_raw_bytes(raw: bytes) -> None:
    environ_value = raw.decode("latin-1")
    try:
        raw.decode()
    except UnicodeDecodeError:
        with pytest.raises(BadRequest, match="UTF-8"):
            parse_query(environ_value)
    else:
        assert list(parse_query(environ_value).items(multi=True)) == werkzeug_args(environ_value)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "&",
        "a",
        "a=",
        "=",
        "=b",
        "a=1&a=2&a=",
        "a=1;b=2",
        "a+b=c+d",
        "a%20b=c%2Bd",
        "%FF=%zz",
        "%=%%",
        "a=%E2%98",
        "a=%C3%A9&%C3%A9=1",
        "&&a=1&&",
        "a==b",
        "key=a&KEY=b",
        "x=\x7f",
    ],
)
def test_parse_query_examples_equal_werkzeug(query: str) -> None:
    assert list(parse_query(query).items(multi=True)) == werkzeug_args(query)


def test_uploaded_files_are_closed_with_the_response(api: Api, client: TestClient) -> None:
    files: list[Any] = []

    @api.route("/upload", methods=["POST"])
    def upload(req: Request, res: Res) -> dict[str, str]:
        files.append(req.files["f"])
        return {"name": req.files["f"].filename or ""}

    response = client.post("/upload", data={"f": (io.BytesIO(b"x"), "a.txt")})
    assert response.json == {"name": "a.txt"}
    assert files[0].stream.closed


# -- the body read without werkzeug's stream stack ------------------------------------


class Trickle(io.RawIOBase):
    """A ``wsgi.input`` that returns at most *step* bytes per read, then may fail."""

    def __init__(self, data: bytes, step: int, fail_after: int | None = None) -> None:
        self._data = data
        self._step = step
        self._fail_after = fail_after
        self._position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._fail_after is not None and self._position >= self._fail_after:
            raise OSError("connection reset")
        chunk = self._data[self._position : self._position + min(len(buffer), self._step)]
        buffer[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)


def body_outcome(read: Any) -> tuple[str, Any]:
    try:
        return ("value", read())
    except Exception as exc:
        return ("raises", type(exc))


@st.composite
def body_requests(draw: st.DrawFn) -> tuple[dict[str, Any], bytes, int | None]:
    body = draw(st.binary(max_size=40))
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST"}
    # The declared length: the body's, one off either way, any, or odd text.
    size = len(body) + draw(st.sampled_from([0, 0, -1, 1]))
    size = draw(st.one_of(st.just(max(size, 0)), st.integers(min_value=0, max_value=60)))
    length = draw(
        st.one_of(
            st.just(str(size)),
            st.just(str(size)),
            st.none(),
            st.sampled_from(["", " 5", "5 ", "-1", "+3", "abc", "1e3", "\u0663", "9" * 20]),
        )
    )
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        environ["HTTP_TRANSFER_ENCODING"] = draw(st.sampled_from(["chunked", "identity"]))
    if draw(st.booleans()):
        environ["wsgi.input_terminated"] = True
    # The limit: none, around the declared length, or any.
    limit = draw(
        st.one_of(
            st.none(),
            st.sampled_from([size - 1, size, size + 1]).map(lambda n: max(n, 0)),
            st.integers(min_value=0, max_value=50),
        )
    )
    kind = draw(st.sampled_from(["bytesio", "trickle", "failing"]))
    step = draw(st.integers(min_value=1, max_value=8))
    fail_after = draw(st.integers(min_value=0, max_value=40))
    return {"environ": environ, "kind": kind, "step": step, "fail_after": fail_after}, body, limit


def body_request(spec: dict[str, Any], body: bytes, limit: int | None) -> Request:
    environ = dict(spec["environ"])
    if spec["kind"] == "bytesio":
        environ["wsgi.input"] = io.BytesIO(body)
    else:
        fail_after = spec["fail_after"] if spec["kind"] == "failing" else None
        environ["wsgi.input"] = Trickle(body, spec["step"], fail_after)
    req = Request(environ)
    req.api = Api(body_limit=limit)  # type: ignore[arg-type]
    return req


@settings(max_examples=300, deadline=None)
@given(body_requests(), st.booleans())
def test_get_data_agrees_with_the_stream(
    case: tuple[dict[str, Any], bytes, int | None], as_text: bool
) -> None:
    # req.get_data() reads a Content-Length body straight from wsgi.input;
    # werkzeug's get_data reads req.stream (LimitedStream, get_input_stream).
    spec, body, limit = case
    ours = body_request(spec, body, limit)
    theirs = body_request(spec, body, limit)
    want = body_outcome(lambda: WerkzeugRequest.get_data(theirs, as_text=as_text))
    assert body_outcome(lambda: ours.get_data(as_text=as_text)) == want
    if want[0] == "value":
        # Cached, and what is left of the stream is nothing, on both sides.
        assert ours.get_data(as_text=as_text) == want[1]
        assert body_outcome(ours.stream.read) == body_outcome(theirs.stream.read)


FORM = b"a=1&b=%C3%A9"
FORM_TYPE = "application/x-www-form-urlencoded"
PARSED_FORM = {"a": ["1"], "b": ["é"]}


def _read(req: Request, what: str) -> Any:
    if what in ("form", "files", "values"):
        return getattr(req, what).to_dict(flat=False)
    if what == "stream":
        return req.stream.read()
    if what == "data":
        return req.data
    return req.get_data(as_text=what == "text")


@pytest.mark.parametrize(
    ("content_type", "body", "reads", "want"),
    [
        # A form parsed first still leaves get_data() the raw bytes...
        (FORM_TYPE, FORM, ["form", "raw", "stream"], [PARSED_FORM, FORM, b""]),
        (FORM_TYPE, FORM, ["raw", "form", "files"], [FORM, PARSED_FORM, {}]),
        (FORM_TYPE, FORM, ["values", "text"], [PARSED_FORM, FORM.decode()]),
        # ...but req.data, werkzeug's "what the form left", is empty for a
        # form, and then so is get_data() (werkzeug's cache, as werkzeug).
        (FORM_TYPE, FORM, ["data", "form", "raw"], [b"", PARSED_FORM, b""]),
        (FORM_TYPE, FORM, ["form", "data"], [PARSED_FORM, FORM]),
        # Not a form: the forms are empty and the body stays readable.
        ("application/json", b'{"a": 1}', ["form", "raw"], [{}, b'{"a": 1}']),
        ("application/json", b'{"a": 1}', ["data", "files"], [b'{"a": 1}', {}]),
        ("text/plain", b"a=1", ["stream", "raw", "form"], [b"a=1", b"", {}]),
    ],
)
def test_forms_and_get_data_in_any_order(
    content_type: str, body: bytes, reads: list[str], want: list[Any]
) -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    req = Request(environ)
    assert [_read(req, what) for what in reads] == want


def test_a_multipart_form_parsed_after_get_data() -> None:
    body = (
        b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        b'--x\r\nContent-Disposition: form-data; name="f"; filename="n.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--x--\r\n"
    )
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": "multipart/form-data; boundary=x",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    req = Request(environ)
    try:
        assert req.get_data() == body
        assert req.form.to_dict() == {"a": "1"}
        assert req.files["f"].read() == b"hello"
        assert req.get_data() == body
    finally:
        req.close()


def test_get_data_reads_the_content_length_only() -> None:
    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "3", "wsgi.input": io.BytesIO(b"abcdef")}
    req = Request(environ)
    assert req.get_data() == b"abc"
    assert req.stream.read() == b""
    assert environ["wsgi.input"].read() == b"def"


@pytest.mark.parametrize(("length", "body"), [("5", b"abc"), ("1", b"")])
def test_a_body_shorter_than_its_content_length_is_400(
    api: Api, client: TestClient, length: str, body: bytes
) -> None:
    @api.route("/echo", methods=["POST"])
    def echo(req: Request, res: Res) -> bytes:
        return req.get_data()

    response = client.post(
        "/echo", environ_overrides={"CONTENT_LENGTH": length, "wsgi.input": io.BytesIO(body)}
    )
    assert_problem(response, 400)


class ServerParseError(Exception):
    """What a server's own wsgi.input raises (gunicorn's ParseException is no OSError)."""


class BrokenInput(io.RawIOBase):
    """A ``wsgi.input`` whose framing breaks after *good* bytes."""

    def __init__(self, good: bytes) -> None:
        self._good = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._good:
            raise ServerParseError("invalid chunk size")
        size = min(len(buffer), len(self._good))
        buffer[:size] = self._good[:size]
        self._good = self._good[size:]
        return size


@pytest.mark.parametrize(
    ("framing", "read"),
    [
        ({"CONTENT_LENGTH": "10"}, "get_data"),
        ({"CONTENT_LENGTH": "10"}, "stream"),
        ({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}, "get_data"),
        ({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}, "form"),
        ({"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}, "stream"),
    ],
)
def test_whatever_wsgi_input_raises_is_400_and_not_logged(
    api: Api,
    client: TestClient,
    caplog: pytest.LogCaptureFixture,
    framing: dict[str, Any],
    read: str,
) -> None:
    @api.route("/echo", methods=["POST"])
    def echo(req: Request, res: Res) -> Any:
        if read == "stream":
            return req.stream.read()
        if read == "form":
            return dict(req.form)
        return req.get_data()

    environ = {**framing, "wsgi.input": BrokenInput(b"a=1")}
    if "CONTENT_LENGTH" not in framing:
        environ["CONTENT_LENGTH"] = None  # the test client's own length, removed
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        response = client.post(
            "/echo",
            content_type="application/x-www-form-urlencoded",
            environ_overrides=environ,
        )
    problem = assert_problem(response, 400)
    assert "could not be read" in problem["detail"]
    assert caplog.records == []


def test_a_body_over_the_limit_is_413_before_reading() -> None:
    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "11", "wsgi.input": Unreadable()}
    req = Request(environ)
    req.api = Api(body_limit=10)
    with pytest.raises(RequestEntityTooLarge):
        req.get_data()


def test_shallow_requests_still_refuse_to_read() -> None:
    environ = {"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "3", "wsgi.input": Unreadable()}
    with pytest.raises(RuntimeError, match="shallow"):
        Request(environ, shallow=True).get_data()


# -- headers.get without werkzeug's detour ---------------------------------------------

header_keys = st.one_of(
    st.sampled_from(
        [
            "Content-Type", "content-length", "CONTENT_TYPE", "X-Custom-Header",
            "x_custom_header", "Host", "host", "Cookie", "HTTP_HOST", "Accept", "",
            "-", "Transfer-Encoding", "X-Forwarded-For", "\ufb00", "stra\xdfe", "Content-Md5",
        ]
    ),
    st.text(max_size=8),
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    environs(),
    st.one_of(header_keys, st.sampled_from([None, 1, b"Host"])),
    st.sampled_from([None, "fallback", 0]),
    st.sampled_from([None, int, str.lower]),
)
def test_headers_get_agrees_with_werkzeug(
    environ: dict[str, Any], key: Any, default: Any, convert: Any
) -> None:
    environ["HTTP_X_CUSTOM_HEADER"] = environ.get("HTTP_X_CUSTOM_HEADER", "42")
    ours = Request(dict(environ)).headers
    theirs = WerkzeugRequest(dict(environ)).headers
    assert body_outcome(lambda: ours.get(key, default, convert)) == body_outcome(
        lambda: theirs.get(key, default, convert)
    )
    assert body_outcome(lambda: ours.get(key)) == body_outcome(lambda: theirs.get(key))
    assert body_outcome(lambda: ours.get(key, default=default)) == body_outcome(
        lambda: theirs.get(key, default=default)
    )


def test_headers_get_cache_is_bounded() -> None:
    from microapi import request as module

    environ = {"HTTP_X_NAME_1100": "v", "wsgi.input": io.BytesIO(b"")}
    headers = Request(environ).headers
    for index in range(module._MAX_ENVIRON_KEYS + 200):
        assert headers.get(f"X-Name-{index}") == ("v" if index == 1100 else None)
    assert len(module._ENVIRON_KEYS) <= module._MAX_ENVIRON_KEYS


# Query strings whose keys repeat with different values.
repeated_fields = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "", "é", "%61", "a+"]),
        st.sampled_from(["1", "2", "", "x%20y", "+", "=", "é"]),
    ),
    max_size=5,
).map(lambda pairs: "&".join(f"{key}={value}" for key, value in pairs))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(repeated_fields, query_strings, st.text(max_size=20)),
    st.one_of(st.sampled_from(["a", "b", "key", "", "é", "%", "a "]), st.text(max_size=3)),
    st.sampled_from([None, "fallback", 0]),
    st.sampled_from([None, int, str.upper]),
)
def test_args_get_agrees_with_werkzeug(query: str, key: str, default: Any, convert: Any) -> None:
    # req.args is werkzeug's ImmutableMultiDict with its own get().
    ours = Request({"QUERY_STRING": wsgi(query), "wsgi.input": io.BytesIO(b"")}).args
    theirs = ImmutableMultiDict(list(ours.items(multi=True)))
    assert isinstance(ours, ImmutableMultiDict)
    assert body_outcome(lambda: ours.get(key, default, convert)) == body_outcome(
        lambda: theirs.get(key, default, convert)
    )
    assert body_outcome(lambda: ours.get(key)) == body_outcome(lambda: theirs.get(key))
    assert ours.getlist(key) == theirs.getlist(key)
    assert list(ours.items(multi=True)) == werkzeug_args(wsgi(query))


def test_query_and_args_are_one_object(api: Api, client: TestClient) -> None:
    @api.route("/q")
    def handler(req: Request, res: Res) -> dict[str, Any]:
        assert req.query is req.args
        with pytest.raises(TypeError):
            req.args["x"] = "1"  # type: ignore[index]
        return {"a": req.query.get("a"), "all": req.args.getlist("a"), "none": req.query.get("z")}

    assert client.get("/q?a=1&a=2").json == {"a": "1", "all": ["1", "2"], "none": None}
    assert client.get("/q?a=&b").json == {"a": "", "all": [""], "none": None}


def test_lazy_attributes_read_on_the_class_are_their_descriptors() -> None:
    # Documentation tools and help() read them on the class.
    for name in ("headers", "state", "query", "args", "params"):
        assert getattr(Request, name).__doc__


def test_a_request_subclass_is_used() -> None:
    class MyRequest(Request):
        flavour = "mine"

    api = Api()
    api.request_class = MyRequest

    @api.route("/who")
    def who(req: Request, res: Res) -> dict[str, Any]:
        assert isinstance(req, MyRequest)
        return {"flavour": req.flavour, "path": req.path}  # type: ignore[attr-defined]

    assert TestClient(api).get("/who").json == {"flavour": "mine", "path": "/who"}


def test_a_request_subclass_with_its_own_init_gets_it_called() -> None:
    calls: list[tuple[bool, bool]] = []

    class Tracked(Request):
        def __init__(
            self, environ: dict[str, Any], populate_request: bool = True, shallow: bool = False
        ) -> None:
            calls.append((populate_request, shallow))
            super().__init__(environ, populate_request, shallow)

    api = Api()
    api.request_class = Tracked

    @api.route("/t")
    def handler(req: Request, res: Res) -> dict[str, bool]:
        return {"tracked": isinstance(req, Tracked)}

    assert TestClient(api).get("/t").json == {"tracked": True}
    assert calls == [(False, False)]


# -- req.cookies: werkzeug's, never a 500 ------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["a=\xff\xfe; b=2", "\xc3=1; caf\xc3\xa9=\xc3\xa9", "session=\x80abc"],
)
def test_cookies_that_are_not_utf8_are_werkzeugs_not_a_500(
    header: str, api: Api, client: TestClient
) -> None:
    # werkzeug's Request.cookies leaves the bytes as WSGI gives them (latin-1);
    # its parse_cookie(environ) would raise on them.
    cookies = list(WerkzeugRequest({"HTTP_COOKIE": header}).cookies.items(multi=True))
    assert list(Request({"HTTP_COOKIE": header}).cookies.items(multi=True)) == cookies

    @api.route("/c")
    def read(req: Request, res: Res) -> None:
        res.json(list(req.cookies.items(multi=True)))

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/c",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "HTTP_COOKIE": header,
    }
    started: list[str] = []
    body = b"".join(api(environ, lambda status, headers: started.append(status)))
    assert started == ["200 OK"]
    assert [tuple(pair) for pair in json.loads(body)] == cookies

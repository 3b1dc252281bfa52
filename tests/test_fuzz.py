"""A whole representative app, called as raw WSGI with random environs.

The environs are what a WSGI server could hand the app, hostile clients
included: any method (garbage and lowercase too), raw paths and query
strings as latin-1 strings, any ``Content-Type``, ``Content-Length`` values
that are negative, huge, wrong or not numbers, chunked bodies with and
without ``wsgi.input_terminated``, cookies, ``If-None-Match``, ``Range`` and
``If-Range``, ``Authorization`` and ``Host``, and paths for werkzeug's
converters (``uuid``, ``float``, ``path``, signed ``int``, ``any``).
Whatever comes in, the app must answer like a correct WSGI app: one call of
``start_response`` with a valid status line and valid headers, never a
5xx, problem+json for every 4xx, a body as long as its ``Content-Length``
and no body for ``HEAD``.

The budget is small and derandomized under ``make test``; ``make fuzz``
runs the same properties with the ``fuzz`` Hypothesis profile (twenty times
the examples, random).
"""

from __future__ import annotations

import io
import json
import re
import warnings
import wsgiref.validate
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch
from urllib.parse import urlencode
from wsgiref.validate import WSGIWarning, validator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields, validate
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response as WerkzeugResponse

import microapi
from microapi import Api, HTTPError, Request, Res, Router
from microapi.errors import PROBLEM_CONTENT_TYPE
from tests.helpers import multipart

SECRET = "fuzz-secret-key-0123456789abcdef"
# A route limit that some generated bodies exceed.
SMALL_LIMIT = 64
# The directory the app serves files from: the package's own sources.
FILES = Path(microapi.__file__).parent


def budget(examples: int) -> settings:
    """*examples* under ``make test``, twenty times more under ``make fuzz``."""
    return settings(
        max_examples=examples * settings().max_examples // 100,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- the app under test -------------------------------------------------------------------


class TodoSchema(Schema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=50))
    done = fields.Boolean(load_default=False)
    tags = fields.List(fields.String(), load_default=list)


class ListQuery(Schema):
    limit = fields.Integer(load_default=10, validate=validate.Range(min=0, max=100))
    done = fields.Boolean()


class OutOfStock(Exception):
    """An application error an error handler turns into a 409."""


def legacy_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A plain WSGI app mounted under ``/legacy``."""
    response = WerkzeugResponse(
        json.dumps({"script_name": environ.get("SCRIPT_NAME", "")}),
        content_type="application/json",
    )
    return response(environ, start_response)


def describe(req: Request) -> Any:
    """``req.body`` in a JSON-friendly form (echoed back, so it is encoded too)."""
    body = req.body
    if isinstance(body, bytes):
        return {"bytes": len(body)}
    if hasattr(body, "to_dict"):
        return {"form": body.to_dict(flat=False), "files": sorted(req.files)}
    return body


def build_app(trusted_hosts: list[str] | None = None) -> Api:
    api = Api(secret_key=SECRET, trusted_hosts=trusted_hosts)

    @api.middleware
    def server_timing(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Outer", "1")
        next()
        res.set_header("Server-Timing", "app;dur=0")

    @api.middleware(match="/api/admin/:path*")
    def admin_only(req: Request, res: Res, next: Any) -> None:
        if req.headers.get("Authorization") != "Bearer letmein":
            raise HTTPError(401, "who are you?", headers={"WWW-Authenticate": "Bearer"})
        next()

    @api.errorhandler(OutOfStock)
    def out_of_stock(req: Request, res: Res, exc: Exception) -> None:
        res.status(409).set_header("Content-Type", PROBLEM_CONTENT_TYPE)
        res.json({"type": "about:blank", "title": "Conflict", "status": 409, "detail": str(exc)})

    @api.errorhandler(404)
    def not_found(req: Request, res: Res, exc: Exception) -> None:
        res.set_header("X-Not-Found", "yes")  # sends nothing: the default problem stays

    @api.route("/")
    def index(req: Request, res: Res) -> dict[str, Any]:
        return {"hello": "world"}

    @api.route("/api/todos", ["GET"], query=ListQuery)
    def list_todos(req: Request, res: Res) -> dict[str, Any]:
        return {"query": req.query, "args": req.args.to_dict(flat=False)}

    @api.route("/api/todos", ["POST"], body=TodoSchema, status=201)
    def create_todo(req: Request, res: Res) -> dict[str, Any]:
        return dict(req.body)

    @api.route("/api/todos/<int:id>", ["GET", "PUT", "DELETE"])
    def todo(req: Request, res: Res) -> Any:
        if req.method == "DELETE":
            return res.status(204).end()
        if req.params["id"] == 13:
            raise OutOfStock("thirteen is out of stock")
        if req.method == "PUT":
            return {"id": req.params["id"], "body": describe(req)}
        return {"id": req.params["id"]}

    @api.route("/api/echo", ["GET", "POST", "PUT", "PATCH", "DELETE"])
    def echo(req: Request, res: Res) -> dict[str, Any]:
        return {"body": describe(req), "args": req.args.to_dict(flat=False)}

    @api.route("/api/async", ["GET", "POST"])
    async def echo_async(req: Request, res: Res) -> dict[str, Any]:
        return {"body": describe(req), "path": req.path}

    @api.route("/api/small", ["POST"], body_limit=SMALL_LIMIT)
    def small(req: Request, res: Res) -> dict[str, Any]:
        return {"body": describe(req)}

    @api.route("/api/raw", ["POST"], body_parser=False)
    def raw(req: Request, res: Res) -> bytes:
        return req.get_data()

    @api.route("/api/files/[...path]")
    def files(req: Request, res: Res) -> None:
        res.file("/".join(req.params["path"]), root=FILES)

    @api.route("/api/docs/[[...slug]]")
    def docs(req: Request, res: Res) -> dict[str, Any]:
        return {"slug": req.params["slug"]}

    @api.route("/api/session", ["GET", "POST"])
    def session(req: Request, res: Res) -> dict[str, Any]:
        if req.method == "POST":
            req.session["visits"] = int(req.session.get("visits", 0)) + 1
            return {"visits": req.session["visits"], "csrf": req.csrf_token}
        return {"visits": req.session.get("visits", 0)}

    @api.route("/api/redirect")
    def redirect(req: Request, res: Res) -> None:
        res.redirect(req.url_for("index"))

    @api.route("/api/stream")
    def stream(req: Request, res: Res) -> None:
        res.stream(iter([b"a", "b", b"c"]), content_type="text/plain")

    @api.route("/api/werkzeug")
    def werkzeug_response(req: Request, res: Res) -> WerkzeugResponse:
        return WerkzeugResponse("plain werkzeug", content_type="text/plain")

    @api.route("/api/cookies")
    def cookies(req: Request, res: Res) -> list[list[str]]:
        return [list(pair) for pair in req.cookies.items(multi=True)]

    @api.route("/api/moved")
    def moved(req: Request, res: Res) -> None:
        raise RequestRedirect(req.url_for("index"))

    @api.route("/api/admin/stats")
    def stats(req: Request, res: Res) -> dict[str, int]:
        return {"users": 1}

    users = Router(prefix="/api/users", name="users")

    @users.middleware
    def tag_users(req: Request, res: Res, next: Any) -> None:
        res.set_header("X-Router", "users")
        next()

    @users.route("/")
    def user_index(req: Request, res: Res) -> list[str]:
        return ["ada", "bob"]

    @users.route("/[name]", ["GET", "PATCH"])
    def user(req: Request, res: Res) -> dict[str, Any]:
        return {"name": req.params["name"], "body": describe(req)}

    @users.route("/<int:id>/avatar.png")
    def avatar(req: Request, res: Res) -> tuple[bytes, int, dict[str, str]]:
        return b"\x89PNG", 200, {"Content-Type": "image/png"}

    @api.route("/api/kinds/<uuid:key>/<float:ratio>/<path:rest>")
    def kinds(req: Request, res: Res) -> dict[str, Any]:
        params = req.params
        return {"key": str(params["key"]), "ratio": params["ratio"], "rest": params["rest"]}

    @api.route("/api/signed/<int(signed=True):n>/<any(asc, desc):order>")
    def signed(req: Request, res: Res) -> dict[str, Any]:
        return {"n": req.params["n"], "order": req.params["order"]}

    api.include(users)
    api.mount("/legacy", legacy_app)
    return api


APP = build_app()
# The same app behind a Host check: most generated hosts get its 400.
GUARDED = build_app(trusted_hosts=["localhost", "example.com"])

# -- environs ----------------------------------------------------------------------------------

UUID = "123e4567-e89b-12d3-a456-426614174000"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
GARBAGE_METHODS = ["get", "post", "head", "Head", "", "G ET", "GET\r\n", "PROPFIND", "BREW", "\x00"]
# Paths of the app's routes and the methods they take: requests aimed at a
# handler, so that bodies and query strings reach the parsers and schemas.
TARGETS = [
    ("/", ["GET", "HEAD"]),
    ("/api/todos", ["GET", "POST"]),
    ("/api/todos/1", ["GET", "PUT", "DELETE"]),
    ("/api/todos/13", ["GET", "PUT"]),
    ("/api/echo", ["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ("/api/async", ["GET", "POST"]),
    ("/api/small", ["POST"]),
    ("/api/raw", ["POST"]),
    ("/api/files/py.typed", ["GET", "HEAD"]),
    ("/api/files/routing.py", ["GET", "HEAD"]),
    ("/api/files/../setup.cfg", ["GET"]),
    ("/api/docs", ["GET"]),
    ("/api/docs/x/y", ["GET"]),
    ("/api/session", ["GET", "POST"]),
    ("/api/redirect", ["GET"]),
    ("/api/stream", ["GET", "HEAD"]),
    ("/api/werkzeug", ["GET", "HEAD"]),
    ("/api/cookies", ["GET", "HEAD"]),
    ("/api/moved", ["GET", "HEAD"]),
    ("/api/admin/stats", ["GET"]),
    ("/api/users", ["GET"]),
    ("/api/users/ada", ["GET", "PATCH"]),
    ("/api/users/7/avatar.png", ["GET", "HEAD"]),
    ("/legacy/x", ["GET", "POST"]),
    (f"/api/kinds/{UUID}/0.5/a/b", ["GET", "HEAD"]),
    ("/api/signed/-3/asc", ["GET"]),
]
# Near misses and hostile paths, as WSGI gives them (UTF-8 bytes as latin-1).
PATHS = [
    "/api/todos/",
    "/api/todos/007",
    "/api/todos/-1",
    "/api/todos/\xd9\xa3",  # U+0663 ARABIC-INDIC DIGIT THREE
    "/api/files/a//b",
    "/api/files/",
    "/api/docs/",
    "/api/admin/",
    "/api/users/",
    "/api/users/%C3%A9",
    "/api/users/\xc3\xa9",
    "/legacy",
    "/legacyx",
    "//api//todos",
    "/api/../api/todos",
    "/api/todos/1/..",
    "/\\evil.com/",
    "/\x00",
    "/api/\xff\xfe",
    "",
    "api/todos",
    "/" + "a/" * 300,
    "/" + "x" * 5000,
    f"/api/kinds/{UUID.upper()}/1.5/x",
    f"/api/kinds/{UUID[:-1]}/1.5/x",
    f"/api/kinds/{UUID}/1e5/x",
    f"/api/kinds/{UUID}/.5/x",
    f"/api/kinds/{UUID}/0.5/",
    f"/api/kinds/{UUID}/0.5/\x00",
    "/api/kinds/not-a-uuid/0.5/x",
    "/api/signed/--3/asc",
    "/api/signed/+3/asc",
    "/api/signed/-0/desc",
    "/api/signed/" + "9" * 5000 + "/asc",
    "/api/signed/3/ASC",
    "/api/signed/3/asc,desc",
]
#: Range headers, valid and not, for the file route.
RANGES = [
    "bytes=0-0",
    "bytes=-1",
    "bytes=5-1",
    "bytes=0-",
    "bytes=0-99999999999999999999",
    "bytes=1-2,3-4",
    "bytes=0-0," * 200,
    "bytes=",
    "bytes=--1",
    "bytes=a-b",
    "items=0-1",
    "bytes=-0",
]
#: Authorization headers a client could send.
AUTHORIZATIONS = [
    "Bearer letmein",
    "Bearer x",
    "",
    "Bearer",
    "Bearer ",
    "Bearer  letmein",
    "bearer letmein",
    "BEARER letmein",
    "Basic YWxhZGRpbjpvcGVuc2VzYW1l",
    "Basic !!!",
    "Bearer letmein extra",
    "Bearer let\x00me",
    "Bearer " + "a" * 10_000,
    "Negotiate",
]
CONTENT_TYPES = [
    "application/json",
    "application/problem+json",
    "multipart/form-data; boundary=bnd",
    'multipart/form-data; boundary="b n d"',
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "text/plain; charset=base64",
    'text/plain; charset="utf-8"',
    "text/html; charset=utf\x00-8",
    "application/octet-stream",
    "",
    ";",
    "application/json;;;",
    "application/json; charset",
    "application/json; =x",
    "*/*",
    "\xff\xfe/\x00",
]
BODIES = [
    b"",
    b'{"title": "x", "done": true, "tags": ["a"]}',
    b'{"title": "x", "extra": 1}',
    b"[1, 2",
    b"NaN",
    b"1e999",
    b"[" * 600 + b"]" * 600,
    b"\xef\xbb\xbf{}",
    b"a=%FF&%zz=1&&=",
    b'--bnd\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\nxyz\r\n--bnd--\r\n',
    b"--bnd\r\nbroken",
    b'"\\ud800"',
    b"x" * (SMALL_LIMIT + 1),
]
CONTENT_LENGTHS = ["", "0", "-1", "-0", "abc", "1e3", " 5", "+5", "99999999999999999999", "0x10"]
QUERIES = ["", "", "limit=5", "limit=x&done=yes", "limit=1000", "a=%FF", "\xff=1", "done=1&done=0"]


def sometimes(hostile: st.SearchStrategy[Any], usual: st.SearchStrategy[Any]) -> Any:
    """*usual* four times in five, else *hostile*."""
    return st.integers(0, 4).flatmap(lambda n: hostile if n == 4 else usual)


latin1 = st.characters(max_codepoint=255)
header_text = st.text(latin1, max_size=30)
# Control characters too: the trailing-slash 308 quotes the query it keeps.
query_chars = latin1
path_pieces = st.sampled_from(
    ["api", "todos", "users", "docs", "files", "1", "13", "", "..", ".", "%2F", "\xc3", "\x00"]
)
raw_paths = sometimes(
    st.text(latin1, max_size=40) | st.lists(path_pieces, max_size=6).map("/".join),
    st.sampled_from(PATHS + [path for path, _ in TARGETS]),
)
methods = sometimes(
    st.sampled_from(GARBAGE_METHODS) | st.text(latin1, max_size=8), st.sampled_from(METHODS)
)
targets = st.sampled_from(TARGETS).flatmap(
    lambda target: st.tuples(st.sampled_from(target[1]), st.just(target[0]))
)
requests = sometimes(st.tuples(methods, raw_paths), targets)
json_bodies = st.fixed_dictionaries(
    {"title": st.text(max_size=8)},
    optional={
        "done": st.booleans() | st.integers(),
        "tags": st.lists(st.text(max_size=3), max_size=2),
        "x": st.none(),
    },
) | st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=8,
)
multipart_parts = st.lists(
    st.tuples(
        st.sampled_from(["title", "done", "tags", "f"]),
        st.binary(max_size=12),
        st.none() | st.sampled_from(["a.txt", "", "../x", "é.png"]),
    ),
    max_size=3,
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[str | None, bytes]:
    """A content type and a body: mostly a coherent pair, sometimes anything."""
    kind = draw(st.sampled_from(["json", "form", "multipart", "text", "any"]))
    if kind == "json":
        raw = json.dumps(draw(json_bodies)).encode()
        ctype = draw(st.sampled_from(["application/json", "application/vnd.x+json"]))
        return ctype, draw(st.sampled_from([raw, raw[:-1], raw + b"x"]))
    if kind == "form":
        names = st.sampled_from(["title", "done", "tags", "x", ""])
        raw = urlencode(draw(st.lists(st.tuples(names, st.text(max_size=6)), max_size=4))).encode()
        form = "application/x-www-form-urlencoded"
        return form, draw(st.sampled_from([raw, raw + b"&%FF=%zz", raw + b"\xff"]))
    if kind == "multipart":
        boundary = draw(st.text(st.sampled_from("abcXYZ019'()+_,-./:=? "), min_size=1, max_size=70))
        raw = multipart(draw(multipart_parts), boundary)
        declared = draw(st.sampled_from([boundary, f'"{boundary}"', boundary[:-1], ""]))
        raw = draw(st.sampled_from([raw, raw[: len(raw) // 2], raw.replace(b"\r\n", b"\n")]))
        return f"multipart/form-data; boundary={declared}", raw
    if kind == "text":
        charset = draw(
            st.sampled_from(["utf-8", "latin-1", "utf-16", "ascii", "punycode", "rot13", "nope"])
        )
        raw = draw(st.text(max_size=10)).encode()
        ctype = draw(st.sampled_from(["text/plain", "text/csv", "text/x-anything"]))
        return f"{ctype}; charset={charset}", draw(st.sampled_from([raw, b"\xff\xfe\xfd"]))
    content_type = draw(st.none() | st.sampled_from(CONTENT_TYPES) | header_text)
    return content_type, draw(st.sampled_from(BODIES) | st.binary(max_size=80))


_SESSION: list[str] = []


def valid_session() -> str:
    """A genuine session cookie value, made once through the app."""
    if not _SESSION:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/session",
            "wsgi.input": io.BytesIO(b""),
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
        }
        cookie = dict(run(APP, environ).calls[0][1])["Set-Cookie"]
        _SESSION.append(cookie.split(";")[0].split("=", 1)[1])
    return _SESSION[0]


@st.composite
def environs(draw: st.DrawFn, method: str | None = None) -> dict[str, Any]:
    """A WSGI environ; with *method*, a request of that method."""
    if method is None:
        method, path = draw(requests)
    else:
        path = draw(sometimes(raw_paths, st.sampled_from([p for p, m in TARGETS if method in m])))
    content_type, body = draw(bodies())
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": draw(st.sampled_from(["", "", "/mount", "/m\xc3\xa9"])),
        "PATH_INFO": path,
        "QUERY_STRING": draw(
            sometimes(st.text(query_chars, max_size=30), st.sampled_from(QUERIES))
        ),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"])),
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": draw(st.sampled_from(["http", "https"])),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if content_type is not None:
        environ["CONTENT_TYPE"] = content_type
    length = draw(sometimes(st.sampled_from(["short", "long", "weird", "absent"]), st.just("")))
    if length == "short":
        environ["CONTENT_LENGTH"] = str(max(len(body) - 1, 0))
    elif length == "long":
        environ["CONTENT_LENGTH"] = str(len(body) + draw(st.sampled_from([1, 10, 2**20, 2**40])))
    elif length == "weird":
        environ["CONTENT_LENGTH"] = draw(st.sampled_from(CONTENT_LENGTHS) | header_text)
    elif length != "absent":
        environ["CONTENT_LENGTH"] = str(len(body))
    if draw(st.integers(0, 5)) == 0:
        environ["HTTP_TRANSFER_ENCODING"] = draw(
            st.sampled_from(["chunked", "Chunked", "gzip, chunked", "identity"])
        )
    if draw(st.booleans()):
        environ["wsgi.input_terminated"] = True
    if draw(st.booleans()):
        hosts = st.sampled_from(["localhost", "example.com:8080", "[::1]:80", ""])
        environ["HTTP_HOST"] = draw(sometimes(header_text, hosts))
    if draw(st.integers(0, 2)) == 0:
        cookies = st.sampled_from(["session=garbage", "session=", "=x", "session=a; session=b"])
        genuine = st.builds(lambda: f"session={valid_session()}")
        environ["HTTP_COOKIE"] = draw(sometimes(cookies | header_text, genuine))
    if draw(st.integers(0, 3)) == 0:
        tags = st.sampled_from(["*", 'W/"x"', '"', "W/", ", ,"])
        environ["HTTP_IF_NONE_MATCH"] = draw(tags | header_text)
    if draw(st.integers(0, 3)) == 0:
        bearer = header_text.map("Bearer ".__add__)
        environ["HTTP_AUTHORIZATION"] = draw(
            sometimes(header_text | bearer, st.sampled_from(AUTHORIZATIONS))
        )
    if draw(st.integers(0, 3)) == 0:
        environ["HTTP_RANGE"] = draw(sometimes(header_text, st.sampled_from(RANGES)))
        if draw(st.booleans()):
            validators = ['"x"', 'W/"x"', "Mon, 07 Dec 2026 10:00:00 GMT", "Thu, 01 Jan 1970"]
            environ["HTTP_IF_RANGE"] = draw(sometimes(header_text, st.sampled_from(validators)))
    return environ


# -- calling the app and checking its answer ----------------------------------------------------


@dataclass
class Sent:
    """What the app handed the WSGI server."""

    calls: list[tuple[str, list[tuple[str, str]], Any]] = field(default_factory=list)
    body: bytes = b""


def run(app: Any, environ: dict[str, Any]) -> Sent:
    """Call *app* as a WSGI server would: start_response, iterate, close."""
    sent = Sent()

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        sent.calls.append((status, headers, exc_info))
        return lambda data: pytest.fail("the app used the write() callable")

    iterable = app(environ, start_response)
    try:
        chunks = list(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    assert all(type(chunk) is bytes for chunk in chunks)
    sent.body = b"".join(chunks)
    return sent


def fresh(environ: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of *environ* with its own, unread, body stream."""
    return {**environ, "wsgi.input": io.BytesIO(environ["wsgi.input"].getvalue()), **changes}


STATUS_LINE = re.compile(r"([1-5][0-9]{2}) ([^\r\n]*)")
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def check_headers(headers: Any) -> dict[str, str]:
    """Assert *headers* is a valid WSGI header list; return it by lowercase name."""
    assert type(headers) is list
    for item in headers:
        assert type(item) is tuple, item
        assert len(item) == 2, item
        name, value = item
        assert type(name) is str, item
        assert TOKEN.fullmatch(name), item
        assert type(value) is str, item
        assert not set(value) & {"\r", "\n", "\0"}, item
        value.encode("latin-1")  # WSGI header values are latin-1 strings
    names = [name.lower() for name, _ in headers]
    for once in ("content-length", "content-type", "location", "etag"):
        assert names.count(once) <= 1, headers
    return {name.lower(): value for name, value in headers}


def check_response(environ: dict[str, Any], sent: Sent) -> int:
    """Assert the WSGI answer is well-formed; return its status code."""
    assert len(sent.calls) == 1, f"start_response called {len(sent.calls)} times"
    status, headers, exc_info = sent.calls[0]
    assert exc_info is None
    assert type(status) is str
    match = STATUS_LINE.fullmatch(status)
    assert match, status
    code = int(match[1])
    # werkzeug's own responses (files) say "304 NOT MODIFIED".
    assert match[2].lower() == HTTP_STATUS_CODES[code].lower(), status
    values = check_headers(headers)
    method = environ["REQUEST_METHOD"]
    where = f"{method!r} {environ['PATH_INFO']!r}: {status} {sent.body[:300]!r}"
    assert code < 500, where
    # A method that is not even an HTTP token is a malformed request.
    assert TOKEN.fullmatch(method) or code == 400, where
    length = values.get("content-length")
    # NOTE: only "HEAD" itself drops the body: servers frame "head" as
    # another method, so its body must be the one Content-Length announces.
    if method == "HEAD" or code in (204, 304) or code < 200:
        assert sent.body == b"", where
    elif length is not None:
        assert int(length) == len(sent.body), where
    if code >= 400 and sent.body:
        assert values.get("content-type") == PROBLEM_CONTENT_TYPE, where
        problem = json.loads(sent.body)
        assert problem["status"] == code, where
        assert isinstance(problem["title"], str), where
        assert "traceback" not in problem
    if code in (301, 302, 303, 307, 308):
        # A path on this site: never "//host" or "/\host", which browsers follow away.
        assert values["location"].startswith("/"), where
        assert values["location"][1:2] not in ("/", "\\"), where
    return code


# -- the properties -----------------------------------------------------------------------------


@budget(300)
@given(environs(), st.sampled_from([APP, APP, GUARDED]))
def test_any_environ_gets_a_valid_answer(environ: dict[str, Any], app: Api) -> None:
    code = check_response(environ, run(app, fresh(environ)))
    event(f"status {code}")


_check_content_type = wsgiref.validate.check_content_type


def has_type(status: str, headers: list[tuple[str, str]]) -> None:
    """wsgiref's Content-Type check, for responses that have a body.

    NOTE: wsgiref asks every response but 204 and 304 for a Content-Type;
    HTTP does not, and an empty redirect (``Content-Length: 0``) has none.
    """
    if ("Content-Length", "0") not in headers:
        _check_content_type(status, headers)


def lint_compatible(environ: dict[str, Any]) -> dict[str, Any]:
    """*environ* made acceptable to ``wsgiref.validate``, which asserts on it."""
    environ = fresh(environ)
    if not environ["PATH_INFO"].startswith("/"):
        environ["PATH_INFO"] = "/" + environ["PATH_INFO"]
    length = environ.get("CONTENT_LENGTH")
    if length and not (length.isascii() and length.strip().isdigit()):
        del environ["CONTENT_LENGTH"]
    return environ


@budget(150)
@given(environs())
def test_answers_pass_wsgiref_validate(environ: dict[str, Any]) -> None:
    environ = lint_compatible(environ)
    with warnings.catch_warnings(), patch.object(wsgiref.validate, "check_content_type", has_type):
        # Garbage methods are the point here, not a WSGI error.
        warnings.filterwarnings("ignore", "Unknown REQUEST_METHOD", WSGIWarning)
        sent = run(validator(APP), environ)
    check_response(environ, sent)


@budget(100)
@given(environs("GET"))
def test_head_is_get_without_the_body(environ: dict[str, Any]) -> None:
    got = run(APP, fresh(environ))
    head = run(APP, fresh(environ, REQUEST_METHOD="HEAD"))
    event(got.calls[0][0])
    assert head.body == b""
    assert head.calls[0][0] == got.calls[0][0]
    # Files carry werkzeug's Date header: the two calls may straddle a second.
    assert undated(head.calls[0][1]) == undated(got.calls[0][1])


def undated(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name != "Date"]


@budget(100)
@given(st.sampled_from(["GET", "HEAD"]).flatmap(environs), st.data())
def test_a_matching_if_none_match_is_304(environ: dict[str, Any], data: st.DataObject) -> None:
    environ.pop("HTTP_IF_NONE_MATCH", None)
    status, headers, _ = run(APP, fresh(environ)).calls[0]
    tag = dict(headers).get("ETag")
    event(f"{status}, {'an' if tag else 'no'} ETag")
    if tag is None:
        return
    assert status.startswith("200 "), status
    weak = tag.removeprefix("W/")
    header = data.draw(st.sampled_from([tag, weak, f'"other", {tag}', f'{weak} , W/"x"', "*"]))
    again = run(APP, fresh(environ, HTTP_IF_NONE_MATCH=header))
    status, headers, _ = again.calls[0]
    assert status[:4] == "304 ", status
    assert again.body == b""
    assert dict(headers)["ETag"] == tag
    assert "Content-Length" not in dict(headers)
    assert "Content-Type" not in dict(headers)

"""``cors`` in a real headless Chromium: what a page on another origin may read.

A page served from origin A (``http://127.0.0.1:P1``) fetches an API on
origin B (``http://localhost:P2``); both are werkzeug servers bound to
127.0.0.1 in threads.  The page's script writes what each ``fetch`` gave
into the DOM, which Chromium dumps (``--dump-dom``).  The API records every
request it receives, so the test also sees what reached the server.  A
second page, on ``http://localhost:P1`` (the same site as the API, another
origin), shows that credentialed fetches carry the API's ``SameSite=Lax``
cookies.

Needs Debian's ``chromium`` (see :mod:`tests.browser`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema, fields

from microapi import Api, Request, Res
from microapi.middleware import cors
from tests.browser import Answered, dump_dom, served

# Each case: a name and the JavaScript expression making its fetch.  They
# run one after another; ``read`` turns a response into what JS can see.
CASES = {
    "simple": 'fetch(API + "/plain/items")',
    "preflighted": """fetch(API + "/plain/todos", {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-Custom": "42"},
        body: JSON.stringify({title: "buy milk"}),
    })""",
    "invalid": """fetch(API + "/plain/todos", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({title: 7}),
    })""",
    "missing": 'fetch(API + "/plain/no/such/path", {method: "DELETE"})',
    "credentialed": 'fetch(API + "/cred/items", {credentials: "include"})',
    "credentials_refused": 'fetch(API + "/plain/items", {credentials: "include"})',
    "foreign_simple": 'fetch(API + "/foreign/items")',
    "foreign_opaque": 'fetch(API + "/foreign/items", {mode: "no-cors"})',
    "foreign_preflighted": """fetch(API + "/foreign/todos", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({title: "never sent"}),
    })""",
}

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>cors</title></head>
<body><pre id="result">pending</pre>
<script>
const API = %(api)s;
async function read(response) {
  return {
    status: response.status,
    type: response.type,
    body: await response.text(),
    contentType: response.headers.get("content-type"),
    visible: response.headers.get("x-visible"),
    hidden: response.headers.get("x-hidden"),
  };
}
(async () => {
  const results = {};
%(cases)s
  results.done = true;
  document.getElementById("result").textContent = JSON.stringify(results);
})();
</script></body></html>
"""

CASE = """  try { results[%(name)s] = await read(await %(call)s); }
  catch (error) { results[%(name)s] = {error: error.name}; }
"""


class Todo(Schema):
    title = fields.String(required=True)


def cors_api(page_origin: str, seen: list[dict[str, Any]]) -> Api:
    """The API on origin B: three CORS policies under three prefixes."""
    api = Api()

    @api.middleware
    def record(req: Request, res: Res, next: Any) -> None:
        headers = req.headers
        seen.append(
            {
                "method": req.method,
                "path": req.path,
                "origin": headers.get("Origin"),
                "request_method": headers.get("Access-Control-Request-Method"),
                "request_headers": headers.get("Access-Control-Request-Headers"),
            }
        )
        next()

    api.middleware(cors(origins=[page_origin], expose=["X-Visible"]), match="/plain/:path*")
    api.middleware(cors(origins=[page_origin], credentials=True), match="/cred/:path*")
    api.middleware(cors(origins=["https://elsewhere.example"]), match="/foreign/:path*")

    for prefix in ("/plain", "/cred", "/foreign"):

        @api.route(f"{prefix}/items", name=f"{prefix}-items")
        def items(req: Request, res: Res) -> None:
            res.set_header("X-Visible", "shown").set_header("X-Hidden", "secret")
            res.json({"items": [1, 2]})

        @api.route(f"{prefix}/todos", methods=["POST"], body=Todo, name=f"{prefix}-todos")
        def todos(req: Request, res: Res) -> None:
            res.status(201).json({"created": req.body["title"]})

    return api


def page_app(api_base: str, cases: dict[str, str] = CASES) -> Api:
    """The app on origin A: one page whose script runs *cases* against the API."""
    page = PAGE % {
        "api": json.dumps(api_base),
        "cases": "".join(
            CASE % {"name": json.dumps(name), "call": call} for name, call in cases.items()
        ),
    }
    app = Api()

    @app.route("/")
    def index(req: Request, res: Res) -> None:
        res.set_header("Content-Type", "text/html; charset=utf-8").send(page)

    return app


@dataclass
class Browsed:
    """What the page's script saw, and what reached the API."""

    results: dict[str, Any]
    seen: list[dict[str, Any]]  # requests, with their CORS headers
    answered: Answered
    log: str  # Chromium's console


def browse(
    page_host: str,
    make_api: Callable[[str, list[dict[str, Any]]], Api],
    cases: dict[str, str],
    profile: Path,
) -> Browsed:
    """Serve the page on *page_host* and the API on ``localhost``; run *cases* in Chromium."""
    seen: list[dict[str, Any]] = []
    answered: Answered = []
    # The API's allow-list needs the page's port and the page needs the
    # API's: start the page's server first, give it its page after.
    with served(Api(), []) as page_server:
        page_origin = f"http://{page_host}:{page_server.server_port}"
        with served(make_api(page_origin, seen), answered) as api_server:
            page_server.app = page_app(f"http://localhost:{api_server.server_port}", cases)
            result = dump_dom(f"{page_origin}/", profile, budget_ms=10000)
    found = re.search(r'<pre id="result">(.*?)</pre>', result.stdout, re.DOTALL)
    assert found is not None, result.stdout
    text = html.unescape(found[1])
    assert text != "pending", "the page's script did not finish:\n" + result.stderr
    return Browsed(json.loads(text), seen, answered, result.stderr)


@pytest.fixture
def browsed(tmp_path: Path) -> Browsed:
    """The page on ``127.0.0.1`` (another site), the API on ``localhost``."""
    return browse("127.0.0.1", cors_api, CASES, tmp_path / "profile")


def requests_to(seen: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [request for request in seen if request["path"] == path]


def test_what_a_page_on_another_origin_may_read(browsed: Browsed) -> None:
    results, seen, answered, log = browsed.results, browsed.seen, browsed.answered, browsed.log
    assert results.pop("done") is True
    blocked = [line for line in log.splitlines() if "CORS policy" in line]
    for readable in ("simple", "preflighted", "invalid", "missing", "credentialed"):
        assert "error" not in results[readable], (readable, blocked)
    page_origin = seen[0]["origin"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", page_origin)

    # A simple GET from the allowed origin is readable; only the exposed
    # header is visible to the script.
    simple = results["simple"]
    assert simple["status"] == 200
    assert simple["type"] == "cors"
    assert json.loads(simple["body"]) == {"items": [1, 2]}
    assert simple["contentType"] == "application/json"  # safelisted
    assert simple["visible"] == "shown"
    assert simple["hidden"] is None
    assert [r["method"] for r in requests_to(seen, "/plain/items")] == ["GET", "GET"]

    # A JSON POST with a custom header is preflighted, then sent.
    preflighted = results["preflighted"]
    assert preflighted["status"] == 201
    assert json.loads(preflighted["body"]) == {"created": "buy milk"}
    to_todos = requests_to(seen, "/plain/todos")
    assert to_todos[0] == {
        "method": "OPTIONS",
        "path": "/plain/todos",
        "origin": page_origin,
        "request_method": "POST",
        "request_headers": "content-type,x-custom",
    }
    assert to_todos[1]["method"] == "POST"

    # Error responses are readable with their status and problem body.
    invalid = results["invalid"]
    assert invalid["status"] == 422
    assert invalid["contentType"] == "application/problem+json"
    assert json.loads(invalid["body"])["errors"] == {"title": ["Not a valid string."]}
    missing = results["missing"]
    assert missing["status"] == 404
    assert json.loads(missing["body"])["status"] == 404
    # The DELETE was preflighted first, and the preflight answered 204
    # although no route has that path.
    assert [(method, status) for method, path, status in answered if "/no/" in path] == [
        ("OPTIONS", 204),
        ("DELETE", 404),
    ]

    # credentials: "include" is readable only with cors(credentials=True).
    credentialed = results["credentialed"]
    assert credentialed["status"] == 200
    assert json.loads(credentialed["body"]) == {"items": [1, 2]}
    assert credentialed["hidden"] is None  # no expose= on this policy
    assert results["credentials_refused"] == {"error": "TypeError"}
    assert "'Access-Control-Allow-Credentials' header in the response is ''" in log

    # A disallowed origin: the fetch rejects, a no-cors response is opaque.
    assert results["foreign_simple"] == {"error": "TypeError"}
    opaque = results["foreign_opaque"]
    assert opaque["status"] == 0
    assert opaque["type"] == "opaque"
    assert opaque["body"] == ""
    assert opaque["contentType"] is None
    # Simple requests still reach the server (CORS guards reading, not
    # sending); the preflighted POST never does.
    assert [r["method"] for r in requests_to(seen, "/foreign/items")] == ["GET", "GET"]
    assert results["foreign_preflighted"] == {"error": "TypeError"}
    assert [r["method"] for r in requests_to(seen, "/foreign/todos")] == ["OPTIONS"]
    assert "Response to preflight request doesn't pass" in log
    assert len(results) == len(CASES)


# Same site, other origin (another port of localhost): SameSite=Lax cookies
# go with credentialed fetches, so the API sees them.
COOKIE_CASES = {
    "login": 'fetch(API + "/cred/login", {method: "POST", credentials: "include"})',
    "with_cookie": 'fetch(API + "/cred/whoami", {credentials: "include"})',
    "without_cookie": 'fetch(API + "/cred/whoami")',
    "unreadable": 'fetch(API + "/plain/whoami", {credentials: "include"})',
}


def cookie_api(page_origin: str, seen: list[dict[str, Any]]) -> Api:
    """An API that sets a session-like cookie and says which cookie it got."""
    api = Api()

    @api.middleware
    def record(req: Request, res: Res, next: Any) -> None:
        seen.append({"path": req.path, "sid": req.cookies.get("sid")})
        next()

    api.middleware(cors(origins=[page_origin], credentials=True), match="/cred/:path*")
    api.middleware(cors(origins=[page_origin]), match="/plain/:path*")

    @api.route("/cred/login", methods=["POST"])
    def login(req: Request, res: Res) -> None:
        res.cookie("sid", "s3cret").json({"ok": True})  # HttpOnly, SameSite=Lax

    for prefix in ("/cred", "/plain"):

        @api.route(f"{prefix}/whoami", name=f"{prefix}-whoami")
        def whoami(req: Request, res: Res) -> None:
            res.json({"sid": req.cookies.get("sid")})

    return api


def test_credentialed_cookies_cross_origin_on_the_same_site(tmp_path: Path) -> None:
    browsed = browse("localhost", cookie_api, COOKIE_CASES, tmp_path / "profile")
    results, seen = browsed.results, browsed.seen
    assert results.pop("done") is True
    # The cookie set by a credentialed response is stored and sent back on
    # the next credentialed fetch, and readable with credentials=True.
    assert results["login"]["status"] == 200
    assert json.loads(results["with_cookie"]["body"]) == {"sid": "s3cret"}
    # Without credentials: "include", no cookie goes (the default is
    # same-origin only).
    assert json.loads(results["without_cookie"]["body"]) == {"sid": None}
    # Without cors(credentials=True) the browser sends the cookie but the
    # page may not read the answer.
    assert results["unreadable"] == {"error": "TypeError"}
    assert seen == [
        {"path": "/cred/login", "sid": None},
        {"path": "/cred/whoami", "sid": "s3cret"},
        {"path": "/cred/whoami", "sid": None},
        {"path": "/plain/whoami", "sid": "s3cret"},
    ]

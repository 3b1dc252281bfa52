"""A hand-written WSGI callable: the floor every framework is measured against.

Routing is a string comparison and a regular expression (``routes100``: two
dictionaries), the query string is parsed with the standard library, the
three middleware layers are plain WSGI middleware passing the token on in
the environ, and a POST body is read from ``wsgi.input`` and loaded with the
same marshmallow schema as everyone else's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from marshmallow import ValidationError

from benchmarks.apps import unknown_scenario
from benchmarks.data import TodoIn, TodoStore
from benchmarks.scenarios import (
    COUNTER,
    MESSAGE,
    MW_HEADER,
    MW_VALUE,
    ROUTE_COUNT,
    ROUTE_PREFIX,
    TOKEN_HEADER,
    big_payload,
)

if TYPE_CHECKING:
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: ``/hello``'s handler: the environ in, the JSON value out.
Hello = Callable[["WSGIEnvironment"], object]

USER_PATH = re.compile(r"/users/([0-9]+)")
TOKEN_KEY = "HTTP_" + TOKEN_HEADER.upper().replace("-", "_")


def _json(start_response: StartResponse, status: str, value: object) -> list[bytes]:
    body = json.dumps(value).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _hello(environ: WSGIEnvironment) -> object:
    return {"message": MESSAGE}


def _hello_token(environ: WSGIEnvironment) -> object:
    return {"message": MESSAGE, "token": environ["bench.token"]}


def _application(hello: Hello) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ["PATH_INFO"]
        if path == "/hello":
            payload = hello(environ)
        elif (match := USER_PATH.fullmatch(path)) is not None:
            fields = parse_qs(environ.get("QUERY_STRING", "")).get("fields")
            payload = {"id": int(match[1]), "fields": fields[0] if fields else None}
        else:
            return _not_found(start_response)
        if environ["REQUEST_METHOD"] != "GET":
            return _json(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
        return _json(start_response, "200 OK", payload)

    return app


def _not_found(start_response: StartResponse) -> list[bytes]:
    return _json(start_response, "404 Not Found", {"error": "not found"})


def _only_get(path: str, answer: Callable[[], object]) -> WSGIApplication:
    """An app answering ``GET path`` with ``answer()`` as JSON."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] != path:
            return _not_found(start_response)
        if environ["REQUEST_METHOD"] != "GET":
            return _json(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
        return _json(start_response, "200 OK", answer())

    return app


def _post() -> WSGIApplication:
    schema = TodoIn()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] != "/todos":
            return _not_found(start_response)
        if environ["REQUEST_METHOD"] != "POST":
            return _json(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
        if environ.get("CONTENT_TYPE", "").split(";", 1)[0] != "application/json":
            return _json(start_response, "415 Unsupported Media Type", {"error": "not JSON"})
        data = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            todo = schema.load(json.loads(data))
        except ValueError:
            return _json(start_response, "400 Bad Request", {"error": "malformed JSON"})
        except ValidationError as exc:
            return _json(start_response, "422 Unprocessable Entity", {"errors": exc.messages})
        return _json(start_response, "201 Created", todo)

    return app


def _routes100() -> WSGIApplication:
    static = {f"{ROUTE_PREFIX}{index}": {"route": index} for index in range(ROUTE_COUNT)}
    items = {f"{ROUTE_PREFIX}{index}": index for index in range(ROUTE_COUNT)}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path: str = environ["PATH_INFO"]
        payload: object = static.get(path)
        if payload is None:
            head, _, id = path.rpartition("/")
            index = items.get(head)
            if index is None or not (id.isascii() and id.isdigit()):
                return _not_found(start_response)
            payload = {"route": index, "id": int(id)}
        if environ["REQUEST_METHOD"] != "GET":
            return _json(start_response, "405 Method Not Allowed", {"error": "method not allowed"})
        return _json(start_response, "200 OK", payload)

    return app


def _count(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        COUNTER.value += 1
        return app(environ, start_response)

    return layer


def _read_token(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        environ["bench.token"] = environ.get(TOKEN_KEY)
        return app(environ, start_response)

    return layer


def _add_header(app: WSGIApplication) -> WSGIApplication:
    def layer(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        def start(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            headers.append((MW_HEADER, MW_VALUE))
            return start_response(status, headers, exc_info)

        return app(environ, start)

    return layer


def make(scenario: str) -> WSGIApplication:
    """The bare WSGI app for *scenario*."""
    match scenario:
        case "hello" | "param" | "notfound":
            return _application(_hello)
        case "middleware3":
            return _count(_read_token(_add_header(_application(_hello_token))))
        case "post_valid" | "post_invalid":
            return _post()
        case "routes100":
            return _routes100()
        case "todos_sqlite":
            store = TodoStore()
            return _only_get("/todos", lambda: {"items": store.first()})
        case "json100k":
            payload = big_payload()
            return _only_get("/big", lambda: payload)
    raise unknown_scenario("bare", scenario)

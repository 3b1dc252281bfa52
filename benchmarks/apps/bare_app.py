"""A hand-written WSGI callable: the floor every framework is measured against.

Routing is a string comparison and a regular expression, the query string is
parsed with the standard library, and the three middleware layers are plain
WSGI middleware passing the token on in the environ.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from benchmarks.apps import unknown_scenario
from benchmarks.scenarios import COUNTER, MESSAGE, MW_HEADER, MW_VALUE, TOKEN_HEADER

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
            return _json(start_response, "404 Not Found", {"error": "not found"})
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
    raise unknown_scenario("bare", scenario)

"""Raw werkzeug: ``Request``, ``Map.bind_to_environ`` and ``Response``, no framework.

This is the toolkit microapi is built on, so the gap between the two is what
microapi's own layer costs. Middleware is an onion of ``(request, call_next)``
functions composed once, when the app is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from benchmarks.apps import unknown_scenario
from benchmarks.scenarios import COUNTER, MESSAGE, MW_HEADER, MW_VALUE, TOKEN_HEADER

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class BenchRequest(Request):
    """A werkzeug request with a slot for what middleware passes to handlers."""

    token: str | None = None


Handler = Callable[[BenchRequest], Response]
Middleware = Callable[[BenchRequest, Handler], Response]


def _json(value: object) -> Response:
    return Response(json.dumps(value), mimetype="application/json")


def _hello(request: BenchRequest) -> Response:
    return _json({"message": MESSAGE})


def _hello_token(request: BenchRequest) -> Response:
    return _json({"message": MESSAGE, "token": request.token})


def _user(request: BenchRequest, id: int) -> Response:
    return _json({"id": id, "fields": request.args.get("fields")})


def _count(request: BenchRequest, call_next: Handler) -> Response:
    COUNTER.value += 1
    return call_next(request)


def _read_token(request: BenchRequest, call_next: Handler) -> Response:
    request.token = request.headers.get(TOKEN_HEADER)
    return call_next(request)


def _add_header(request: BenchRequest, call_next: Handler) -> Response:
    response = call_next(request)
    response.headers[MW_HEADER] = MW_VALUE
    return response


def _around(layer: Middleware, call_next: Handler) -> Handler:
    """*call_next* wrapped in the middleware *layer*."""
    return lambda request: layer(request, call_next)


def _application(hello: Handler, middleware: Sequence[Middleware] = ()) -> WSGIApplication:
    url_map = Map(
        [
            Rule("/hello", endpoint=hello, methods=["GET"]),
            Rule("/users/<int:id>", endpoint=_user, methods=["GET"]),
        ]
    )

    def dispatch(request: BenchRequest) -> Response:
        endpoint, params = url_map.bind_to_environ(request.environ).match()
        response: Response = endpoint(request, **params)
        return response

    handler: Handler = dispatch
    for layer in reversed(middleware):
        handler = _around(layer, handler)
    # ``application`` builds a BenchRequest per call and turns HTTP errors (404) into responses.
    return BenchRequest.application(cast("Callable[[Request], Response]", handler))


def make(scenario: str) -> WSGIApplication:
    """The werkzeug app for *scenario*."""
    match scenario:
        case "hello" | "param" | "notfound":
            return _application(_hello)
        case "middleware3":
            return _application(_hello_token, [_count, _read_token, _add_header])
    raise unknown_scenario("werkzeug", scenario)

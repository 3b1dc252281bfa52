"""Raw werkzeug: ``Request``, ``Map.bind_to_environ`` and ``Response``, no framework.

This is the toolkit microapi is built on, so the gap between the two is what
microapi's own layer costs. Middleware is an onion of ``(request, call_next)``
functions composed once, when the app is built.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from marshmallow import ValidationError
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

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
    from _typeshed.wsgi import WSGIApplication


class BenchRequest(Request):
    """A werkzeug request with a slot for what middleware passes to handlers."""

    token: str | None = None


Handler = Callable[[BenchRequest], Response]
Middleware = Callable[[BenchRequest, Handler], Response]


def _json(value: object, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, mimetype="application/json")


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


def _hello_rules(hello: Handler) -> list[Rule]:
    return [
        Rule("/hello", endpoint=hello, methods=["GET"]),
        Rule("/users/<int:id>", endpoint=_user, methods=["GET"]),
    ]


def _post_rules() -> list[Rule]:
    schema = TodoIn()

    def create(request: BenchRequest) -> Response:
        try:
            return _json(schema.load(request.get_json()), 201)
        except ValidationError as exc:
            return _json({"errors": exc.messages}, 422)

    return [Rule("/todos", endpoint=create, methods=["POST"])]


def _static(index: int) -> Handler:
    return lambda request: _json({"route": index})


def _item(index: int) -> Callable[[BenchRequest, int], Response]:
    return lambda request, id: _json({"route": index, "id": id})


def _routes100_rules() -> list[Rule]:
    return [
        *(
            Rule(f"{ROUTE_PREFIX}{index}", endpoint=_static(index), methods=["GET"])
            for index in range(ROUTE_COUNT)
        ),
        *(
            Rule(f"{ROUTE_PREFIX}{index}/<int:id>", endpoint=_item(index), methods=["GET"])
            for index in range(ROUTE_COUNT)
        ),
    ]


def _todos_rules() -> list[Rule]:
    store = TodoStore()
    return [
        Rule("/todos", endpoint=lambda request: _json({"items": store.first()}), methods=["GET"])
    ]


def _big_rules() -> list[Rule]:
    payload = big_payload()
    return [Rule("/big", endpoint=lambda request: _json(payload), methods=["GET"])]


def _application(rules: list[Rule], middleware: Sequence[Middleware] = ()) -> WSGIApplication:
    url_map = Map(rules)

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
            return _application(_hello_rules(_hello))
        case "middleware3":
            return _application(_hello_rules(_hello_token), [_count, _read_token, _add_header])
        case "post_valid" | "post_invalid":
            return _application(_post_rules())
        case "routes100":
            return _application(_routes100_rules())
        case "todos_sqlite":
            return _application(_todos_rules())
        case "json100k":
            return _application(_big_rules())
    raise unknown_scenario("werkzeug", scenario)

"""Bottle: route callbacks returning dicts (Bottle's JSON plugin), middleware as hooks.

Layers 1 and 2 are ``before_request`` hooks (the token becomes a request
attribute, which Bottle keeps in the environ), layer 3 is an
``after_request`` hook.
"""

from __future__ import annotations

from collections.abc import Callable

from bottle import Bottle, request, response
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


def _hello() -> dict[str, object]:
    return {"message": MESSAGE}


def _hello_token() -> dict[str, object]:
    return {"message": MESSAGE, "token": request.token}


def _user(id: int) -> dict[str, object]:
    return {"id": id, "fields": request.query.getunicode("fields")}


def _count() -> None:
    COUNTER.value += 1


def _read_token() -> None:
    request.token = request.get_header(TOKEN_HEADER)


def _add_header() -> None:
    response.set_header(MW_HEADER, MW_VALUE)


def _post() -> Bottle:
    schema = TodoIn()

    def create() -> dict[str, object]:
        try:
            todo: dict[str, object] = schema.load(request.json)
        except ValidationError as exc:
            response.status = 422
            return {"errors": exc.messages}
        response.status = 201
        return todo

    app = Bottle()
    app.post("/todos", callback=create)
    return app


def _static(index: int) -> Callable[[], dict[str, object]]:
    return lambda: {"route": index}


def _item(index: int) -> Callable[[int], dict[str, object]]:
    return lambda id: {"route": index, "id": id}


def _routes100() -> Bottle:
    app = Bottle()
    for index in range(ROUTE_COUNT):
        app.get(f"{ROUTE_PREFIX}{index}", callback=_static(index))
    for index in range(ROUTE_COUNT):
        app.get(f"{ROUTE_PREFIX}{index}/<id:int>", callback=_item(index))
    return app


def _todos() -> Bottle:
    store = TodoStore()

    def todos() -> dict[str, object]:
        return {"items": store.first()}

    app = Bottle()
    app.get("/todos", callback=todos)
    return app


def _big() -> Bottle:
    payload = big_payload()

    def big() -> dict[str, object]:
        return payload

    app = Bottle()
    app.get("/big", callback=big)
    return app


def _application(hello: Callable[[], dict[str, object]]) -> Bottle:
    app = Bottle()
    app.get("/hello", callback=hello)
    app.get("/users/<id:int>", callback=_user)
    return app


def make(scenario: str) -> Bottle:
    """The Bottle app for *scenario*."""
    match scenario:
        case "hello" | "param" | "notfound":
            return _application(_hello)
        case "middleware3":
            app = _application(_hello_token)
            app.add_hook("before_request", _count)
            app.add_hook("before_request", _read_token)
            app.add_hook("after_request", _add_header)
            return app
        case "post_valid" | "post_invalid":
            return _post()
        case "routes100":
            return _routes100()
        case "todos_sqlite":
            return _todos()
        case "json100k":
            return _big()
    raise unknown_scenario("bottle", scenario)

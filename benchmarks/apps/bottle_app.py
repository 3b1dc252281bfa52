"""Bottle: route callbacks returning dicts (Bottle's JSON plugin), middleware as hooks.

Layers 1 and 2 are ``before_request`` hooks (the token becomes a request
attribute, which Bottle keeps in the environ), layer 3 is an
``after_request`` hook.
"""

from __future__ import annotations

from collections.abc import Callable

from bottle import Bottle, request, response

from benchmarks.apps import unknown_scenario
from benchmarks.scenarios import COUNTER, MESSAGE, MW_HEADER, MW_VALUE, TOKEN_HEADER


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
    raise unknown_scenario("bottle", scenario)

"""Flask: view functions returning dicts, middleware as request hooks.

Layers 1 and 2 are ``before_request`` functions (the token goes to ``g``),
layer 3 is an ``after_request`` function; that is how Flask apps add
cross-cutting behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, g, request
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
    return {"message": MESSAGE, "token": g.token}


def _user(id: int) -> dict[str, object]:
    return {"id": id, "fields": request.args.get("fields")}


def _count() -> None:
    COUNTER.value += 1


def _read_token() -> None:
    g.token = request.headers.get(TOKEN_HEADER)


def _add_header(response: Response) -> Response:
    response.headers[MW_HEADER] = MW_VALUE
    return response


def _post() -> Flask:
    schema = TodoIn()

    def create() -> tuple[dict[str, Any], int]:
        try:
            return schema.load(request.get_json()), 201
        except ValidationError as exc:
            return {"errors": exc.messages}, 422

    app = Flask(__name__)
    app.add_url_rule("/todos", view_func=create, methods=["POST"])
    return app


def _static(index: int) -> Callable[[], dict[str, object]]:
    return lambda: {"route": index}


def _item(index: int) -> Callable[[int], dict[str, object]]:
    return lambda id: {"route": index, "id": id}


def _routes100() -> Flask:
    app = Flask(__name__)
    for index in range(ROUTE_COUNT):
        app.add_url_rule(
            f"{ROUTE_PREFIX}{index}", f"static{index}", _static(index), methods=["GET"]
        )
    for index in range(ROUTE_COUNT):
        app.add_url_rule(
            f"{ROUTE_PREFIX}{index}/<int:id>", f"item{index}", _item(index), methods=["GET"]
        )
    return app


def _todos() -> Flask:
    store = TodoStore()

    def todos() -> dict[str, object]:
        return {"items": store.first()}

    app = Flask(__name__)
    app.add_url_rule("/todos", view_func=todos, methods=["GET"])
    return app


def _big() -> Flask:
    payload = big_payload()

    def big() -> dict[str, object]:
        return payload

    app = Flask(__name__)
    app.add_url_rule("/big", view_func=big, methods=["GET"])
    return app


def _application(hello: Callable[[], dict[str, object]]) -> Flask:
    app = Flask(__name__)
    app.add_url_rule("/hello", view_func=hello, methods=["GET"])
    app.add_url_rule("/users/<int:id>", view_func=_user, methods=["GET"])
    return app


def make(scenario: str) -> Flask:
    """The Flask app for *scenario*."""
    match scenario:
        case "hello" | "param" | "notfound":
            return _application(_hello)
        case "middleware3":
            app = _application(_hello_token)
            app.before_request(_count)
            app.before_request(_read_token)
            app.after_request(_add_header)
            return app
        case "post_valid" | "post_invalid":
            return _post()
        case "routes100":
            return _routes100()
        case "todos_sqlite":
            return _todos()
        case "json100k":
            return _big()
    raise unknown_scenario("flask", scenario)

"""Flask: view functions returning dicts, middleware as request hooks.

Layers 1 and 2 are ``before_request`` functions (the token goes to ``g``),
layer 3 is an ``after_request`` function; that is how Flask apps add
cross-cutting behaviour.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, g, request

from benchmarks.apps import unknown_scenario
from benchmarks.scenarios import COUNTER, MESSAGE, MW_HEADER, MW_VALUE, TOKEN_HEADER


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
    raise unknown_scenario("flask", scenario)

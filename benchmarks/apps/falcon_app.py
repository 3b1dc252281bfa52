"""Falcon: resource classes answering through ``resp.media``, middleware components.

Each middleware layer is its own component (Falcon calls every component's
hooks, so three components cost what three layers cost): two act in
``process_request`` (the token goes to ``req.context``), one in
``process_response``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import falcon

from benchmarks.apps import unknown_scenario
from benchmarks.scenarios import COUNTER, MESSAGE, MW_HEADER, MW_VALUE, TOKEN_HEADER


class Hello:
    """``GET /hello``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"message": MESSAGE}


class HelloToken:
    """``GET /hello`` echoing the token that middleware stored in the context."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"message": MESSAGE, "token": req.context.token}


class User:
    """``GET /users/{id:int}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: int) -> None:
        resp.media = {"id": id, "fields": req.get_param("fields")}


class Count:
    """Middleware layer 1."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        COUNTER.value += 1


class ReadToken:
    """Middleware layer 2."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.token = req.get_header(TOKEN_HEADER)


class AddHeader:
    """Middleware layer 3."""

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, req_succeeded: bool
    ) -> None:
        resp.set_header(MW_HEADER, MW_VALUE)


def _application(
    hello: Hello | HelloToken, middleware: Sequence[Count | ReadToken | AddHeader] = ()
) -> falcon.App[falcon.Request, falcon.Response]:
    app = falcon.App(middleware=list(middleware))
    app.add_route("/hello", hello)
    app.add_route("/users/{id:int}", User())
    return app


def make(scenario: str) -> falcon.App[falcon.Request, falcon.Response]:
    """The Falcon app for *scenario*."""
    match scenario:
        case "hello" | "param" | "notfound":
            return _application(Hello())
        case "middleware3":
            return _application(HelloToken(), [Count(), ReadToken(), AddHeader()])
    raise unknown_scenario("falcon", scenario)

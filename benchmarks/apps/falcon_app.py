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


class CreateTodo:
    """``POST /todos``, the body loaded with :class:`TodoIn`."""

    def __init__(self) -> None:
        self.schema = TodoIn()

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            resp.media = self.schema.load(req.get_media())
        except ValidationError as exc:
            resp.status = 422
            resp.media = {"errors": exc.messages}
        else:
            resp.status = 201


class ListTodos:
    """``GET /todos``: the first todos, read from SQLite."""

    def __init__(self) -> None:
        self.store = TodoStore()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"items": self.store.first()}


class Static:
    """``GET /items<i>`` of ``routes100``."""

    def __init__(self, index: int) -> None:
        self.index = index

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"route": self.index}


class Item:
    """``GET /items<i>/{id:int}`` of ``routes100``."""

    def __init__(self, index: int) -> None:
        self.index = index

    def on_get(self, req: falcon.Request, resp: falcon.Response, id: int) -> None:
        resp.media = {"route": self.index, "id": id}


class Big:
    """``GET /big``: the ~100 KB payload, built once."""

    def __init__(self) -> None:
        self.payload = big_payload()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self.payload


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
        case "post_valid" | "post_invalid":
            app = falcon.App()
            app.add_route("/todos", CreateTodo())
            return app
        case "routes100":
            app = falcon.App()
            for index in range(ROUTE_COUNT):
                app.add_route(f"{ROUTE_PREFIX}{index}", Static(index))
            for index in range(ROUTE_COUNT):
                app.add_route(f"{ROUTE_PREFIX}{index}/{{id:int}}", Item(index))
            return app
        case "todos_sqlite":
            app = falcon.App()
            app.add_route("/todos", ListTodos())
            return app
        case "json100k":
            app = falcon.App()
            app.add_route("/big", Big())
            return app
    raise unknown_scenario("falcon", scenario)

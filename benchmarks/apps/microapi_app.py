"""microapi, the framework under test: ``handler(req, res)`` and onion middleware.

Importing this module imports :mod:`microapi`; the harness does so only when
microapi is among the frameworks asked for.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
from microapi import Api, jsonutil

#: Set to ``1`` to time microapi on the standard library's JSON alone, as if
#: orjson were not installed (``benchmarks/README.md``, "orjson").
STDLIB_JSON_ENV = "MICROAPI_BENCH_STDLIB_JSON"
if os.environ.get(STDLIB_JSON_ENV) == "1":
    jsonutil.orjson = None

if TYPE_CHECKING:
    from microapi import Request, Res
    from microapi.types import Next


def _hello(req: Request, res: Res) -> None:
    res.status(200).json({"message": MESSAGE})


def _hello_token(req: Request, res: Res) -> None:
    res.json({"message": MESSAGE, "token": req.state.token})


def _user(req: Request, res: Res) -> None:
    res.json({"id": req.params["id"], "fields": req.query.get("fields")})


def _count(req: Request, res: Res, next: Next) -> None:
    COUNTER.value += 1
    next()


def _read_token(req: Request, res: Res, next: Next) -> None:
    req.state.token = req.headers.get(TOKEN_HEADER)
    next()


def _add_header(req: Request, res: Res, next: Next) -> None:
    next()
    res.set_header(MW_HEADER, MW_VALUE)


def _create(req: Request, res: Res) -> Any:
    return req.body


def _static(index: int) -> Callable[[Request, Res], None]:
    def handler(req: Request, res: Res) -> None:
        res.json({"route": index})

    return handler


def _item(index: int) -> Callable[[Request, Res], None]:
    def handler(req: Request, res: Res) -> None:
        res.json({"route": index, "id": req.params["id"]})

    return handler


def _routes100() -> Api:
    api = Api()
    for index in range(ROUTE_COUNT):
        api.add_route(f"{ROUTE_PREFIX}{index}", _static(index), name=f"static{index}")
    for index in range(ROUTE_COUNT):
        api.add_route(f"{ROUTE_PREFIX}{index}/<int:id>", _item(index), name=f"item{index}")
    return api


def _todos() -> Api:
    store = TodoStore()

    def todos(req: Request, res: Res) -> None:
        res.json({"items": store.first()})

    api = Api()
    api.add_route("/todos", todos)
    return api


def _big() -> Api:
    payload = big_payload()

    def big(req: Request, res: Res) -> None:
        res.json(payload)

    api = Api()
    api.add_route("/big", big)
    return api


def _application(hello: Callable[[Request, Res], None]) -> Api:
    api = Api()
    api.add_route("/hello", hello)
    api.add_route("/users/<int:id>", _user)
    return api


def make(scenario: str) -> Api:
    """The microapi app for *scenario*."""
    match scenario:
        case "hello" | "param" | "notfound":
            return _application(_hello)
        case "middleware3":
            api = _application(_hello_token)
            api.middleware(_count)
            api.middleware(_read_token)
            api.middleware(_add_header)
            return api
        case "post_valid" | "post_invalid":
            api = Api()
            api.add_route("/todos", _create, methods=["POST"], body=TodoIn, status=201)
            return api
        case "routes100":
            return _routes100()
        case "todos_sqlite":
            return _todos()
        case "json100k":
            return _big()
    raise unknown_scenario("microapi", scenario)

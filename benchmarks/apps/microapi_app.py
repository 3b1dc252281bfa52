"""microapi, the framework under test: ``handler(req, res)`` and onion middleware.

Importing this module imports :mod:`microapi`; the harness does so only when
microapi is among the frameworks asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from benchmarks.apps import unknown_scenario
from benchmarks.scenarios import COUNTER, MESSAGE, MW_HEADER, MW_VALUE, TOKEN_HEADER
from microapi import Api

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
    raise unknown_scenario("microapi", scenario)

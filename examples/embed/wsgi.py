"""Embedding: microapi under ``/api`` of a Flask site, a legacy app inside microapi.

Serve the whole site with ``gunicorn examples.embed.wsgi:site``; ``api`` is
the microapi part alone.  Paths inside microapi are relative to its mount
point (``req.path`` is ``/todos``, not ``/api/todos``) and ``req.url_for``
adds the prefix back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from microapi import Api, Request, Res

flask_app = Flask(__name__)


@flask_app.get("/")
def home() -> str:
    """The existing site's home page."""
    return "<h1>The existing Flask site</h1>"


def legacy(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """An old plain-WSGI endpoint that keeps working inside microapi."""
    body = f"legacy app at {environ['SCRIPT_NAME']}{environ['PATH_INFO']}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


api = Api()
api.mount("/legacy", legacy)


@api.route("/todos", name="todos")
def todos(req: Request, res: Res) -> dict[str, Any]:
    """A microapi route; it sees its own path and can build absolute links."""
    return {"path": req.path, "self": req.url_for("todos"), "items": []}


#: The whole site: Flask at ``/``, microapi at ``/api``.
site = DispatcherMiddleware(flask_app.wsgi_app, {"/api": api})

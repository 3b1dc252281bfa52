"""The 30-second tour, served by ``make run``: ``gunicorn examples.hello.wsgi:api``.

Mirrors the Next.js API Routes article: ``pages/api/hello.ts``, a dynamic
``pages/api/users/[id].ts`` answering several methods, a middleware with a
matcher, and errors as problem+json.
"""

from __future__ import annotations

import time
from typing import Any

from microapi import Api, HTTPError, Request, Res
from microapi.securitydoc import declare_responses

api = Api()

# A tiny in-memory store, so that the example needs nothing else.
USERS: dict[int, dict[str, Any]] = {1: {"id": 1, "name": "Ada"}, 2: {"id": 2, "name": "Linus"}}


@api.middleware
def timing(req: Request, res: Res, next: Any) -> None:
    """Add a Server-Timing header to every response, errors included."""
    start = time.perf_counter()
    try:
        next()
    finally:
        res.set_header("Server-Timing", f"app;dur={(time.perf_counter() - start) * 1000:.2f}")


@api.middleware(match="/api/admin/:path*")
def admin_only(req: Request, res: Res, next: Any) -> Any:
    """Short-circuit admin routes without the right token."""
    if req.headers.get("Authorization") != "Bearer let-me-in":
        raise HTTPError(401, "admin token required", headers={"WWW-Authenticate": "Bearer"})
    return next()


# For the OpenAPI document: the admin routes may answer 401.
declare_responses(admin_only, {401: "The admin token is missing or wrong."})


@api.route("/api/hello")
def hello(req: Request, res: Res) -> None:
    """pages/api/hello.ts"""
    res.status(200).json({"message": "Hello API!"})


@api.route("/api/users/[id]", methods=["GET", "PUT", "DELETE"])
def user(req: Request, res: Res) -> Any:
    """pages/api/users/[id].ts: one handler, three methods."""
    try:
        user_id = int(req.params["id"])
    except ValueError:
        raise HTTPError(404, "users are numbered") from None
    if user_id not in USERS:
        raise HTTPError(404, f"user {user_id} not found")
    if req.method == "PUT":
        body = req.body
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise HTTPError(422, "name is required", errors={"name": ["must be a string"]})
        USERS[user_id] = {"id": user_id, "name": body["name"]}
    elif req.method == "DELETE":
        del USERS[user_id]
        return res.status(204).end()
    return USERS[user_id]


@api.route("/api/admin/stats")
def stats(req: Request, res: Res) -> dict[str, int]:
    """Behind the admin_only middleware."""
    return {"users": len(USERS)}


@api.route("/api/echo", methods=["POST"])
def echo(req: Request, res: Res) -> dict[str, Any]:
    """Report what was received: the parsed body and its raw size."""
    body = req.body
    if hasattr(body, "to_dict"):  # a form
        body = body.to_dict()
    elif isinstance(body, bytes):  # binary: report only its size
        body = None
    return {"bytes": len(req.get_data()), "body": body}

"""``pages/api/users/[id].ts``: one handler for three methods, on ``req.method``."""

from __future__ import annotations

from typing import Any

from microapi import HTTPError, Request, Res

methods = ["GET", "PUT", "DELETE"]

#: A tiny in-memory store, so that this sample needs nothing else.
USERS: dict[int, dict[str, Any]] = {1: {"id": 1, "name": "Ada"}, 2: {"id": 2, "name": "Linus"}}


def handler(req: Request, res: Res) -> Any:
    """Read, rename or delete user ``[id]``."""
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

"""``app/api/todos/[id]/route.ts``: one todo, read, changed or deleted."""

from __future__ import annotations

from typing import Any

from microapi import Request, Res

from .._lib.db import connect
from ._todos import TodoPatch, as_todo, find

#: The Next.js ``export const config``, by method: PATCH's body, checked
#: before it runs, and DELETE's status.
config = {"PATCH": {"body": TodoPatch}, "DELETE": {"status": 204}}


def GET(req: Request, res: Res) -> dict[str, Any]:
    """The todo, or 404."""
    with connect() as db:
        return as_todo(find(db, req.params["id"]))


def PATCH(req: Request, res: Res) -> dict[str, Any]:
    """Change the title and/or ``done``; answer the todo as it now is."""
    with connect() as db:
        row = find(db, req.params["id"])
        todo = {**as_todo(row), **req.body}
        db.execute(
            "UPDATE todos SET title = ?, done = ? WHERE id = ?",
            (todo["title"], todo["done"], todo["id"]),
        )
    return todo


def DELETE(req: Request, res: Res) -> Res:
    """Delete the todo: 204, or 404 if it was not there."""
    with connect() as db:
        db.execute("DELETE FROM todos WHERE id = ?", (find(db, req.params["id"])["id"],))
    return res.status(204).end()

"""``app/api/todos/route.ts``: the list, straight from the database.

``prisma.todo.findMany()`` becomes one SQL query; POST creates a todo.
"""

from __future__ import annotations

from typing import Any

from microapi import Request, Res

from .._lib.db import connect
from ._todos import TodoIn, as_todo

#: The Next.js ``export const config``: POST's body, checked before it runs.
config = {"POST": {"body": TodoIn, "status": 201}}


def GET(req: Request, res: Res) -> list[dict[str, Any]]:
    """Every todo, oldest first: ``Response.json(todos)``."""
    with connect() as db:
        return [as_todo(row) for row in db.execute("SELECT * FROM todos ORDER BY id")]


def POST(req: Request, res: Res) -> Res:
    """Create a todo from ``{"title": ...}``; 201 with its ``Location``."""
    title, done = req.body["title"], req.body["done"]
    with connect() as db:
        cursor = db.execute("INSERT INTO todos (title, done) VALUES (?, ?)", (title, done))
    todo = {"id": cursor.lastrowid, "title": title, "done": done}
    location = req.url_for("todos.[id]", id=todo["id"])
    return res.status(201).set_header("Location", location).json(todo)

"""What the todo routes share, their body schemas too; a ``_`` file, so not a route."""

from __future__ import annotations

import sqlite3
from typing import Any

from microapi import HTTPError
from microapi.validation import Flag

from .._lib.text import Text, TextSchema

#: The longest title accepted.
MAX_TITLE = 200


def as_todo(row: sqlite3.Row) -> dict[str, Any]:
    """A database row as the JSON the API returns."""
    return {"id": row["id"], "title": row["title"], "done": bool(row["done"])}


def find(db: sqlite3.Connection, todo_id: str) -> sqlite3.Row:
    """The row for ``[id]``; 404 when there is none (or the id is not a number)."""
    row = None
    if todo_id.isdecimal() and todo_id.isascii():
        row = db.execute("SELECT * FROM todos WHERE id = ?", (int(todo_id),)).fetchone()
    if row is None:
        raise HTTPError(404, f"todo {todo_id} not found")
    return row


class TodoIn(TextSchema):
    """A new todo: ``title``, and ``done`` (default ``false``)."""

    title = Text(MAX_TITLE, message="required: a non-empty string", required=True)
    done = Flag(load_default=False, error_messages={"invalid": "must be true or false"})


#: A change to a todo: the same fields, each optional (``PATCH``).
TodoPatch = TodoIn(partial=True)

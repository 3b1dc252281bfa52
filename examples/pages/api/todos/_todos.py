"""What the todo routes share; a ``_`` file, so not a route itself."""

from __future__ import annotations

import sqlite3
from typing import Any

from microapi import HTTPError

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


def read_changes(body: Any, *, partial: bool) -> dict[str, Any]:
    """Validate a todo sent as JSON (by hand until schemas arrive); 422 if wrong."""
    if not isinstance(body, dict):
        raise HTTPError(422, "send a JSON object", errors={"_schema": ["must be an object"]})
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if "title" in body or not partial:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            errors["title"] = ["required: a non-empty string"]
        elif len(title) > MAX_TITLE:
            errors["title"] = [f"at most {MAX_TITLE} characters"]
        else:
            changes["title"] = title.strip()
    if "done" in body:
        if isinstance(body["done"], bool):
            changes["done"] = body["done"]
        else:
            errors["done"] = ["must be true or false"]
    if errors:
        raise HTTPError(422, "the todo is not valid", errors=errors)
    return changes

"""The todos REST API: six handlers on one router.

``GET /api/todos`` lists a page, ``POST`` creates; ``GET``, ``PUT``,
``PATCH`` and ``DELETE /api/todos/<id>`` read, replace, update and delete
one todo.  Schemas (:mod:`.schemas`) validate every input before a handler
runs and shape every output; a handler only talks to the database.

Each handler opens exactly one transaction, around its own statements:
the connection is checked out only after routing and validation have
passed (a 404 or 422 never touches the pool), and it is committed before
the handler returns, so a failed commit still becomes the error response
(the response is emitted only after the handler) and a client never sees
a 201 for a row that was not stored.
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from microapi import HTTPError, Request, Res, Router

from .db import Database, todos
from .schemas import TodoCreate, TodoList, TodoOut, TodoPatch, TodoQuery, TodoReplace

__all__ = ["router"]

#: The todos routes, included by :func:`examples.todos.wsgi.create_api`.
router = Router(prefix="/api/todos", tags=["todos"])

# The largest id a driver binds (SQLite refuses larger Python ints with an
# OverflowError, which would be a 500): larger ids simply do not exist.
_MAX_ID = 2**63 - 1


def _database(req: Request) -> Database:
    # Put there by the app's use_database middleware (see wsgi.create_api).
    database: Database = req.state.db
    return database


def _todo_id(req: Request) -> int:
    todo_id: int = req.params["id"]
    if todo_id > _MAX_ID:
        raise _not_found(todo_id)
    return todo_id


def _not_found(todo_id: int) -> HTTPError:
    return HTTPError(404, f"todo {todo_id} not found")


@router.route("/", query=TodoQuery, response=TodoList)
def list_todos(req: Request, res: Res) -> dict[str, Any]:
    """List todos, oldest first, one page at a time.

    ``total`` counts every todo matching the ``done`` filter, so a client
    can tell how many pages there are.
    """
    query = req.query
    where = [todos.c.done == query["done"]] if "done" in query else []
    with _database(req).transaction() as connection:
        # One transaction: on SQLite the count and the page share a snapshot.
        total = connection.execute(
            select(func.count()).select_from(todos).where(*where)
        ).scalar_one()
        rows = connection.execute(
            select(todos)
            .where(*where)
            .order_by(todos.c.id)
            .limit(query["limit"])
            .offset(query["offset"])
        ).mappings()
        items = [dict(row) for row in rows]
    return {"items": items, "total": total, "limit": query["limit"], "offset": query["offset"]}


@router.route("/", methods=["POST"], body=TodoCreate, response=TodoOut, status=201)
def create_todo(req: Request, res: Res) -> dict[str, Any]:
    """Create a todo; its URL is in the ``Location`` header."""
    body = req.body
    now = datetime.datetime.now(datetime.timezone.utc)
    with _database(req).transaction(write=True) as connection:
        row = (
            connection.execute(
                insert(todos)
                .values(title=body["title"], done=body["done"], created_at=now)
                .returning(todos)
            )
            .mappings()
            .one()
        )
    res.set_header("Location", req.url_for("get_todo", id=row["id"]))
    return dict(row)


@router.route("/<int:id>", response=TodoOut)
def get_todo(req: Request, res: Res) -> dict[str, Any]:
    """Read one todo."""
    todo_id = _todo_id(req)
    with _database(req).transaction() as connection:
        row = connection.execute(select(todos).where(todos.c.id == todo_id)).mappings().first()
    if row is None:
        raise _not_found(todo_id)
    return dict(row)


@router.route("/<int:id>", methods=["PUT"], body=TodoReplace, response=TodoOut)
def replace_todo(req: Request, res: Res) -> dict[str, Any]:
    """Replace a todo's title and state (both required)."""
    return _update(req, req.body)


@router.route("/<int:id>", methods=["PATCH"], body=TodoPatch, response=TodoOut)
def update_todo(req: Request, res: Res) -> dict[str, Any]:
    """Change some of a todo's fields; the others are kept."""
    return _update(req, req.body)


def _update(req: Request, values: dict[str, Any]) -> dict[str, Any]:
    todo_id = _todo_id(req)
    where = todos.c.id == todo_id
    with _database(req).transaction(write=bool(values)) as connection:
        if values:
            # UPDATE ... RETURNING: one statement, so no read-then-write race.
            statement: Any = update(todos).where(where).values(**values).returning(todos)
        else:
            statement = select(todos).where(where)  # PATCH {}: nothing to change
        row = connection.execute(statement).mappings().first()
    if row is None:
        raise _not_found(todo_id)
    return dict(row)


@router.route("/<int:id>", methods=["DELETE"], status=204)
def delete_todo(req: Request, res: Res) -> Res:
    """Delete a todo."""
    todo_id = _todo_id(req)
    with _database(req).transaction(write=True) as connection:
        deleted = connection.execute(delete(todos).where(todos.c.id == todo_id)).rowcount
    if not deleted:
        raise _not_found(todo_id)
    return res.end()

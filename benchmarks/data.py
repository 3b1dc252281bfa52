"""What the apps of the data scenarios share: the marshmallow schema and the SQLite store.

``post_valid`` and ``post_invalid`` load the body with :class:`TodoIn` (microapi
through ``body=``, every other framework by hand). ``todos_sqlite`` reads
through a :class:`TodoStore`: one read-only connection per app, reused for
every request, on a database file created once per run (see
:func:`database_path`), so every framework pays the same for SQLite and the
difference is its own cost.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import tempfile
import threading
from pathlib import Path

from marshmallow import Schema, fields, validate

from benchmarks.scenarios import TODO_PAGE, todo_rows

#: Environment variable naming an existing database file; the server mode sets
#: it so that its gunicorn workers share the file it created once.
DATABASE_ENV = "MICROAPI_BENCH_TODOS_DB"

_QUERY = "SELECT id, title, done FROM todos ORDER BY id LIMIT ?"
_created: list[str] = []
_create_lock = threading.Lock()


class TodoIn(Schema):
    """The body of ``POST /todos``: a title of 1 to 200 characters, ``done`` false by default."""

    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    done = fields.Bool(load_default=False)


def create_database(path: str | os.PathLike[str]) -> None:
    """Write the ``todos`` table, filled with :func:`~benchmarks.scenarios.todo_rows`."""
    connection = sqlite3.connect(path)
    try:
        with connection:
            connection.execute(
                "CREATE TABLE todos (id INTEGER PRIMARY KEY, title TEXT NOT NULL,"
                " done INTEGER NOT NULL)"
            )
            connection.executemany(
                "INSERT INTO todos (id, title, done) VALUES (:id, :title, :done)", todo_rows()
            )
    finally:
        connection.close()


def database_path() -> str:
    """The database file: ``$MICROAPI_BENCH_TODOS_DB``, or one made once per process.

    A made one lives in a temporary directory removed when the process exits.
    """
    configured = os.environ.get(DATABASE_ENV)
    if configured:
        return configured
    with _create_lock:
        if not _created:
            directory = tempfile.TemporaryDirectory(prefix="microapi-bench-")
            atexit.register(directory.cleanup)
            path = str(Path(directory.name, "todos.sqlite3"))
            create_database(path)
            _created.append(path)
        return _created[0]


class TodoStore:
    """One app's read-only connection to the todos database."""

    def __init__(self, path: str | None = None) -> None:
        uri = Path(path or database_path()).resolve().as_uri() + "?mode=ro"
        # NOTE: gunicorn's gthread workers call one app from several threads;
        # the lock keeps them off the connection at the same time.
        self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._lock = threading.Lock()

    def first(self, limit: int = TODO_PAGE) -> list[dict[str, object]]:
        """The first *limit* todos by id, as JSON-ready dicts."""
        with self._lock:
            rows = self._connection.execute(_QUERY, (limit,)).fetchall()
        return [{"id": id, "title": title, "done": bool(done)} for id, title, done in rows]

"""The database the routes share: one SQLite file, created on first use.

The article's ``lib/prisma.ts``, with the standard library's :mod:`sqlite3`.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The environment variable naming the database file.
DATABASE_ENV = "PAGES_DATABASE"
#: Where the database lives when the variable is not set.
DEFAULT_DATABASE = Path(tempfile.gettempdir()) / "microapi-pages" / "pages.sqlite3"

SCHEMA = """
CREATE TABLE IF NOT EXISTS todos (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
"""


def database_path() -> Path:
    """The database file: ``$PAGES_DATABASE``, or a file in the temp directory."""
    return Path(os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE)


@contextmanager
def connect() -> Iterator[sqlite3.Connection]:
    """Open the database for one request, as one transaction.

    Commits when the block ends, rolls back when it raises.  The file and
    its tables are created on first use.
    """
    path = database_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # NOTE: one connection per request: sqlite3 connections must not cross
    # threads, and gunicorn's gthread workers serve requests on several.
    connection = sqlite3.connect(path, timeout=5)
    try:
        connection.row_factory = sqlite3.Row
        # IF NOT EXISTS makes this a cheap no-op once the tables exist.
        connection.executescript(SCHEMA)
        with connection:
            yield connection
    finally:
        connection.close()

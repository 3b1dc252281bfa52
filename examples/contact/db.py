"""Messages in one SQLite file, created on first use."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["DATABASE_ENV", "Messages"]

#: The environment variable naming the database file.
DATABASE_ENV = "CONTACT_DATABASE"
#: The default database: next to this file, whatever the working directory.
DEFAULT_DATABASE = Path(__file__).resolve().parent / "contact.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
"""


class Messages:
    """The ``messages`` table of the SQLite file at *path*.

    :param path: the database file (default: ``$CONTACT_DATABASE``, else
        ``contact.db`` next to this file), in a directory that must exist.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE)

    def _connect(self) -> sqlite3.Connection:
        # NOTE: one connection per call: sqlite3 connections must not cross
        # threads, and gunicorn's gthread workers serve requests on several.
        connection = sqlite3.connect(self.path, timeout=5)
        connection.row_factory = sqlite3.Row
        connection.executescript(SCHEMA)
        return connection

    def add(self, name: str, email: str, message: str) -> int:
        """Store a message; return its id."""
        connection = self._connect()
        try:
            with connection:
                cursor = connection.execute(
                    "INSERT INTO messages (name, email, message) VALUES (?, ?, ?)",
                    (name, email, message),
                )
        finally:
            connection.close()
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def all(self) -> list[dict[str, Any]]:
        """Every message, oldest first."""
        connection = self._connect()
        try:
            rows = connection.execute(
                "SELECT id, name, email, message FROM messages ORDER BY id"
            ).fetchall()
        finally:
            connection.close()
        return [dict(row) for row in rows]

"""Users in one SQLite file: the example's whole storage.

The standard library's :mod:`sqlite3`, one connection per request (sqlite3
connections must not cross threads, and gunicorn's gthread workers serve
requests on several).  Passwords are stored as werkzeug's salted
``scrypt`` hashes, never in clear.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

__all__ = ["DATABASE_ENV", "Users"]

#: The environment variable naming the database file.
DATABASE_ENV = "AUTH_DATABASE"
#: The default database: next to this file, whatever the working directory.
DEFAULT_DATABASE = Path(__file__).resolve().parent / "auth.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
"""

# Checked when the email is unknown, so that "no such user" takes as long
# as "wrong password" and response times do not reveal who has an account.
_DUMMY_HASH = generate_password_hash("not a password")


class Users:
    """The ``users`` table of the SQLite file at *path*.

    :param path: the database file (default: ``$AUTH_DATABASE``, else
        ``auth.db`` next to this file); created with its table on first use, in a
        directory that must exist.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=5)
        try:
            connection.row_factory = sqlite3.Row
            connection.executescript(SCHEMA)
            with connection:  # one transaction: commit, or roll back on error
                yield connection
        finally:
            connection.close()

    def create(self, email: str, name: str, password: str) -> dict[str, Any] | None:
        """Add a user; ``None`` when the email is taken."""
        password_hash = generate_password_hash(password)
        try:
            with self._connect() as db:
                cursor = db.execute(
                    "INSERT INTO users (email, name, password_hash) VALUES (?, ?, ?)",
                    (email, name, password_hash),
                )
        except sqlite3.IntegrityError:
            return None
        return {"id": cursor.lastrowid, "email": email, "name": name}

    def get(self, user_id: object) -> dict[str, Any] | None:
        """The user with *user_id*, or ``None``."""
        if not isinstance(user_id, int):
            return None
        with self._connect() as db:
            row = db.execute(
                "SELECT id, email, name FROM users WHERE id = ?", (user_id,)
            ).fetchone()
        return dict(row) if row is not None else None

    def authenticate(self, email: str, password: str) -> dict[str, Any] | None:
        """The user with this email and password, or ``None`` (same time either way)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT id, email, name, password_hash FROM users WHERE email = ?", (email,)
            ).fetchone()
        if row is None:
            check_password_hash(_DUMMY_HASH, password)
            return None
        if not check_password_hash(row["password_hash"], password):
            return None
        return {"id": row["id"], "email": row["email"], "name": row["name"]}

    def rename(self, user_id: int, name: str) -> None:
        """Change a user's display name."""
        with self._connect() as db:
            db.execute("UPDATE users SET name = ? WHERE id = ?", (name, user_id))

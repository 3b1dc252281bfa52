"""Users in a SQL database: SQLite on one host, PostgreSQL for many.

SQLAlchemy 2 Core over the todos example's :class:`~examples.todos.db.Database`
(engines made lazily, once per process; SQLite in WAL mode with a busy
timeout; psycopg 3 for PostgreSQL), with a ``users`` table of its own.
Several app hosts share their users by sharing the PostgreSQL database:
``AUTH_DATABASE_URL``, else ``DATABASE_URL`` (the todos' database, where the
table sits beside theirs), else a SQLite file next to this module.

Passwords are stored as werkzeug's salted ``scrypt`` hashes, never in clear.

Emails are one account whatever their case, in every script: "ÉMILE@x.fr"
and "émile@x.fr" are the same user.  :func:`normalize_email` gives the
form stored and looked up (NFC, lowercased by Python); the databases'
``lower()`` is not enough on its own, as it folds ASCII only on SQLite and
follows the server's locale on PostgreSQL.  The unique index on
``lower(email)`` still keeps rows written by other tools case-insensitive.
"""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, func, insert, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from examples.todos.db import DATABASE_ENV as SHARED_DATABASE_ENV
from examples.todos.db import Database

__all__ = [
    "DATABASE_ENV",
    "DEFAULT_URL",
    "EMAIL_LENGTH",
    "NAME_LENGTH",
    "SHARED_DATABASE_ENV",
    "Users",
    "metadata",
    "normalize_email",
    "users",
]

#: The environment variable naming the users' database; without it,
#: :data:`SHARED_DATABASE_ENV` (``DATABASE_URL``) is used.
DATABASE_ENV = "AUTH_DATABASE_URL"
#: The database used when neither variable is set: a SQLite file next to
#: this module (absolute, so the server's working directory does not matter).
DEFAULT_URL = f"sqlite:///{Path(__file__).resolve().parent / 'auth.db'}"
#: The longest email, in characters (RFC 5321's limit on a path, less "<>").
EMAIL_LENGTH = 254
#: The longest display name, in characters.
NAME_LENGTH = 100

#: The tables of the example.
metadata = MetaData()

#: One row per account.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(EMAIL_LENGTH), nullable=False),
    Column("name", String(NAME_LENGTH), nullable=False),
    # werkzeug's "scrypt:32768:8:1$<salt>$<hash>": about 150 characters.
    Column("password_hash", String(255), nullable=False),
)
Index("users_email_lower_key", func.lower(users.c.email), unique=True)

# The largest id a driver binds (SQLite refuses larger Python ints with an
# OverflowError): larger ids simply do not exist.
_MAX_ID = 2**63 - 1

# Checked when the email is unknown, so that "no such user" takes as long
# as "wrong password" and response times do not reveal who has an account.
_DUMMY_HASH = generate_password_hash("not a password")

_PUBLIC = (users.c.id, users.c.email, users.c.name)


def normalize_email(email: str) -> str:
    """The form of *email* that is stored and compared: NFC, then lowercased.

    NFC first, so that "é" typed as one code point or as "e" and a combining
    accent is one address.  Python's ``lower()`` (Unicode's default case
    mapping, not ``casefold()``: "straße" and "strasse" stay two addresses).
    """
    return unicodedata.normalize("NFC", email.lower())


def _default_url() -> str:
    return os.environ.get(DATABASE_ENV) or os.environ.get(SHARED_DATABASE_ENV) or DEFAULT_URL


class Users:
    """The ``users`` table: accounts, their password hashes, and logins.

    Nothing connects here: the table is created by each process's first
    use.  Database errors propagate (SQLAlchemy's); the app answers those
    that mean "busy or unreachable" with 503.

    :param url: a SQLAlchemy URL; ``None`` reads :data:`DATABASE_ENV`, else
        :data:`SHARED_DATABASE_ENV`, else :data:`DEFAULT_URL`.
    :param options: :class:`~examples.todos.db.Database`'s settings
        (``busy_timeout=``, ``connect_timeout=``).
    """

    def __init__(self, url: str | URL | None = None, **options: float) -> None:
        #: Where the users live.
        self.database = Database(url or _default_url(), metadata=metadata, **options)

    def __repr__(self) -> str:
        return f"Users({self.database!r})"

    def create(self, email: str, name: str, password: str) -> dict[str, Any] | None:
        """Add a user; ``None`` when the email is taken (in any case)."""
        # Hashed before the transaction: scrypt is slow, the write lock is shared.
        password_hash = generate_password_hash(password)
        email = normalize_email(email)
        statement = (
            insert(users)
            .values(email=email, name=name, password_hash=password_hash)
            .returning(users.c.id)
        )
        try:
            with self.database.transaction(write=True) as connection:
                user_id = connection.execute(statement).scalar_one()
        except IntegrityError:  # the unique index on lower(email)
            return None
        return {"id": user_id, "email": email, "name": name}

    def get(self, user_id: object) -> dict[str, Any] | None:
        """The user with *user_id*, or ``None`` (for anything but an int id too)."""
        # NOTE: bool is an int, and a session or token payload is JSON.
        if type(user_id) is not int or not 0 < user_id <= _MAX_ID:
            return None
        with self.database.transaction() as connection:
            row = connection.execute(select(*_PUBLIC).where(users.c.id == user_id)).first()
        return dict(row._mapping) if row is not None else None

    def authenticate(self, email: str, password: str) -> dict[str, Any] | None:
        """The user with this email and password, or ``None`` (same time either way)."""
        lookup = select(*_PUBLIC, users.c.password_hash).where(
            func.lower(users.c.email) == func.lower(normalize_email(email))
        )
        with self.database.transaction() as connection:
            row = connection.execute(lookup).first()
        # The hash is checked outside the transaction: no connection is held
        # for scrypt's tens of milliseconds.
        if row is None:
            check_password_hash(_DUMMY_HASH, password)
            return None
        if not check_password_hash(row.password_hash, password):
            return None
        return {"id": row.id, "email": row.email, "name": row.name}

    def rename(self, user_id: int, name: str) -> None:
        """Change a user's display name."""
        with self.database.transaction(write=True) as connection:
            connection.execute(update(users).where(users.c.id == user_id).values(name=name))

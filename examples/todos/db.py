"""Storage for the todos: SQLAlchemy 2 Core over SQLite or PostgreSQL.

The article's ``lib/prisma.ts``.  One :class:`Database` per app holds the
URL, settings and tables; its engine is made lazily, once per process,
because gunicorn (``microapi serve`` preloads the app) forks workers after
import and a connection pool must never cross a fork.  Handlers open one
transaction per request with :meth:`Database.transaction`, and
:func:`answer_unavailable` turns a busy or unreachable database into a 503.
Other examples reuse both with tables of their own (``examples/auth``).

- SQLite (the default, ``var/todos.db`` under the repository root): WAL
  mode, so readers never wait for the writer, and a busy timeout, so
  writers queue instead of failing at once.  Both are set by PRAGMAs on
  every new connection.
- PostgreSQL (``DATABASE_URL=postgresql://...``), for several hosts: the
  psycopg 3 driver.
"""

from __future__ import annotations

import datetime
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    TypeDecorator,
    create_engine,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from microapi import Api, Request, Res
from microapi.errors import PROBLEM_CONTENT_TYPE, HTTPError, to_problem

__all__ = [
    "DATABASE_ENV",
    "DEFAULT_URL",
    "RETRY_AFTER",
    "TITLE_LENGTH",
    "Database",
    "answer_unavailable",
    "is_unavailable",
    "metadata",
    "normalize_url",
    "todos",
]

#: The environment variable naming the database.
DATABASE_ENV = "DATABASE_URL"
#: The repository root: the default database lives in its ``var/``.
ROOT = Path(__file__).resolve().parents[2]
#: The database used when :data:`DATABASE_ENV` is not set (absolute, so the
#: server's working directory does not matter).
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'todos.db'}"
#: The longest title, in characters.
TITLE_LENGTH = 200
#: Seconds a client should wait before retrying a 503.
RETRY_AFTER = 1

# SQLite's primary result codes for "another connection holds the lock"
# (sqlite3.SQLITE_BUSY and SQLITE_LOCKED, which typeshed does not declare).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
# PostgreSQL SQLSTATE classes and codes that mean "try again shortly":
# connection exceptions, insufficient resources, operator intervention
# (shutdown, starting up); serialization failures, deadlocks, lock timeouts.
_PG_RETRY_CLASSES = frozenset({"08", "53", "57"})
_PG_RETRY_CODES = frozenset({"40001", "40P01", "55P03"})
# Serializes table creation across the workers of a PostgreSQL database
# (an arbitrary constant: the advisory lock's key).
_PG_SCHEMA_LOCK = 7_460_501


class UTCDateTime(TypeDecorator[datetime.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    PostgreSQL keeps the zone (``timestamptz``); SQLite stores text without
    it, so naive values read back are UTC by construction.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is not None:
            value = value.astimezone(datetime.timezone.utc)
        return value

    def process_result_value(
        self, value: datetime.datetime | None, dialect: Dialect
    ) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=datetime.timezone.utc)
        return value.astimezone(datetime.timezone.utc)


#: The tables of the example.
metadata = MetaData()

#: One row per todo.
todos = Table(
    "todos",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(TITLE_LENGTH), nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
)


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL, choosing psycopg 3 for PostgreSQL.

    ``postgresql://`` (and Heroku's ``postgres://``) would select
    SQLAlchemy's default driver, psycopg2, which is not installed:
    they become ``postgresql+psycopg://``.  Other URLs are kept.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _use_wal(cursor: Any, timeout: float) -> None:
    # WAL is a property of the file, kept once set.  NOTE: switching a new
    # file fails at once with "database is locked" (no busy wait) while
    # another worker is switching it too, as workers starting together do:
    # retry until one has, within the busy timeout.
    deadline = time.monotonic() + timeout
    while cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def is_unavailable(exc: BaseException) -> bool:
    """Tell whether a database error is transient (worth a 503 and a retry).

    True for a locked SQLite database, a refused or lost PostgreSQL
    connection, an exhausted connection pool, and PostgreSQL's "try again"
    errors (shutdown, too many connections, serialization failure,
    deadlock); false for bugs such as a missing table or bad SQL.
    """
    if isinstance(exc, PoolTimeoutError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if code is not None:
        # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code
        # in their low byte.
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return sqlstate[:2] in _PG_RETRY_CLASSES or sqlstate in _PG_RETRY_CODES
    # NOTE: psycopg reports client-side failures (connection refused, server
    # gone, connect timeout) as OperationalError without a SQLSTATE.
    return isinstance(exc, OperationalError)


class Database:
    """The app's database: a URL, its settings, and a per-process engine.

    :param url: a SQLAlchemy URL; ``None`` reads :data:`DATABASE_ENV`,
        else :data:`DEFAULT_URL`.  ``postgresql://`` uses psycopg 3.
    :param busy_timeout: SQLite only: how long, in seconds, a write waits
        for another connection's lock before failing as "database is
        locked" (answered 503).
    :param connect_timeout: PostgreSQL only: how long, in seconds, opening
        a connection may take, so an unreachable server is a prompt 503.
    :param metadata: the tables, created (when missing) by each process's
        first use; default: the todos' :data:`metadata`.
    """

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        busy_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        metadata: MetaData = metadata,
    ) -> None:
        if url is None:
            url = os.environ.get(DATABASE_ENV) or DEFAULT_URL
        #: The parsed URL (driver chosen).
        self.url = normalize_url(url)
        #: The tables this database holds.
        self.metadata = metadata
        #: SQLite's busy timeout, in seconds.
        self.busy_timeout = busy_timeout
        #: PostgreSQL's connect timeout, in seconds.
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        # (pid, engine): read and replaced as one value, so a thread never
        # sees the engine of one process paired with the pid of another.
        self._current: tuple[int, Engine] | None = None

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite."""
        return self.url.get_backend_name() == "sqlite"

    @property
    def engine(self) -> Engine:
        """This process's engine, made (and the tables created) on first use.

        A process forked after the engine was made (a gunicorn worker of a
        preloaded app) gets its own: pooled connections are sockets and
        file handles that must not be shared by two processes.
        """
        pid = os.getpid()
        current = self._current
        if current is not None and current[0] == pid:
            return current[1]
        with self._lock:
            current = self._current
            if current is not None and current[0] == pid:
                return current[1]
            if current is not None:
                # NOTE: close=False drops the parent's pooled connections
                # without closing them, which would end them for the parent.
                current[1].dispose(close=False)
            engine = self._create_engine()
            self._current = (pid, engine)
            return engine

    def dispose(self) -> None:
        """Close every pooled connection; the next use makes a new engine."""
        with self._lock:
            current, self._current = self._current, None
        if current is not None and current[0] == os.getpid():
            current[1].dispose()

    @contextmanager
    def transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """Open a connection and a transaction, committed when the block ends.

        The block's exception rolls it back and propagates.

        Without *write*, every statement of the block reads the same
        snapshot of the database.

        :param write: on SQLite, take the write lock at ``BEGIN``
            (``BEGIN IMMEDIATE``), so a busy database makes the request wait
            up to the busy timeout, then fail before anything is done;
            a deferred ``BEGIN`` that reads first could instead fail at once
            when it upgrades to writing.  Ignored by PostgreSQL, whose rows
            are locked as they are written.
        """
        with self.engine.connect() as connection:
            if write:
                connection.execution_options(write=True)
            elif not self.is_sqlite:
                # NOTE: PostgreSQL's default, READ COMMITTED, gives every
                # statement its own snapshot, so a page and its count could
                # disagree under concurrent writes; REPEATABLE READ gives the
                # transaction one, as SQLite does (read-only transactions
                # never fail with serialization errors at that level).
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    # -- engine construction -------------------------------------------------

    def _create_engine(self) -> Engine:
        if self.is_sqlite:
            engine = self._create_sqlite_engine()
        else:
            connect_args: dict[str, Any] = {}
            if self.url.get_backend_name() == "postgresql":
                connect_args["connect_timeout"] = max(1, round(self.connect_timeout))
            # pool_pre_ping: a pooled connection that a PostgreSQL restart
            # closed is replaced instead of failing the request.
            engine = create_engine(self.url, pool_pre_ping=True, connect_args=connect_args)
        try:
            self._create_tables(engine)
        except SQLAlchemyError:
            # Not kept: the next request tries again (the lock may be gone).
            engine.dispose()
            raise
        return engine

    def _create_sqlite_engine(self) -> Engine:
        database = self.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            # "Created on first start": the directory too (var/ by default).
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(self.url)
        busy_ms = max(0, round(self.busy_timeout * 1000))

        @event.listens_for(engine, "connect")
        def set_pragmas(dbapi_connection: Any, record: Any) -> None:
            # NOTE: sqlite3's own transaction handling starts transactions
            # only before writes, so a request's reads would not share one
            # snapshot; turn it off and emit BEGIN in on_begin below (the
            # recipe in SQLAlchemy's SQLite dialect documentation).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            try:
                # The busy timeout first: switching to WAL may wait for a lock.
                cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
                _use_wal(cursor, busy_ms / 1000)
            finally:
                cursor.close()

        @event.listens_for(engine, "begin")
        def on_begin(connection: Connection) -> None:
            write = connection.get_execution_options().get("write", False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def _create_tables(self, engine: Engine) -> None:
        # Every worker runs this on its first request.  Look first, in a read
        # transaction: a worker started while another process holds the write
        # lock (a long write, a migration) must still serve reads.
        with engine.connect() as connection:
            with connection.begin():
                inspector = inspect(connection)
                if all(
                    inspector.has_table(table.name, schema=table.schema)
                    for table in self.metadata.sorted_tables
                ):
                    return
            # Workers starting together may all get here: serialize them so
            # that one creates and the others see it.
            connection.execution_options(write=True)  # SQLite: BEGIN IMMEDIATE
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(select(func.pg_advisory_xact_lock(_PG_SCHEMA_LOCK)))
                self.metadata.create_all(connection)


def _describe(error: BaseException) -> str:
    """The error's type and the first line of its message, for one log line."""
    message = str(error).strip().partition("\n")[0]
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def answer_unavailable(api: Api, log: logging.Logger) -> None:
    """Answer *api*'s busy or unreachable database with 503 and Retry-After.

    Registers an error handler for every SQLAlchemy error; those that
    :func:`is_unavailable` does not recognise are bugs, left to microapi's
    unhandled-exception path: a logged 500 (traceback and request id in the
    log, no SQL in the response).

    :param log: where each 503 is logged, one WARNING line.
    """

    @api.errorhandler(SQLAlchemyError)
    def database_error(req: Request, res: Res, exc: SQLAlchemyError) -> None:
        if not is_unavailable(exc):
            return
        # One line, no traceback: an expected condition, not a bug.  The path
        # as a repr: WSGI paths arrive percent-decoded, and a decoded newline
        # must not start a forged log line.
        log.warning(
            "database unavailable in %s %r [request_id=%s]: %s",
            req.method,
            req.path,
            req.id,
            _describe(getattr(exc, "orig", None) or exc),  # the driver's error
            extra={"request_id": req.id},
        )
        status, problem, headers = to_problem(
            HTTPError(
                503,
                "the database is busy or unreachable; retry shortly",
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        )
        res.status(status)
        for name, value in headers:
            res.set_header(name, value)
        res.set_header("Content-Type", PROBLEM_CONTENT_TYPE).json(problem)

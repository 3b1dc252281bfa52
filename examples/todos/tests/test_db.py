"""The todos database layer: URLs, SQLite settings, engines per process, and 503s."""

from __future__ import annotations

import datetime
import logging
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from examples.todos import db as db_module
from examples.todos.db import DEFAULT_URL, ROOT, Database, is_unavailable, normalize_url, todos
from examples.todos.wsgi import create_api
from microapi.testing import TestClient, TestResponse
from tests.helpers import assert_problem


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db.example/todos", "postgresql+psycopg://u:***@db.example/todos"),
        ("postgres://u@db.example:5433/todos", "postgresql+psycopg://u@db.example:5433/todos"),
        ("postgresql+psycopg://u@h/todos", "postgresql+psycopg://u@h/todos"),
        ("sqlite:///var/todos.db", "sqlite:///var/todos.db"),
    ],
)
def test_urls_choose_psycopg_for_postgresql(url: str, expected: str) -> None:
    assert normalize_url(url).render_as_string(hide_password=True) == expected


def test_the_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    default = Database()
    assert str(default.url) == DEFAULT_URL == f"sqlite:///{ROOT / 'var' / 'todos.db'}"
    assert default.url.database == str(ROOT / "var" / "todos.db")  # absolute: cwd-proof
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db.example/todos")
    assert str(Database().url) == "postgresql+psycopg://app@db.example/todos"
    assert repr(Database("postgresql://app:secret@h/t")) == (
        "Database('postgresql+psycopg://app:***@h/t')"
    )


def test_sqlite_is_created_with_its_directory_wal_and_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "todos.db"
    database = Database(f"sqlite:///{path}", busy_timeout=0.25)
    try:
        with database.transaction() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 250
            tables = connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars()
            assert "todos" in list(tables)
    finally:
        database.dispose()
    assert path.is_file()


def test_one_engine_per_process(sqlite_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = sqlite_db.engine
    assert sqlite_db.engine is engine
    engine.dispose()  # as a forked child must not: the parent owns its connections
    with monkeypatch.context() as patch:
        patch.setattr(db_module.os, "getpid", lambda: -1)  # "a forked worker"
        child = sqlite_db.engine
        assert child is not engine
        assert sqlite_db.engine is child
        sqlite_db.dispose()
    assert sqlite_db.engine is not child  # disposed: made again on next use


@pytest.fixture
def locked(sqlite_db: Database) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock from another connection, as a busy writer would."""
    path = sqlite_db.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode = WAL")
        holder.execute("BEGIN IMMEDIATE")
        yield holder
        holder.execute("ROLLBACK")
    finally:
        holder.close()


def assert_unavailable(response: TestResponse) -> None:
    problem = assert_problem(response, 503)
    assert response.headers["Retry-After"] == "1"
    assert problem["detail"] == "the database is busy or unreachable; retry shortly"
    assert "sql" not in response.get_data(as_text=True).lower()


def test_a_locked_database_is_503_with_retry_after(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(create_api(sqlite_db))
    todo = client.post("/api/todos", json={"title": "before the lock"}).json
    url = f"/api/todos/{todo['id']}"
    path = sqlite_db.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with caplog.at_level(logging.WARNING):
            assert_unavailable(client.post("/api/todos", json={"title": "during"}))
            assert_unavailable(client.put(url, json={"title": "during", "done": True}))
            assert_unavailable(client.patch(url, json={"done": True}))
            assert_unavailable(client.delete(url))
            # WAL: readers do not wait for the writer.
            assert client.get(url).json == todo
            assert client.get("/api/todos").json["total"] == 1
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    assert not [record for record in caplog.records if record.name == "microapi.error"]
    warnings = [record for record in caplog.records if record.name == "examples.todos"]
    assert len(warnings) == 4
    assert "database unavailable in POST '/api/todos' [request_id=" in warnings[0].getMessage()
    assert client.post("/api/todos", json={"title": "after"}).status_code == 201
    assert client.get("/api/todos").json["total"] == 2


def test_a_database_locked_at_first_use_is_503_then_recovers(
    sqlite_db: Database, locked: sqlite3.Connection
) -> None:
    client = TestClient(create_api(sqlite_db))
    # The tables are created on first use, under the write lock.
    assert_unavailable(client.get("/api/todos"))
    locked.execute("ROLLBACK")
    locked.execute("BEGIN")  # the fixture's ROLLBACK ends this one
    assert client.get("/api/todos").json["total"] == 0
    assert client.post("/api/todos", json={"title": "t"}).status_code == 201


def test_a_worker_starting_while_the_lock_is_held_serves_reads(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    TestClient(create_api(sqlite_db)).post("/api/todos", json={"title": "before"})
    # Another worker (its own engine) starts while a writer holds the lock.
    worker = Database(sqlite_db.url, busy_timeout=0.1)
    path = sqlite_db.url.database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        client = TestClient(create_api(worker))
        with caplog.at_level(logging.WARNING):
            assert client.get("/api/todos").json["total"] == 1
            assert_unavailable(client.post("/api/todos", json={"title": "during"}))
        holder.execute("ROLLBACK")
    finally:
        holder.close()
        worker.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.name == "examples.todos"]
    assert len(warnings) == 1
    # The driver's error and its message: what an operator needs to tell causes apart.
    assert warnings[0].endswith("]: OperationalError: database is locked")


def test_an_unreachable_postgresql_is_503() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = Database(f"postgresql://todos@127.0.0.1:{port}/todos", connect_timeout=2)
    try:
        client = TestClient(create_api(database))
        assert_unavailable(client.get("/api/todos"))
        assert_unavailable(client.post("/api/todos", json={"title": "t"}))
    finally:
        database.dispose()


def test_what_counts_as_unavailable() -> None:
    assert is_unavailable(PoolTimeoutError("QueuePool limit reached"))
    assert not is_unavailable(ValueError("not a database error"))


def test_the_reads_of_a_transaction_share_one_snapshot(database: Database) -> None:
    # A page and its total must agree while others write (PostgreSQL reads
    # at REPEATABLE READ; SQLite's deferred BEGIN has one snapshot).
    now = datetime.datetime.now(datetime.timezone.utc)
    count = select(func.count()).select_from(todos)
    with database.transaction(write=True) as connection:
        connection.execute(todos.insert().values(title="a", done=False, created_at=now))
    with database.transaction() as reader:
        first = reader.execute(count).scalar_one()
        with database.transaction(write=True) as writer:
            writer.execute(todos.insert().values(title="b", done=False, created_at=now))
        assert reader.execute(count).scalar_one() == first == 1
    with database.transaction() as connection:
        assert connection.execute(count).scalar_one() == 2

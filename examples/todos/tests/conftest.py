"""Databases for the todos tests: a SQLite file, and a real PostgreSQL.

PostgreSQL comes from the ``pgserver`` wheel: one server per test session
(listening on a Unix socket only, no TCP), one fresh database per test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from examples.todos.db import Database
from examples.todos.wsgi import create_api
from microapi.testing import TestClient

# Short, so that the lock tests wait 50 ms, not the default 5 s.
BUSY_TIMEOUT = 0.05


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Start a PostgreSQL server for the session; stop and delete it after."""
    runtime = tmp_path_factory.mktemp("pgruntime")
    runtime.chmod(0o700)  # platformdirs refuses (with a warning) anything laxer
    with pytest.MonkeyPatch.context() as patch:
        # NOTE: pgserver picks its lock and socket directory from
        # XDG_RUNTIME_DIR when imported, and warns when it is unset.
        patch.setenv("XDG_RUNTIME_DIR", str(runtime))
        import pgserver

        server = pgserver.get_server(
            tmp_path_factory.mktemp("postgres") / "data", cleanup_mode="delete"
        )
    try:
        yield server
    finally:
        server.cleanup()


def _create_postgres_database(server: Any) -> tuple[str, str]:
    name = f"todos_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, server.get_uri(name)


def _drop_postgres_database(server: Any, name: str) -> None:
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database of each kind; its engine is disposed after the test."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'todos.db'}", busy_timeout=BUSY_TIMEOUT)
        try:
            yield db
        finally:
            db.dispose()
        return
    server = request.getfixturevalue("postgres")
    name, url = _create_postgres_database(server)
    db = Database(url)
    try:
        yield db
    finally:
        db.dispose()
        _drop_postgres_database(server, name)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    """A SQLite database only, for what is SQLite's own (locks, PRAGMAs)."""
    db = Database(f"sqlite:///{tmp_path / 'todos.db'}", busy_timeout=BUSY_TIMEOUT)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def client(database: Database) -> TestClient:
    """A test client for the todos app over each kind of database."""
    return TestClient(create_api(database))

"""Fixtures for every test directory (tests/ and examples/*/tests/).

PostgreSQL comes from the ``pgserver`` wheel: one server per test session
(listening on a Unix socket only, no TCP), shared by every directory that
asks for it; each test that wants one gets a fresh database of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.helpers import SERVERS


@pytest.fixture(params=SERVERS)
def server_name(request: pytest.FixtureRequest) -> str:
    """Each production server in turn: a test taking it runs on gunicorn and on granian."""
    name: str = request.param
    return name


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


def _execute_on_server(server: Any, statement: sql.Composable) -> None:
    # CREATE and DROP DATABASE cannot run inside a transaction.
    with psycopg.connect(server.get_uri(), autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each kind, by URL: a new SQLite file, a new PostgreSQL database.

    The PostgreSQL database is dropped after the test, connections and all.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    server = request.getfixturevalue("postgres")
    name = f"test_{uuid.uuid4().hex[:12]}"
    _execute_on_server(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.get_uri(name)
    finally:
        drop = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
        _execute_on_server(server, drop)

"""Databases for the todos tests: a SQLite file, and a real PostgreSQL.

The empty databases themselves (``database_url``, and the ``pgserver``
PostgreSQL behind it) are the repository's conftest's, shared with the
other examples and tests/multihost.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.todos.db import Database
from examples.todos.wsgi import create_api
from microapi.testing import TestClient

# Short, so that the lock tests wait 50 ms, not the default 5 s.
BUSY_TIMEOUT = 0.05


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """An empty database of each kind (see ``database_url``); its engine is disposed after."""
    db = Database(database_url, busy_timeout=BUSY_TIMEOUT)  # the timeout: SQLite's only
    try:
        yield db
    finally:
        db.dispose()


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

"""An auth app per test: its own database of each kind, key and rate-limit counters.

The databases are the repository conftest's ``database_url``: a new SQLite
file, and a new database on the session's PostgreSQL (the ``pgserver``
wheel), as the todos tests use them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from examples.auth.db import Users
from examples.auth.wsgi import create_api
from microapi import Api
from microapi.middleware import MemoryStore
from microapi.testing import TestClient

SECRET = "test secret key for examples.auth"


@pytest.fixture
def users(database_url: str) -> Iterator[Users]:
    """The users of an empty database of each kind; its engine is disposed after."""
    users = Users(database_url)
    try:
        yield users
    finally:
        users.database.dispose()


@pytest.fixture
def api(users: Users) -> Api:
    return create_api(users, secret_key=SECRET, limit_store=MemoryStore())


@pytest.fixture
def client(api: Api) -> TestClient:
    return TestClient(api)

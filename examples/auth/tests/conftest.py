"""An auth app per test: its own SQLite file, key and rate-limit counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.auth.db import Users
from examples.auth.wsgi import create_api
from microapi import Api
from microapi.middleware import MemoryStore
from microapi.testing import TestClient

SECRET = "test secret key for examples.auth"


@pytest.fixture
def users(tmp_path: Path) -> Users:
    return Users(tmp_path / "auth.db")


@pytest.fixture
def api(users: Users) -> Api:
    return create_api(users, secret_key=SECRET, limit_store=MemoryStore())


@pytest.fixture
def client(api: Api) -> TestClient:
    return TestClient(api)

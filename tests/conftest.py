"""Shared fixtures: a fresh ``api`` and a ``client`` for it."""

from __future__ import annotations

import pytest

from microapi import Api
from microapi.testing import TestClient


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def client(api: Api) -> TestClient:
    return TestClient(api)

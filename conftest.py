"""Fixtures for every test directory (tests/ and examples/*/tests/)."""

from __future__ import annotations

import pytest

from tests.helpers import SERVERS


@pytest.fixture(params=SERVERS)
def server_name(request: pytest.FixtureRequest) -> str:
    """Each production server in turn: a test taking it runs on gunicorn and on granian."""
    name: str = request.param
    return name

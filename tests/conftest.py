"""Shared fixtures: a fresh ``api`` and a ``client`` for it; Hypothesis profiles.

Property tests run derandomized with a small budget (the ``microapi``
profile) so ``make test`` is fast and repeatable; ``make fuzz`` sets
``HYPOTHESIS_PROFILE=fuzz`` for many more, random, examples
(``FUZZ_EXAMPLES`` sets how many).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from microapi import Api
from microapi.testing import TestClient

settings.register_profile(
    "microapi",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "2000")),
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "microapi"))


@pytest.fixture
def api() -> Api:
    return Api()


@pytest.fixture
def client(api: Api) -> TestClient:
    return TestClient(api)

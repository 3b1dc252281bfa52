"""Assertions and doubles shared by several test modules."""

from __future__ import annotations

import io
import subprocess
from typing import Any


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """Assert *response* is a problem+json document for *status*; return it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem: dict[str, Any] = response.json
    assert problem["status"] == status
    return problem


class Unreadable(io.RawIOBase):
    """A ``wsgi.input`` that fails the test if anything reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


def stop(process: subprocess.Popen[Any]) -> None:
    """Stop a server process: SIGTERM, a bounded wait, then SIGKILL."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)

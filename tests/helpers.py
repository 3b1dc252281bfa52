"""Assertions and doubles shared by several test modules."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


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


@contextmanager
def gunicorn(
    app: str, runtime_dir: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, int]]:
    """Run real gunicorn (2 gthread workers) on a free 127.0.0.1 port; stop it after.

    Yields ``(host, port)``, read from gunicorn's "Listening at" line.
    """
    environ = {
        **os.environ,
        **(env or {}),
        # gunicorn ≥ 25 opens a control socket under $XDG_RUNTIME_DIR (else ~/.gunicorn).
        "XDG_RUNTIME_DIR": str(runtime_dir),
    }
    command = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "2"]
    command += ["--worker-class", "gthread", "--threads", "2", *options, app]
    process = subprocess.Popen(command, cwd=ROOT, env=environ, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    deadline = time.monotonic() + 20
    port = None
    seen = []
    while port is None and time.monotonic() < deadline:
        line = process.stderr.readline()
        seen.append(line)
        if match := re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line):
            port = int(match[1])
        elif not line and process.poll() is not None:
            break
    try:
        assert port is not None, "gunicorn did not start:\n" + "".join(seen)
        yield "127.0.0.1", port
    finally:
        stop(process)
        process.stderr.close()

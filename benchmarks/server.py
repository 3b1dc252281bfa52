"""Server mode: every framework under the same real server, loaded over HTTP on 127.0.0.1.

Both servers ``microapi serve`` offers are measured in one run: gunicorn
(``--worker-class gthread``) and granian (``--interface wsgi``), each at
``microapi serve``'s threads per worker for that server
(:data:`microapi.servers.DEFAULT_THREADS`), each with 1 and with 2 workers by default (``--server``,
``--workers``).  For each scenario and each of those settings, one server per
framework (each bound to its own free port on 127.0.0.1) serves
``benchmarks.apps.<framework>_app.make(scenario)`` through
:mod:`benchmarks.wsgi`; all of them run at once and idle while not loaded.
Each answers one request that is checked against the scenario's expected
answer, then gets a short warm-up. Then the load generator runs
``--trials`` times per framework, the frameworks interleaved in an order
rotated every trial (see :func:`trial_orders`), so a slow drift of the
machine's speed hits all of them alike; each trial runs on fresh connections
for a fixed time: ``wrk`` when ``/usr/bin/wrk`` (or ``wrk`` on ``PATH``)
exists, else a bounded Python generator (threads with keep-alive
``http.client`` connections, which the GIL makes far slower than wrk: compare
only numbers from one loader). The answers are checked again after the load.
Reported: the median and the best requests per second over the trials (and
their ratios to Falcon's and the bare WSGI callable's for the same scenario and
server settings, and to the same framework on gunicorn), p50 and p99
latency of the median trial, every trial's p99 and its median ratio to
Falcon's in the same trial, errors, the peak RSS (``VmHWM``) of each
worker process, read from ``/proc`` before the servers are stopped, and the
CPU time the hypervisor took while each scenario's trials ran. Servers
always stop, whatever happens (:class:`contextlib.ExitStack`).

``--pin`` runs one-worker servers on one CPU and the load generator on the
others, so that they stop competing for the same cores (``make bench`` does);
servers with more workers run unpinned, as they would share the one CPU.

Run ``python -m benchmarks.server --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import TracebackType

from benchmarks.apps import FRAMEWORK_ENV, FRAMEWORKS, SCENARIO_ENV
from benchmarks.data import DATABASE_ENV, create_database
from benchmarks.inprocess import _names
from benchmarks.meta import cpu_jiffies, environment, header_line, stolen_percent, write_json
from benchmarks.scenarios import SCENARIOS, Scenario
from microapi.servers import DEFAULT_THREADS

HOST = "127.0.0.1"
#: The servers measured, in the order run: ``microapi serve``'s two.
SERVERS = ("gunicorn", "granian")
#: NOTE: one worker and two. With two (on this 2-CPU machine class, wrk
#: included) gunicorn's workers got wrk's connections unevenly, each accepting
#: what it could when they arrived together, so that one worker often idled:
#: one app measured 5,400 to 11,300 req/s from one 1 s run to the next (16 or
#: 64 connections alike); one worker with two threads varied by about 15 %.
#: Compare two-worker figures across frameworks of one run only.
DEFAULT_WORKERS = (1, 2)
#: NOTE: 5 trials of 1 s rather than 3 of 2 s (a full run takes about 6
#: minutes either way): in five runs of each, hello's microapi ÷ Falcon
#: (median trial) spread 1.02-1.11 with 5 trials of 1 s but 0.85-1.10 with 3
#: of 2 s; dips of ~15 % hit 1 s and 2 s trials alike, and more trials outvote them.
DEFAULT_SECONDS = 1
DEFAULT_TRIALS = 5
DEFAULT_CONNECTIONS = 64
WARMUP_SECONDS = 1
#: Longest wait for a server to listen and start its workers.
START_TIMEOUT = 30.0
#: Longest wait for one response, for the check and for each loaded request.
REQUEST_TIMEOUT = 5.0
#: Most threads the Python load generator starts, whatever ``--connections`` says.
MAX_PYTHON_CONNECTIONS = 64
_LISTENING = re.compile(r"Listening at: http://[^\s]+:(\d+) ")


@dataclass
class Load:
    """What one load-generator run measured."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float


@dataclass
class ServerResult:
    """The summary of one framework serving one scenario.

    ``requests``, ``seconds``, ``requests_per_s`` and the latencies are those
    of the median trial; ``trials_per_s`` and ``trials_p99_ms`` list every
    trial's rate and p99 in the order run.
    """

    scenario: str
    framework: str
    server: str
    workers: int
    requests: int
    seconds: float
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    worker_peak_rss_mib: list[float]
    trials_per_s: list[float]
    #: The fastest trial's requests per second: the least disturbed estimate.
    best_per_s: float = 0.0
    #: ``{"falcon": requests_per_s ÷ Falcon's, "bare": ÷ the bare callable's}``
    #: for the same scenario, server and workers; on granian also
    #: ``"gunicorn"``: ÷ the same framework's on gunicorn with as many workers.
    ratios: dict[str, float] = field(default_factory=dict)
    #: ``{"falcon": best_per_s ÷ Falcon's best_per_s}`` for the same scenario.
    best_ratios: dict[str, float] = field(default_factory=dict)
    #: ``{"falcon": the median over trials of this trial's rate ÷ Falcon's
    #: rate in the same trial}``: the two ran one after the other in each
    #: round, so a drift of the machine cancels out.
    paired_ratios: dict[str, float] = field(default_factory=dict)
    trials_p99_ms: list[float] = field(default_factory=list)
    #: ``{"falcon": the median over trials of this trial's p99 ÷ Falcon's p99
    #: in the same trial}`` (lower is better). NOTE: one trial's p99 is mostly
    #: whether a scheduler stall of a few ms fell into that second; the median
    #: of the paired trials outvotes a stall that hit one side once.
    paired_p99_ratios: dict[str, float] = field(default_factory=dict)
    #: The share of the machine's CPU time the hypervisor took (``steal`` in
    #: ``/proc/stat``) while this scenario's trials ran, all frameworks' alike:
    #: on a virtual machine, a busy neighbour shows here, not in the ratios.
    steal_percent: float = 0.0


class ServerError(RuntimeError):
    """A server did not start, or its app answered wrongly."""


def _children(pid: int) -> list[int]:
    """The ids of the processes whose parent is *pid* (from ``/proc``)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as file:
                for line in file:
                    if line.startswith("PPid:"):
                        if int(line.split()[1]) == pid:
                            children.append(int(entry))
                        break
        except (OSError, ValueError):
            continue
    return sorted(children)


def peak_rss_mib(pid: int) -> float:
    """The peak resident set size (``VmHWM``) of process *pid*, in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as file:
        for line in file:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise ServerError(f"no VmHWM in /proc/{pid}/status")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (granian takes no port 0)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """A server's master and its workers serving one app; a context manager.

    :param framework: a name from :data:`~benchmarks.apps.FRAMEWORKS`.
    :param scenario: a name from :data:`~benchmarks.scenarios.SCENARIOS`.
    :param environ: extra environment variables for the server.
    :param directory: where the server's log file goes.
    :param workers: the server's ``--workers``.
    :param server: a name from :data:`SERVERS`.
    :param cpus: the CPUs the server and its workers may run on (``None``: any).
    """

    def __init__(
        self,
        framework: str,
        scenario: str,
        environ: dict[str, str],
        directory: str,
        workers: int = 1,
        server: str = "gunicorn",
        cpus: set[int] | None = None,
    ) -> None:
        self.framework = framework
        self.cpus = cpus
        self.workers_wanted = workers
        self.scenario = scenario
        self.server = server
        self.environ = environ
        self.log_path = Path(directory, f"{server}-{workers}-{framework}-{scenario}.log")
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._terminated = False

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server; wait until it listens and has started its workers."""
        self.launch()
        self.wait_ready(time.monotonic() + START_TIMEOUT)

    def launch(self) -> None:
        """Start the server without waiting for it (see :meth:`wait_ready`)."""
        env = {
            **os.environ,
            **self.environ,
            FRAMEWORK_ENV: self.framework,
            SCENARIO_ENV: self.scenario,
            "PYTHONPATH": os.pathsep.join(
                filter(
                    None,
                    [str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH")],
                )
            ),
        }
        with self.log_path.open("wb") as log:
            # NOTE: a new session makes the master and its workers one process
            # group, so stop() can kill them all by the master's id if need be.
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,
                preexec_fn=None if self.cpus is None else pinned(self.cpus),
            )

    def command(self) -> list[str]:
        """The server's command line (granian's port is chosen here)."""
        if self.server == "granian":
            self.port = free_port()
            options = granian_options(self.workers_wanted, self.port)
        else:
            options = gunicorn_options(self.workers_wanted)
        return [sys.executable, "-m", self.server, *options, "benchmarks.wsgi:app"]

    def wait_ready(self, deadline: float) -> None:
        """Wait until the server listens and has started its workers.

        gunicorn logs the port the OS gave it; granian was given a free one
        and is ready once it accepts a connection.

        :param deadline: a :func:`time.monotonic` time after which to give up.
        :raises ServerError: the server exited or was not ready by *deadline*.
        """
        name = f"{self.server} for {self.framework} / {self.scenario}"
        if self.process is None:
            raise ServerError(f"{name} was not started")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"{name} exited with {self.process.returncode}:\n{self.log()}")
            if not self.port and (match := _LISTENING.search(self.log())):
                self.port = int(match[1])
            if self.port and len(self.workers()) >= self.workers_wanted and self._accepts():
                return
            time.sleep(0.05)
        raise ServerError(f"{name} did not start within {START_TIMEOUT:g} s:\n{self.log()}")

    def _accepts(self) -> bool:
        try:
            socket.create_connection((HOST, self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def log(self) -> str:
        """What the server has written so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def workers(self) -> list[int]:
        """The worker processes' ids: the children of the server's master."""
        return [] if self.process is None else _children(self.process.pid)

    def terminate(self) -> None:
        """Ask the master to shut down (SIGTERM) without waiting; see :meth:`stop`."""
        if self.process is not None and self.process.poll() is None and not self._terminated:
            self.process.terminate()
            self._terminated = True

    def stop(self) -> None:
        """Stop the master (SIGTERM, then SIGKILL to its group) and reap it."""
        self.terminate()
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if process is not None:
            # Workers left behind by a master that died first share its group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)


def pinned(cpus: set[int]) -> Callable[[], None]:
    """A ``preexec_fn`` that confines the child (and what it forks) to *cpus*."""

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def split_cpus() -> tuple[set[int], set[int]]:
    """``--pin``'s plan: (the servers' CPU, the load generator's), from the CPUs allowed."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        raise ValueError("--pin needs at least 2 CPUs")
    return {allowed[0]}, set(allowed[1:])


def request_once(port: int, scenario: Scenario) -> tuple[str, list[tuple[str, str]], bytes]:
    """Send *scenario*'s request; return status line, headers and body."""
    connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        connection.request(scenario.method, _target(scenario), scenario.body, scenario.headers)
        response = connection.getresponse()
        body = response.read()
        return f"{response.status} {response.reason}", response.getheaders(), body
    finally:
        connection.close()


def gunicorn_options(workers: int) -> list[str]:
    """The gunicorn options every framework is served with (the OS picks the port)."""
    return [
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(DEFAULT_THREADS["gunicorn"]),
        "--bind",
        f"{HOST}:0",
        "--graceful-timeout",
        "2",
    ]


def granian_options(workers: int, port: int | str) -> list[str]:
    """The granian options every framework is served with, as ``microapi serve`` sets them."""
    return [
        "--interface",
        "wsgi",
        "--workers",
        str(workers),
        "--blocking-threads",
        str(DEFAULT_THREADS["granian"]),
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-ws",
        "--log-level",
        "warning",
    ]


def server_settings(server: str, workers: int) -> str:
    """The command line *server* runs every framework with, its version first."""
    # NOTE: each granian is given its own free port, shown as PORT.
    options = granian_options(workers, "PORT") if server == "granian" else gunicorn_options(workers)
    return f"{server} {metadata.version(server)} {' '.join(options)}"


def _target(scenario: Scenario) -> str:
    return scenario.path + (f"?{scenario.query}" if scenario.query else "")


def _lua_string(value: str | bytes) -> str:
    """*value* as a Lua string literal (every byte escaped: no quoting pitfalls)."""
    data = value.encode() if isinstance(value, str) else value
    return '"' + "".join(f"\\{byte}" for byte in data) + '"'


def wrk_script(scenario: Scenario) -> str:
    """A wrk Lua script sending *scenario*'s request and printing a summary line."""
    lines = [f"wrk.method = {_lua_string(scenario.method)}"]
    if scenario.body:
        lines.append(f"wrk.body = {_lua_string(scenario.body)}")
    lines += [
        f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}"
        for name, value in scenario.headers.items()
    ]
    lines.append(
        "done = function(summary, latency, requests)\n"
        "  local e = summary.errors\n"
        '  io.write(string.format("WRK_RESULT %d %d %d %d %d %d %d %d %d\\n",\n'
        "    summary.requests, summary.duration, e.connect, e.read, e.write, e.status,\n"
        "    e.timeout, latency:percentile(50), latency:percentile(99)))\n"
        "end"
    )
    return "\n".join(lines) + "\n"


def run_wrk(
    wrk: str, port: int, scenario: Scenario, seconds: int, connections: int, directory: str
) -> Load:
    """Load the server with wrk for *seconds*."""
    script = Path(directory, f"{scenario.name}.lua")
    script.write_text(wrk_script(scenario), encoding="utf-8")
    command = [
        wrk,
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        f"{REQUEST_TIMEOUT:g}s",
        "--script",
        str(script),
        f"http://{HOST}:{port}{_target(scenario)}",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, check=False
    )
    match = re.search(r"^WRK_RESULT((?: \d+){9})$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise ServerError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    requests, duration_us, connect, read, write, status, timeout, p50, p99 = map(
        int, match[1].split()
    )
    # NOTE: wrk counts every status >= 400 as an error; for 404 and 422
    # scenarios those are the expected answers (checked before the load).
    status_errors = status if scenario.expect_status < 400 else 0
    return Load(
        requests=requests,
        seconds=duration_us / 1e6,
        errors=connect + read + write + timeout + status_errors,
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
    )


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def run_python(port: int, scenario: Scenario, seconds: float, connections: int) -> Load:
    """Load the server for *seconds* from threads, each with one keep-alive connection."""
    target = _target(scenario)
    latencies: list[list[float]] = []
    errors: list[int] = []
    deadline = time.perf_counter() + seconds

    def client() -> None:
        mine: list[float] = []
        failed = 0
        connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        try:
            while (begin := time.perf_counter()) < deadline:
                try:
                    connection.request(scenario.method, target, scenario.body, scenario.headers)
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    failed += 1
                    connection.close()
                    continue
                mine.append(time.perf_counter() - begin)
                if response.status != scenario.expect_status:
                    failed += 1
        finally:
            connection.close()
            latencies.append(mine)
            errors.append(failed)

    threads = [
        threading.Thread(target=client, daemon=True)
        for _ in range(min(connections, MAX_PYTHON_CONNECTIONS))
    ]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + REQUEST_TIMEOUT + 5)
    elapsed = time.perf_counter() - begin
    ordered = sorted(latency for mine in latencies for latency in mine)
    return Load(
        requests=len(ordered),
        seconds=elapsed,
        errors=sum(errors),
        p50_ms=_percentile(ordered, 0.50) * 1000,
        p99_ms=_percentile(ordered, 0.99) * 1000,
    )


def find_wrk() -> str | None:
    """The wrk executable, if installed."""
    if os.access("/usr/bin/wrk", os.X_OK):
        return "/usr/bin/wrk"
    return shutil.which("wrk")


def _wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def trial_orders(frameworks: Sequence[str], trials: int) -> Iterator[list[str]]:
    """Yield the order the frameworks run in, one list per trial.

    The order is rotated by one each trial (``A B C``, then ``B C A``, then
    ``C A B``, then ``A B C`` again), so that every framework runs as often
    early as late in a trial and a slow drift of the machine's speed hits all
    of them alike, as the rounds of :mod:`benchmarks.inprocess` do.

    :param frameworks: the frameworks, in the order of the first trial.
    :param trials: how many trials.
    """
    for trial in range(trials if frameworks else 0):
        shift = trial % len(frameworks)
        yield [*frameworks[shift:], *frameworks[:shift]]


def check_answers(servers: dict[str, Server], scenario: Scenario, when: str) -> None:
    """Send *scenario*'s request to every server and compare the answers.

    :raises ServerError: listing every server that answered wrongly or not at all.
    """
    problems = []
    for framework, server in servers.items():
        try:
            status, headers, body = request_once(server.port, scenario)
        except (OSError, http.client.HTTPException) as exc:
            problems.append(f"{framework} / {scenario.name}: request failed: {exc!r}")
            continue
        problems += [
            f"{framework} / {scenario.name}: {problem}"
            for problem in scenario.mismatches(status, headers, body, scenario.counter_delta)
        ]
    if problems:
        raise ServerError(f"apps do not answer alike {when}:\n  " + "\n  ".join(problems))


def run_load(
    args: argparse.Namespace, port: int, scenario: Scenario, seconds: int, directory: str
) -> Load:
    """One run of the chosen load generator (``args.wrk`` or Python) against *port*."""
    if args.wrk:
        return run_wrk(args.wrk, port, scenario, seconds, args.connections, directory)
    return run_python(port, scenario, seconds, args.connections)


@contextlib.contextmanager
def serving(
    frameworks: Sequence[str],
    scenario: Scenario,
    run: tuple[str, int],
    environ: dict[str, str],
    directory: str,
    cpus: set[int] | None = None,
) -> Iterator[dict[str, Server]]:
    """Run one ready server per framework for *scenario*, all at once.

    :param run: the server's name and its number of workers.
    :param cpus: where the servers run (``--pin``), or ``None``.

    The servers start together (their imports overlap) and all stop when the
    block exits, however it exits: SIGTERM to every master first, then each
    is waited for (and killed if need be).
    """
    with contextlib.ExitStack() as stack:
        servers: dict[str, Server] = {}
        for framework in frameworks:
            server = Server(framework, scenario.name, environ, directory, run[1], run[0], cpus)
            # NOTE: registered before the launch, so a failure anywhere from
            # here on still stops every server launched so far.
            stack.callback(server.stop)
            servers[framework] = server
            server.launch()
        # NOTE: registered last, so run first: every master shuts down at once.
        for server in servers.values():
            stack.callback(server.terminate)
        deadline = time.monotonic() + START_TIMEOUT
        for server in servers.values():
            server.wait_ready(deadline)
        yield servers


def measure(
    scenario: Scenario,
    frameworks: Sequence[str],
    args: argparse.Namespace,
    run: tuple[str, int],
    environ: dict[str, str],
    directory: str,
) -> list[ServerResult]:
    """Serve *scenario* with every framework at once, check, warm up, load interleaved.

    *run* is the server's name and its number of workers.

    Each framework's server answers one checked request and gets a
    ``WARMUP_SECONDS`` warm-up; then each trial loads every server once, in
    the order :func:`trial_orders` gives, ``args.trials`` times; the answers
    are checked again, and the workers' peak RSS read, before the servers stop.
    """
    loads: dict[str, list[Load]] = {framework: [] for framework in frameworks}
    pinned_run = args.pin and run[1] == 1
    # The harness itself, so wrk or the Python loader's threads too.
    os.sched_setaffinity(0, args.load_cpus if pinned_run else args.all_cpus)
    cpus = args.server_cpus if pinned_run else None
    with serving(frameworks, scenario, run, environ, directory, cpus) as servers:
        check_answers(servers, scenario, "before the load")
        for server in servers.values():
            run_load(args, server.port, scenario, WARMUP_SECONDS, directory)
        before = cpu_jiffies()
        for number, order in enumerate(trial_orders(frameworks, args.trials), 1):
            print(
                f"{scenario.name} on {run[0]}, {run[1]} worker(s): trial {number}/{args.trials}",
                file=sys.stderr,
            )
            for framework in order:
                port = servers[framework].port
                loads[framework].append(run_load(args, port, scenario, args.seconds, directory))
        steal = stolen_percent(before, cpu_jiffies())
        check_answers(servers, scenario, "after the load")
        rss = {
            framework: [round(peak_rss_mib(pid), 1) for pid in server.workers()]
            for framework, server in servers.items()
        }
    results = [
        summarize(scenario.name, framework, loads[framework], rss[framework], run)
        for framework in frameworks
    ]
    for result in results:
        result.steal_percent = steal
    return results


def summarize(
    scenario: str,
    framework: str,
    loads: Sequence[Load],
    rss: list[float],
    run: tuple[str, int] = ("gunicorn", 1),
) -> ServerResult:
    """The median trial (latencies included), the best rate, and all trials' errors.

    *run* is the server's name and its number of workers.

    With an even number of trials the median trial is the faster of the two
    middle ones.
    """
    ranked = sorted(loads, key=_rate)
    median = ranked[len(ranked) // 2]
    return ServerResult(
        scenario=scenario,
        framework=framework,
        server=run[0],
        workers=run[1],
        requests=median.requests,
        seconds=round(median.seconds, 3),
        requests_per_s=round(_rate(median), 1),
        p50_ms=round(median.p50_ms, 3),
        p99_ms=round(median.p99_ms, 3),
        errors=sum(load.errors for load in loads),
        worker_peak_rss_mib=rss,
        trials_per_s=[round(_rate(load), 1) for load in loads],
        best_per_s=round(_rate(ranked[-1]), 1),
        trials_p99_ms=[round(load.p99_ms, 3) for load in loads],
    )


def _rate(load: Load) -> float:
    return load.requests / load.seconds if load.seconds else 0.0


#: The peers each result is compared with on the same server settings.
BASELINES = ("falcon", "bare")


def add_ratios(results: Iterable[ServerResult]) -> None:
    """Set each result's requests/s ratios.

    To Falcon's and the bare callable's (median, best and paired) for the
    same scenario, server and workers; and, on granian, to the same
    framework's median on gunicorn with as many workers.
    """
    results = list(results)
    by_key = {(r.server, r.workers, r.scenario, r.framework): r for r in results}
    for result in results:
        for peer in BASELINES:
            baseline = by_key.get((result.server, result.workers, result.scenario, peer))
            if baseline is not None:
                _set_ratios(result, baseline, peer)
        on_gunicorn = by_key.get(("gunicorn", result.workers, result.scenario, result.framework))
        if result.server != "gunicorn" and on_gunicorn and on_gunicorn.requests_per_s:
            ratio = result.requests_per_s / on_gunicorn.requests_per_s
            result.ratios["gunicorn"] = round(ratio, 3)


def _set_ratios(result: ServerResult, baseline: ServerResult, peer: str) -> None:
    if baseline.requests_per_s:
        result.ratios[peer] = round(result.requests_per_s / baseline.requests_per_s, 3)
    if baseline.best_per_s:
        result.best_ratios[peer] = round(result.best_per_s / baseline.best_per_s, 3)
    # Both ran the same trials, in the same rounds.
    for mine, theirs, ratios in (
        (result.trials_per_s, baseline.trials_per_s, result.paired_ratios),
        (result.trials_p99_ms, baseline.trials_p99_ms, result.paired_p99_ratios),
    ):
        paired = [a / b for a, b in zip(mine, theirs, strict=True) if b]
        if paired:
            ratios[peer] = round(statistics.median(paired), 3)


def markdown(results: Iterable[ServerResult], facts: dict[str, str], settings: str) -> str:
    """The results as a Markdown table under a header line."""
    lines = [
        f"Server mode — {header_line(facts)}",
        "",
        settings,
        "",
        "| server | workers | scenario | framework | median req/s | vs Falcon | vs bare "
        "| vs gunicorn | best req/s | best vs Falcon | paired vs Falcon | p50 ms | p99 ms "
        "| paired p99 vs Falcon | errors | peak RSS/worker MiB |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(ratios: dict[str, float], peer: str) -> str:
        return f"{ratios[peer]:.2f}" if peer in ratios else "n/a"

    for r in results:
        rss = " / ".join(f"{value:.1f}" for value in r.worker_peak_rss_mib)
        lines.append(
            f"| {r.server} | {r.workers} | {r.scenario} | {r.framework} "
            f"| {r.requests_per_s:.0f} | {cell(r.ratios, 'falcon')} | {cell(r.ratios, 'bare')} "
            f"| {cell(r.ratios, 'gunicorn')} | {r.best_per_s:.0f} "
            f"| {cell(r.best_ratios, 'falcon')} | {cell(r.paired_ratios, 'falcon')} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {cell(r.paired_p99_ratios, 'falcon')} "
            f"| {r.errors} | {rss} |"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, with the name lists and the loader resolved."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.server",
        description="Serve every framework with the same server settings and load it.",
    )
    parser.add_argument(
        "--seconds",
        type=int,
        default=DEFAULT_SECONDS,
        help=f"seconds of load per trial, framework and scenario (default {DEFAULT_SECONDS})",
    )
    parser.add_argument(
        "--workers",
        default=",".join(map(str, DEFAULT_WORKERS)),
        metavar="N[,N...]",
        help="worker counts to measure, at microapi serve's threads per worker (default "
        f"{','.join(map(str, DEFAULT_WORKERS))})",
    )
    parser.add_argument("--server", action="append", metavar="NAME[,NAME...]")
    parser.add_argument(
        "--trials",
        type=int,
        default=DEFAULT_TRIALS,
        help=f"interleaved load runs per app; median and best reported (default {DEFAULT_TRIALS})",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help=f"concurrent keep-alive connections (default {DEFAULT_CONNECTIONS})",
    )
    parser.add_argument(
        "--loader",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if installed (auto), or the Python one",
    )
    parser.add_argument("--scenario", action="append", metavar="NAME[,NAME...]")
    parser.add_argument("--framework", action="append", metavar="NAME[,NAME...]")
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run one-worker servers on one CPU and the load generator on the others",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    args.all_cpus = os.sched_getaffinity(0)
    args.server_cpus = args.load_cpus = None
    if args.pin:
        try:
            args.server_cpus, args.load_cpus = split_cpus()
        except ValueError as exc:
            parser.error(str(exc))
    try:
        args.scenario = _names(args.scenario, SCENARIOS, "scenario")
        args.framework = _names(args.framework, FRAMEWORKS, "framework")
        args.server = _names(args.server, SERVERS, "server")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    try:
        args.workers = sorted({int(count) for count in args.workers.split(",") if count.strip()})
    except ValueError:
        parser.error(f"--workers takes numbers separated by commas, not {args.workers!r}")
    if not (
        1 <= args.seconds <= 600
        and 1 <= args.trials <= 20
        and 1 <= args.connections <= 1000
        and args.workers
        and all(1 <= count <= 8 for count in args.workers)
    ):
        parser.error(
            "--seconds must be 1 to 600, --trials 1 to 20, --connections 1 to 1000, "
            "--workers 1 to 8"
        )
    args.wrk = None
    if args.loader != "python":
        args.wrk = find_wrk()
        if args.wrk is None and args.loader == "wrk":
            parser.error("wrk is not installed (apt-get install wrk), use --loader python")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server benchmark; 0 on success, 1 when a server fails or answers wrongly."""
    args = parse_args(argv)
    loader = _wrk_version(args.wrk) if args.wrk else "Python http.client threads"
    results: list[ServerResult] = []
    begin = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="microapi-bench-server-") as directory:
        database = str(Path(directory, "todos.sqlite3"))
        create_database(database)
        # NOTE: gunicorn puts its control socket in $XDG_RUNTIME_DIR; keep it in ours.
        environ = {DATABASE_ENV: database, "XDG_RUNTIME_DIR": directory}
        runs = [(server, workers) for server in args.server for workers in args.workers]
        # NOTE: scenario outermost, so one scenario's settings run close together in time.
        for name in args.scenario:
            for run in runs:
                print(
                    f"{name} on {run[0]}, {run[1]} worker(s): serving {', '.join(args.framework)}",
                    file=sys.stderr,
                )
                try:
                    results += measure(
                        SCENARIOS[name], args.framework, args, run, environ, directory
                    )
                except (ServerError, OSError, subprocess.SubprocessError) as exc:
                    print(f"server mode failed: {exc}", file=sys.stderr)
                    return 1
    print(f"server mode took {time.monotonic() - begin:.0f} s", file=sys.stderr)
    add_ratios(results)
    servers = {name: server_settings(name, 1) for name in args.server}
    settings = (
        f"{' · '.join(servers.values())} (workers: {', '.join(map(str, args.workers))}) "
        f"· load: {loader}, {args.connections} keep-alive connections · per "
        "scenario every framework's server runs at once; each gets a "
        f"{WARMUP_SECONDS} s warm-up, then {args.trials} trial(s) of {args.seconds} s on "
        "fresh connections, the frameworks interleaved in an order rotated every trial · "
        "median = the median trial (its latencies shown), best = the fastest trial; "
        "vs Falcon (bare) = req/s ÷ Falcon's (the bare callable's) in the same scenario and "
        "server settings (higher is better); vs gunicorn = req/s ÷ the same framework's on "
        "gunicorn with as many workers; paired = the median over trials of req/s ÷ Falcon's "
        "in the same trial; paired p99 = the same for p99 (lower is better)."
    )
    if args.pin:
        settings += (
            f" · pinned (one-worker runs): the servers on CPU {min(args.server_cpus)}, the "
            f"load generator on {', '.join(map(str, sorted(args.load_cpus)))}."
        )
    facts = environment()
    print(markdown(results, facts, settings))
    if args.json:
        run_settings = {
            "servers": servers,
            "workers": args.workers,
            "threads": dict(DEFAULT_THREADS),
            "loader": loader,
            "connections": args.connections,
            "seconds": args.seconds,
            "trials": args.trials,
            "warmup_seconds": WARMUP_SECONDS,
            "interleaved": True,
            "pinned": args.pin,
        }
        write_json(args.json, facts, run_settings, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A bounded load generator for the todos example under real gunicorn.

:class:`Load` runs keep-alive clients in threads; each creates, reads,
updates, lists and deletes its own todos and remembers what the server
acknowledged; :func:`verify` compares that with the rows read from the
database afterwards.  (gunicorn itself is run by :mod:`.processes`.)

Every title is unique (``c<client>-<n>``, ``~<k>`` appended by updates),
so a row is traced to the create that made it even when SQLite reuses
the id of a deleted row.
"""

from __future__ import annotations

import http.client
import json
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from examples.hello.wsgi import api as hello_api
from examples.todos.db import Database
from examples.todos.wsgi import create_api
from microapi import Api

#: A todo's state as the tests compare it: (title, done).
State = tuple[str, bool]


# -- the clients -----------------------------------------------------------------------


@dataclass
class Failure:
    """A request that got no HTTP answer (the connection broke)."""

    op: str
    error: str
    port: int  # the client's local port: which connection it was
    at: float  # time.monotonic() when it failed


@dataclass
class Client:
    """One keep-alive client and everything it saw."""

    index: int
    address: tuple[str, int]
    timeout: float = 10.0
    #: Todos whose last write was acknowledged, by id.
    live: dict[int, State] = field(default_factory=dict)
    #: Titles (identities) of todos whose deletion was acknowledged.
    deleted: set[str] = field(default_factory=set)
    #: Identity -> the states it may be in (None: absent) after a write whose
    #: outcome the client never learned.
    uncertain: dict[str, set[State | None]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    #: Seconds from sending each answered request to reading its answer.
    latencies: list[float] = field(default_factory=list)
    acked: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # writes answered 503
    failures: list[Failure] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # 5xx (but 503s allowed) and wrong answers
    connects: int = 0
    sent: int = 0
    port: int = 0
    seq: int = 0
    allow_503: bool = False
    #: "crud" (every operation) or "read" (ten creates, then reads, lists,
    #: the hello example and 404s: the memory soak's mix).
    mix: str = "crud"
    #: A prefix of the titles, so that two loads on one database stay apart.
    name: str = ""
    #: False: a new connection for every request.
    keep_alive: bool = True
    #: Whether a request is on the wire (sent, its answer not read yet).
    busy: bool = False
    #: The local address to connect from ("": the system's choice), so that
    #: a proxy in front sees clients with distinct addresses.
    source: str = ""
    #: Statuses that tell nothing about the request's outcome (a proxy's 502
    #: when the host died with the request in flight): counted as failures,
    #: like a broken connection.  A proxy resends an idempotent request to
    #: another host then, so a DELETE may find the todo already deleted: its
    #: 404 counts as the acknowledged delete it is.
    unknown_outcome: frozenset[int] = frozenset()
    #: Deletes answered 404 because a proxy resent them (see above).
    resent_deletes: int = 0
    _connection: http.client.HTTPConnection | None = None

    def call(self, op: str, method: str, path: str, body: Any = None) -> tuple[int, Any] | None:
        """Send one request; ``(status, parsed body)``, or None if the connection broke."""
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                *self.address,
                timeout=self.timeout,
                source_address=(self.source, 0) if self.source else None,
            )
            try:
                self._connection.connect()
            except OSError as exc:
                self._connection = None
                failure = Failure(op, f"connect: {type(exc).__name__}", 0, time.monotonic())
                self.failures.append(failure)
                return None
            self.connects += 1
            self.port = self._connection.sock.getsockname()[1]
        connection = self._connection
        self.sent += 1
        self.busy = True
        start = time.monotonic()
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, path, None if body is None else json.dumps(body), headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            self._connection = None
            self.failures.append(Failure(op, type(exc).__name__, self.port, time.monotonic()))
            return None
        finally:
            self.busy = False
        self.latencies.append(time.monotonic() - start)
        if response.will_close or not self.keep_alive:  # reopened by the next request
            connection.close()
            self._connection = None
        self.statuses[response.status] += 1
        if response.status in self.unknown_outcome:
            failure = Failure(op, f"HTTP {response.status}", self.port, time.monotonic())
            self.failures.append(failure)
            return None
        if response.status == 503 and self.allow_503 and op in ("create", "update", "delete"):
            if response.getheader("Retry-After") != "1" or not data.startswith(b'{"type"'):
                self.problems.append(f"{op}: 503 without Retry-After or problem: {data[:200]!r}")
            self.refused[op] += 1
            return 503, None
        if response.status >= 500:
            self.problems.append(f"{op} {method} {path}: {response.status} {data[:300]!r}")
        return response.status, json.loads(data) if data else None

    def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # -- operations -------------------------------------------------------------------

    def create(self, rng: random.Random) -> None:
        """POST a todo with a new identity."""
        self.seq += 1
        state = (f"{self.name}c{self.index}-{self.seq}", rng.random() < 0.3)
        result = self.call("create", "POST", "/api/todos", {"title": state[0], "done": state[1]})
        if result is None:
            self.uncertain[state[0]] = {state, None}
        elif result[0] == 201 and (result[1]["title"], result[1]["done"]) == state:
            self.live[result[1]["id"]] = state
            self.acked["create"] += 1
        elif result[0] != 503:
            self.problems.append(f"create: {result}")

    def read(self, rng: random.Random) -> None:
        """GET one of this client's todos: it must show the last acknowledged write."""
        if not self.live:
            return self.list(rng)
        todo_id = rng.choice(list(self.live))
        result = self.call("read", "GET", f"/api/todos/{todo_id}")
        if result is not None and (
            result[0] != 200 or (result[1]["title"], result[1]["done"]) != self.live[todo_id]
        ):
            self.problems.append(f"read {todo_id}: {result}, acknowledged {self.live[todo_id]}")
        return None

    def update(self, rng: random.Random) -> None:
        """PUT or PATCH one of this client's todos."""
        if not self.live:
            return self.create(rng)
        todo_id = rng.choice(list(self.live))
        old = self.live[todo_id]
        identity = old[0].split("~")[0]
        title = f"{identity}~{rng.randrange(10**6)}"
        body: dict[str, Any]
        kind = rng.randrange(3)
        if kind == 0:
            method, body, new = "PUT", {"title": title, "done": not old[1]}, (title, not old[1])
        elif kind == 1:
            method, body, new = "PATCH", {"done": not old[1]}, (old[0], not old[1])
        else:
            method, body, new = "PATCH", {"title": title}, (title, old[1])
        result = self.call("update", method, f"/api/todos/{todo_id}", body)
        if result is None:
            del self.live[todo_id]
            self.uncertain[identity] = {old, new}
        elif result[0] == 200 and (result[1]["title"], result[1]["done"]) == new:
            self.live[todo_id] = new
            self.acked["update"] += 1
        elif result[0] != 503:
            self.problems.append(f"update {todo_id}: {result}")
        return None

    def delete(self, rng: random.Random) -> None:
        """DELETE one of this client's todos."""
        if not self.live:
            return self.create(rng)
        todo_id = rng.choice(list(self.live))
        old = self.live[todo_id]
        identity = old[0].split("~")[0]
        result = self.call("delete", "DELETE", f"/api/todos/{todo_id}")
        if result is None:
            del self.live[todo_id]
            self.uncertain[identity] = {old, None}
        elif result[0] == 204 or (result[0] == 404 and self.unknown_outcome):
            del self.live[todo_id]
            self.deleted.add(identity)
            self.acked["delete"] += 1
            self.resent_deletes += int(result[0] == 404)
        elif result[0] != 503:
            self.problems.append(f"delete {todo_id}: {result}")
        return None

    def list(self, rng: random.Random) -> None:
        """GET a page of todos (anyone's): ids ascending, a sane total."""
        offset = rng.randrange(50)
        result = self.call("list", "GET", f"/api/todos?limit=20&offset={offset}")
        if result is None:
            return
        ids = [item["id"] for item in result[1]["items"]] if result[0] == 200 else None
        if ids is None or ids != sorted(set(ids)) or result[1]["total"] < len(ids):
            self.problems.append(f"list: {result}")

    def hello(self, rng: random.Random) -> None:
        """GET the hello example mounted at /hello (see :func:`hello_and_todos`)."""
        result = self.call("hello", "GET", "/hello/api/hello")
        if result is not None and result != (200, {"message": "Hello API!"}):
            self.problems.append(f"hello: {result}")

    def missing(self, rng: random.Random) -> None:
        """GET a todo that does not exist: a 404 problem."""
        result = self.call("missing", "GET", f"/api/todos/{rng.randrange(10**9, 10**10)}")
        if result is not None and result[0] != 404:
            self.problems.append(f"missing: {result}")

    def invalid(self, rng: random.Random) -> None:
        """POST an empty title: 422, and nothing stored."""
        result = self.call("invalid", "POST", "/api/todos", {"title": ""})
        if result is not None and result[0] != 422:
            self.problems.append(f"invalid create: {result}")

    def run(self, requests: int, deadline: float, seed: int, stop: threading.Event) -> None:
        """Send up to *requests* requests, stopping at *deadline* or *stop*."""
        rng = random.Random(seed)
        ops: list[Callable[[random.Random], None]]
        if self.mix == "read":
            ops, weights = [self.read, self.list, self.hello, self.missing], [40, 20, 30, 10]
            created = min(10, requests)
        else:
            ops = [self.create, self.read, self.update, self.delete, self.list, self.invalid]
            weights, created = [25, 25, 20, 10, 15, 5], 0
        try:
            for _ in range(created):
                self.create(rng)
            for _ in range(requests - created):
                if stop.is_set() or time.monotonic() > deadline:
                    break
                rng.choices(ops, weights)[0](rng)
        finally:
            self.close()


class Load:
    """Clients running in threads: ``with Load(...) as load: ...`` joins them."""

    def __init__(
        self,
        address: tuple[str, int],
        *,
        clients: int = 8,
        requests: int = 300,
        seconds: float = 60,
        seed: int = 0,
        allow_503: bool = False,
        mix: str = "crud",
        keep_alive: bool = True,
        name: str = "",
    ) -> None:
        self.clients = [
            Client(n, address, allow_503=allow_503, mix=mix, keep_alive=keep_alive, name=name)
            for n in range(clients)
        ]
        self.requests = requests
        self.seconds = seconds
        self.seed = seed
        self.errors: list[BaseException] = []
        #: Set to end the clients early (each finishes its current request).
        self.stop = threading.Event()
        #: Seconds from the start to the last client's end.
        self.elapsed = 0.0
        self._started = 0.0
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Load:
        deadline = time.monotonic() + self.seconds
        self._started = time.monotonic()
        for client in self.clients:
            thread = threading.Thread(
                target=self._run, args=(client, deadline), name=f"client-{client.index}"
            )
            self._threads.append(thread)
            thread.start()
        return self

    def _run(self, client: Client, deadline: float) -> None:
        try:
            client.run(self.requests, deadline, self.seed * 1000 + client.index, self.stop)
        except BaseException as exc:  # a bug in the test: reported by join()
            self.errors.append(exc)

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is not None:
            self.stop.set()  # the test failed: do not wait for the whole load
        for thread in self._threads:
            thread.join(self.seconds + 30)
        self.elapsed = time.monotonic() - self._started
        assert not any(thread.is_alive() for thread in self._threads), "clients still running"
        if self.errors:
            raise self.errors[0]

    @property
    def sent(self) -> int:
        """Requests sent so far."""
        return sum(client.sent for client in self.clients)

    def wait_until_sent(self, count: int, wait: float = 60) -> None:
        """Wait (bounded) until *count* requests were sent."""
        deadline = time.monotonic() + wait
        while self.sent < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.sent >= count, f"only {self.sent} requests sent"

    def latency(self) -> str:
        """The answered requests' latencies: median, 99th percentile, maximum."""
        times = sorted(t for client in self.clients for t in client.latencies)
        if not times:
            return "no answers"
        p50, p99 = times[len(times) // 2], times[min(len(times) - 1, len(times) * 99 // 100)]
        return f"latency p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {times[-1]:.2f} s"

    def total(self, name: str) -> Counter[Any]:
        """Sum a Counter attribute (statuses, acked, refused) over the clients."""
        total: Counter[Any] = Counter()
        for client in self.clients:
            total.update(getattr(client, name))
        return total

    @property
    def failures(self) -> list[Failure]:
        """Every request that got no answer."""
        return [failure for client in self.clients for failure in client.failures]

    @property
    def problems(self) -> list[str]:
        """Every 5xx and wrong answer."""
        return [problem for client in self.clients for problem in client.problems]


@dataclass
class Verdict:
    """What :func:`verify` found."""

    rows: int
    live: int  # acknowledged live todos found with their acknowledged state
    deleted: int  # acknowledged deletes found absent
    uncertain: int  # todos whose last write went unanswered (either outcome is fine)
    wrong: list[str]


def verify(clients: list[Client], rows: dict[int, State]) -> Verdict:
    """Compare what the clients were acknowledged with the database's *rows*."""
    by_identity: dict[str, list[int]] = {}
    for todo_id, (title, _) in rows.items():
        by_identity.setdefault(title.split("~")[0], []).append(todo_id)
    wrong = [f"{len(ids)} rows for {name}" for name, ids in by_identity.items() if len(ids) > 1]
    known: set[str] = set()
    live = deleted = uncertain = 0
    for client in clients:
        for todo_id, state in client.live.items():
            known.add(state[0].split("~")[0])
            if rows.get(todo_id) != state:
                wrong.append(f"todo {todo_id}: {rows.get(todo_id)}, acknowledged {state}")
            else:
                live += 1
        for name in client.deleted:
            known.add(name)
            if name in by_identity:
                wrong.append(f"{name}: deleted (acknowledged) but still there")
            else:
                deleted += 1
        for name, possible in client.uncertain.items():
            known.add(name)
            uncertain += 1
            ids = by_identity.get(name)
            found = rows[ids[0]] if ids else None  # more than one: already wrong
            if found not in possible:
                wrong.append(f"{name}: {found}, expected one of {possible}")
    wrong += [f"{name}: a row nobody created" for name in by_identity if name not in known]
    return Verdict(len(rows), live, deleted, uncertain, wrong)


def sqlite_rows(path: Path) -> dict[int, State]:
    """Every todo in the SQLite file at *path*, read with sqlite3."""
    connection = sqlite3.connect(path)
    try:
        return {
            i: (t, bool(d)) for i, t, d in connection.execute("SELECT id, title, done FROM todos")
        }
    finally:
        connection.close()


def sqlite_integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of the SQLite file at *path*."""
    connection = sqlite3.connect(path)
    try:
        return "; ".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
    finally:
        connection.close()


def postgres_rows(uri: str) -> dict[int, State]:
    """Every todo in the PostgreSQL database at *uri*, read with psycopg."""
    with psycopg.connect(uri) as connection:
        cursor = connection.execute("SELECT id, title, done FROM todos")
        return {i: (t, d) for i, t, d in cursor}


def todos_app(url: str, busy_timeout: float = 5.0) -> Api:
    """The todos app over *url*: a gunicorn factory (``load:todos_app('sqlite:///…', 2.0)``)."""
    return create_api(Database(url, busy_timeout=busy_timeout))


def hello_and_todos(url: str) -> Api:
    """The todos app over *url*, the hello example mounted at ``/hello``."""
    api = create_api(Database(url))
    api.mount("/hello", hello_api)
    return api

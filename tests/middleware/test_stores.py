"""microapi.middleware.stores: real SQLite files, a real redis-server, real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from microapi import Api, Request, Res
from microapi.extras import MissingExtra
from microapi.middleware import (
    MemoryStore,
    RedisStore,
    SQLiteStore,
    Store,
    StoreUnavailable,
    rate_limit,
)
from microapi.testing import TestClient
from tests.helpers import ROOT, RedisServer, free_port, redis_server


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture
def open_redis() -> Iterator[Callable[..., RedisStore]]:
    """Make RedisStores that are closed after the test (no socket left open)."""
    made: list[RedisStore] = []

    def make(url: str, **options: Any) -> RedisStore:
        made.append(RedisStore(url, **options))
        return made[-1]

    yield make
    for store in made:
        store.close()


def hammer(store: Store, key: str, threads: int, hits: int) -> list[int]:
    """Hit *key* from *threads* threads at once; return every count seen."""
    counts: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads, timeout=10)

    def work() -> None:
        barrier.wait()
        seen = [store.hit(key, 3600)[0] for _ in range(hits)]
        with lock:
            counts.extend(seen)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    return sorted(counts)


# -- the Store interface -------------------------------------------------------------


def test_store_is_abstract() -> None:
    with pytest.raises(TypeError):
        Store()  # type: ignore[abstract]


def test_invalid_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timeout"):
        SQLiteStore(tmp_path / "x.db", timeout=0)
    with pytest.raises(ValueError, match="timeout"):
        RedisStore("redis://127.0.0.1:1/0", timeout=-1)
    with pytest.raises(ValueError, match="redis://"):
        RedisStore("http://127.0.0.1:6379")


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cret@127.0.0.1:1/0?PASSWORD=s3cret",
        "redis://:s3cret@127.0.0.1:1/0?no_such_option=1",
        "redis://:s3cret@127.0.0.1:1/0?socket_timeout=soon",
        "redis://:s3cret@127.0.0.1:1/0?db=first",
        "rediss://:s3cret@127.0.0.1:1/0?ssl_cert_reqs=maybe",
        "unix:///tmp/redis.sock?password=s3cret&db=first",
        "redis://user:s3?cret@127.0.0.1:1/0",  # unencoded: redis-py reads a port of "s3"
        "redis://user:s3/cret@127.0.0.1/0",
    ],
)
def test_a_redis_url_option_redis_cannot_use_is_refused_when_built(url: str) -> None:
    # Not at the first request, as a 500 (redis-py reads the query only when it connects).
    with pytest.raises(ValueError, match="RedisStore cannot use") as refused:
        RedisStore(url)
    assert "s3cret" not in str(refused.value)


# -- MemoryStore -----------------------------------------------------------------------


def test_memory_counts_and_resets_its_window() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    assert store.hit("a", 60) == (1, 60)
    clock.now += 10
    assert store.hit("a", 60) == (2, 50)
    assert store.hit("b", 60) == (1, 60)  # keys count apart
    clock.now += 50  # the window's end: a new one starts
    assert store.hit("a", 60) == (1, 60)
    assert store.hit("a", 60) == (2, 60)
    assert repr(store) == "MemoryStore()"
    store.close()


def test_memory_drops_expired_windows() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    for generation in range(10):
        for index in range(3000):
            store.hit(f"{generation}:{index}", 1)
        clock.now += 2  # every window of this generation expires
    # Without sweeping there would be 30000 windows.
    assert len(store) <= 2 * 3000 + 1024
    assert store.hit("9:0", 1) == (1, 1)  # an expired window restarts


def test_memory_is_exact_under_threads() -> None:
    store = MemoryStore()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as they can
    try:
        assert hammer(store, "k", threads=16, hits=200) == list(range(1, 3201))
        # Windows that start and end all the time: still one count per hit.
        clock = Clock()
        ending = MemoryStore(clock=clock)
        counts = []
        for _ in range(20):
            clock.now += 3600  # hammer's period: the window ends
            counts += hammer(ending, "k", threads=8, hits=5)
    finally:
        sys.setswitchinterval(interval)
    assert Counter(counts) == dict.fromkeys(range(1, 41), 20)


# -- MemoryStore under many distinct keys (issue #16) --------------------------------


def test_memory_100_000_distinct_keys_over_expired_windows_stay_bounded() -> None:
    # 100 000 clients, 500 a second, each seen once: at most 1024 windows are
    # ever held (the bound: max(1024, 2 x the windows live at the last sweep)),
    # and what the store keeps is a few hundred kB, not the ~28 MB of 100 000.
    clock = Clock()
    store = MemoryStore(clock=clock)
    most = 0
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(100_000):
            if index % 500 == 0:
                clock.now += 2  # the previous second's windows (period 1) expire
            assert store.hit(f"client:{index}", 1) == (1, 1)
            most = max(most, len(store))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert most <= 1024
    assert kept < 2_000_000, kept


def test_memory_a_sweep_keeps_every_running_window() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    for index in range(700):
        store.hit(f"live:{index}", 3600)
    for generation in range(10):
        clock.now += 2
        for index in range(700):  # expired at the next sweep, several times over
            store.hit(f"{generation}:{index}", 1)
    # Every sweep dropped the expired windows only: the live ones count on.
    for index in range(700):
        assert store.hit(f"live:{index}", 3600) == (2, 3600 - 20)
    assert len(store) <= 2 * (700 + 700) + 1024


def test_memory_sweeps_are_amortised_when_every_key_is_live() -> None:
    # Live windows cannot be dropped: the table grows with them, and sweeps
    # (each a pass over the table) come only when it has doubled.
    clock = Clock()
    store = MemoryStore(clock=clock)
    sweeps: list[int] = []
    sweep = store._sweep

    def counted(now: float) -> None:
        sweeps.append(len(store))
        sweep(now)

    store._sweep = counted  # type: ignore[method-assign]
    for index in range(100_000):
        store.hit(f"client:{index}", 3600)
    assert len(store) == 100_000
    assert sweeps == [1024 * 2**n for n in range(7)]  # 1024 ... 65536: 7 passes in all


def test_memory_rate_limit_of_many_clients_keeps_its_memory_bounded() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    api = Api()
    api.middleware(rate_limit("2/second", store=store))

    @api.route("/")
    def index(req: Request, res: Res) -> None:
        res.end()

    client = TestClient(api)
    for second in range(10):
        clock.now += 1
        for n in range(1000):  # 1000 new client addresses a second
            address = f"10.{second}.{n // 250}.{n % 250}"
            response = client.get("/", environ_overrides={"REMOTE_ADDR": address})
            assert response.status_code == 200
    assert len(store) <= 2 * 1000 + 1024  # not the 10 000 clients seen
    # Counting goes on: the last second's clients are still limited.
    last = {"REMOTE_ADDR": "10.9.0.0"}
    assert client.get("/", environ_overrides=last).status_code == 200
    assert client.get("/", environ_overrides=last).status_code == 429


# -- SQLiteStore -------------------------------------------------------------------------


def test_sqlite_creates_file_and_table_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    clock = Clock()
    store = SQLiteStore(path, clock=clock)
    assert not path.exists()  # lazily: nothing happens at construction
    assert store.hit("a", 60) == (1, 60)
    clock.now += 0.25
    assert store.hit("a", 60) == (2, 59.75)
    clock.now += 59.75
    assert store.hit("a", 60) == (1, 60)
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        rows = other.execute("SELECT key, count FROM microapi_ratelimit").fetchall()
    other.close()
    assert rows == [("a", 1)]
    assert repr(store) == f"SQLiteStore({str(path)!r})"
    store.close()
    store.close()  # twice is fine
    assert store.hit("a", 60)[0] == 2  # reopens


def test_sqlite_restarts_a_window_when_the_clock_goes_back(tmp_path: Path) -> None:
    clock = Clock()
    store = SQLiteStore(tmp_path / "limits.db", clock=clock)
    store.hit("a", 60)
    store.hit("a", 60)
    clock.now -= 3600  # the window now ends more than a period ahead
    assert store.hit("a", 60) == (1, 60)


def test_sqlite_reads_the_clock_only_once_it_holds_the_write_lock(tmp_path: Path) -> None:
    # Regression: the clock read before a wait for another worker's lock is
    # stale by the wait; the window that worker started meanwhile then looks
    # "ahead of the clock" and restarted (104 of 100 admitted through gunicorn).
    path = tmp_path / "limits.db"
    released = threading.Event()
    seen: list[bool] = []

    def clock() -> float:
        seen.append(released.is_set())
        return 1_000_000.0

    store = SQLiteStore(path, timeout=10, clock=clock)
    store.hit("warm", 60)  # creates the file, in WAL mode
    seen.clear()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process's write, in progress
    waiting = threading.Thread(target=store.hit, args=("a", 60))
    waiting.start()
    time.sleep(0.2)  # the hit is waiting for the lock, not yet counted
    released.set()
    writer.execute("COMMIT")
    writer.close()
    waiting.join(10)
    assert seen == [True]
    assert store.hit("a", 60)[0] == 2


def test_sqlite_a_failed_hit_leaves_no_transaction_open(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    store = SQLiteStore(path, timeout=0.05)
    store.hit("a", 60)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    with pytest.raises(StoreUnavailable, match="locked"):
        store.hit("a", 60)
    writer.execute("COMMIT")
    writer.close()
    assert store.hit("a", 60)[0] == 2  # the refused hit was not counted


def test_sqlite_keys_are_data(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "limits.db")
    keys = ["a\x00b", "a\x00c", "é", "'; DROP TABLE microapi_ratelimit; --", "x" * 100_000]
    assert [store.hit(key, 60)[0] for key in keys] == [1] * 5
    assert [store.hit(key, 60)[0] for key in keys] == [2] * 5


def test_sqlite_deletes_expired_rows(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    clock = Clock()
    store = SQLiteStore(path, cleanup_interval=30, clock=clock)
    for index in range(50):
        store.hit(f"old{index}", 10)
    clock.now += 20  # expired, but the next cleanup is not due
    store.hit("new", 60)
    with sqlite3.connect(path) as other:
        assert other.execute("SELECT count(*) FROM microapi_ratelimit").fetchone() == (51,)
        clock.now += 15  # cleanup due
        store.hit("new", 60)
        assert other.execute("SELECT key FROM microapi_ratelimit").fetchall() == [("new",)]
    other.close()


def test_sqlite_is_exact_under_threads(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "limits.db")
    assert hammer(store, "k", threads=8, hits=50) == list(range(1, 401))


WORKER = textwrap.dedent(
    """
    import json, sys, threading
    from microapi.middleware import RedisStore, SQLiteStore
    store = {kind}({target!r})
    counts, barrier = [], threading.Barrier(4, timeout=20)
    def work():
        barrier.wait()
        for _ in range(25):
            counts.append(store.hit("shared", 3600)[0])
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads: thread.start()
    for thread in threads: thread.join(60)
    print(json.dumps(counts))
    """
)


def run_processes(kind: str, target: str, processes: int = 4) -> list[int]:
    """Hit one key from *processes* processes, 4 threads each, 25 hits each; every count seen."""
    code = WORKER.format(kind=kind, target=target)
    children = [
        subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
        for _ in range(processes)
    ]
    counts: list[int] = []
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        counts += json.loads(out)
    return sorted(counts)


def test_sqlite_is_exact_across_processes(tmp_path: Path) -> None:
    assert run_processes("SQLiteStore", str(tmp_path / "limits.db")) == list(range(1, 401))


def hits_in_a_child(store: Store) -> list[int]:
    """The counts of three hits on key ``k`` made by a forked child process."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            counts = [store.hit("k", 60)[0] for _ in range(3)]
            os.write(write, json.dumps(counts).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        counts: list[int] = json.loads(pipe.read() or "null")
    os.waitpid(pid, 0)
    return counts


def test_sqlite_connects_again_after_fork(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "limits.db")
    assert store.hit("k", 60)[0] == 1  # the parent holds a connection now
    assert hits_in_a_child(store) == [2, 3, 4]
    assert store.hit("k", 60)[0] == 5  # the parent's connection still works


def test_sqlite_locked_database_is_unavailable_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "limits.db"
    store = SQLiteStore(path, timeout=0.1)
    assert store.hit("k", 60)[0] == 1
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    with pytest.raises(StoreUnavailable, match="locked"):
        store.hit("k", 60)
    blocker.execute("COMMIT")
    blocker.close()
    assert store.hit("k", 60)[0] == 2


def test_sqlite_busy_connection_is_unavailable(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "limits.db", timeout=0.05)
    # NOTE: private: another thread holding this process's connection for
    # longer than the timeout is otherwise hard to arrange.
    with store._lock, pytest.raises(StoreUnavailable, match="connection"):
        store.hit("k", 60)


@pytest.mark.parametrize("parent", ["missing", "a file"])
def test_sqlite_refuses_a_directory_that_does_not_exist(tmp_path: Path, parent: str) -> None:
    if parent == "a file":
        (tmp_path / "var").write_text("x")
    path = tmp_path / "var" / "limits.db"
    with pytest.raises(FileNotFoundError, match=r"directory '.*var' does not exist; create it"):
        SQLiteStore(path)
    assert not (tmp_path / "var").is_dir()  # nothing created behind the caller's back


def test_sqlite_relative_path_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = SQLiteStore("limits.db")
    assert store.hit("k", 60)[0] == 1
    store.close()
    assert (tmp_path / "limits.db").is_file()


@pytest.mark.parametrize("shape", ["path is a directory", "not a database"])
def test_sqlite_unusable_file_is_unavailable(tmp_path: Path, shape: str) -> None:
    if shape == "path is a directory":
        path = tmp_path / "limits.db"
        path.mkdir()
    else:
        path = tmp_path / "limits.db"
        path.write_bytes(b"this is not a SQLite database, not at all" * 100)
    store = SQLiteStore(path)
    with pytest.raises(StoreUnavailable):
        store.hit("k", 60)
    with pytest.raises(StoreUnavailable):
        store.hit("k", 60)  # and again: no half-open state


# -- RedisStore --------------------------------------------------------------------------


def test_redis_without_redis_py_fails_at_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # as if not installed
    with pytest.raises(
        MissingExtra, match=r'RedisStore needs .*pip install "microapi-wsgi\[redis\]"'
    ):
        RedisStore("redis://127.0.0.1:6379/0")


def test_redis_counts_with_a_ttl(redis_url: str, open_redis: Callable[..., RedisStore]) -> None:
    store = open_redis(redis_url, prefix="t1:")
    store.close()  # nothing to close yet
    assert store.hit("a", 60) == (1, 60)
    count, reset = store.hit("a", 60)
    assert count == 2
    assert 59 < reset <= 60
    client = redis.Redis.from_url(redis_url)
    assert client.get("t1:a") == b"2"
    assert 59_000 < client.pttl("t1:a") <= 60_000
    client.close()
    store.close()


def test_redis_window_resets(redis_url: str, open_redis: Callable[..., RedisStore]) -> None:
    store = open_redis(redis_url, prefix="t2:")
    assert store.hit("a", 0.05)[0] == 1
    assert store.hit("a", 0.05)[0] == 2
    time.sleep(0.1)
    assert store.hit("a", 0.05)[0] == 1


def test_redis_gives_a_counter_without_ttl_one(
    redis_url: str, open_redis: Callable[..., RedisStore]
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("t3:a", 5)
    store = open_redis(redis_url, prefix="t3:")
    assert store.hit("a", 60) == (6, 60)
    assert client.pttl("t3:a") > 0
    client.close()


def test_redis_error_answer_is_unavailable(
    redis_url: str, open_redis: Callable[..., RedisStore]
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.rpush("t4:a", "not a counter")
    with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
        open_redis(redis_url, prefix="t4:").hit("a", 60)
    client.close()


def test_redis_closed_port_is_unavailable(open_redis: Callable[..., RedisStore]) -> None:
    store = open_redis(f"redis://:hunter2@127.0.0.1:{free_port()}/0", timeout=0.5)
    with pytest.raises(StoreUnavailable) as caught:
        store.hit("a", 60)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(store)
    assert "***" in repr(store)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("unix://{dir}/no.sock?db=0&password=hunter2", "unix://{dir}/no.sock?db=0&password=***"),
        ("redis://127.0.0.1:{port}/0?password=hunter2", "redis://127.0.0.1:{port}/0?password=***"),
        (
            "rediss://u:hunter2@127.0.0.1:{port}/0?ssl_password=hunter2&db=0",
            "rediss://u:***@127.0.0.1:{port}/0?ssl_password=***&db=0",
        ),
        ("unix://{dir}/no.sock?db=0", "unix://{dir}/no.sock?db=0"),  # nothing to hide
    ],
)
def test_redis_passwords_in_the_query_are_never_shown(
    url: str, shown: str, tmp_path: Path, open_redis: Callable[..., RedisStore]
) -> None:
    # Regression (issue #16): redis-py reads ?password= (the documented way
    # for unix:// URLs); the store's repr, in every outage WARNING, showed it.
    names = {"dir": str(tmp_path), "port": str(free_port())}
    store = open_redis(url.format(**names), timeout=0.5, backoff=0)
    assert repr(store) == f"RedisStore({shown.format(**names)!r})"
    with pytest.raises(StoreUnavailable) as caught:
        store.hit("a", 60)
    assert "hunter2" not in str(caught.value)


def test_redis_silent_server_times_out(open_redis: Callable[..., RedisStore]) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections, never answers
        store = open_redis(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", timeout=0.2)
        with pytest.raises(StoreUnavailable, match=r"[Tt]imeout"):
            store.hit("a", 60)


def test_redis_reconnects_after_a_restart(
    tmp_path: Path, open_redis: Callable[..., RedisStore]
) -> None:
    with redis_server(tmp_path) as server:
        store = open_redis(server.url, timeout=0.5, backoff=0)  # no circuit breaker
        assert store.hit("a", 60)[0] == 1
        assert store.hit("a", 60)[0] == 2
        server.kill()
        with pytest.raises(StoreUnavailable):
            store.hit("a", 60)
        server.start()  # same port, empty: counting starts again
        assert store.hit("a", 60)[0] == 1
        assert store.hit("a", 60)[0] == 2


@contextmanager
def stalled(server: RedisServer) -> Iterator[Callable[[], None]]:
    """Stall *server* with SIGSTOP (it keeps its socket, never answers); yield resume."""
    assert server.process is not None
    pid = server.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield lambda: os.kill(pid, signal.SIGCONT)
    finally:
        os.kill(pid, signal.SIGCONT)


def test_redis_circuit_breaker_fails_fast_then_probes(
    tmp_path: Path, open_redis: Callable[..., RedisStore]
) -> None:
    clock = Clock()
    with redis_server(tmp_path) as server:
        store = open_redis(server.url, timeout=0.2, backoff=2.0, clock=clock)
        assert store.hit("a", 60)[0] == 1
        with stalled(server) as resume:
            with pytest.raises(StoreUnavailable, match=r"[Tt]imeout"):
                store.hit("a", 60)  # the one hit that waits
            for _ in range(20):  # at once: the breaker answers, not Redis
                with pytest.raises(StoreUnavailable, match="failed recently"):
                    store.hit("a", 60)
            clock.now += 2.0
            with pytest.raises(StoreUnavailable, match=r"[Tt]imeout"):
                store.hit("a", 60)  # the probe, still stalled
            with pytest.raises(StoreUnavailable, match="failed recently"):
                store.hit("a", 60)
            resume()
            clock.now += 1.9
            with pytest.raises(StoreUnavailable, match="failed recently"):
                store.hit("a", 60)  # still backing off
            clock.now += 0.1
            # The probe succeeds: closed again.  (The hits that timed out were
            # in the stalled server's socket buffer: it may count them on resuming.)
            count = store.hit("a", 60)[0]
            assert 2 <= count <= 4
            assert store.hit("a", 60)[0] == count + 1


def test_redis_answered_errors_do_not_open_the_circuit(
    redis_url: str, open_redis: Callable[..., RedisStore]
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.rpush("t6:bad", "not a counter")
    client.close()
    store = open_redis(redis_url, prefix="t6:", clock=Clock())
    with pytest.raises(StoreUnavailable, match="WRONGTYPE"):
        store.hit("bad", 60)
    assert store.hit("good", 60)[0] == 1


@pytest.mark.parametrize("fail_open", [True, False])
def test_a_stalled_redis_answers_by_the_policy(
    tmp_path: Path, open_redis: Callable[..., RedisStore], fail_open: bool
) -> None:
    with redis_server(tmp_path) as server:
        store = open_redis(server.url, timeout=0.2, backoff=60, clock=Clock())
        api = Api()
        api.middleware(rate_limit("100/minute", store=store, fail_open=fail_open))

        @api.route("/")
        def index(req: Request, res: Res) -> dict[str, Any]:
            return {}

        client = TestClient(api)
        assert client.get("/").headers["RateLimit-Remaining"] == "99"
        with stalled(server):
            for _ in range(10):
                response = client.get("/")
                assert response.status_code == (200 if fail_open else 503)
                assert "RateLimit-Remaining" not in response.headers


def test_redis_backoff_is_checked(open_redis: Callable[..., RedisStore]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        open_redis("redis://127.0.0.1:1/0", backoff=-1)


def test_redis_is_exact_across_processes(redis_url: str) -> None:
    assert run_processes("RedisStore", redis_url) == list(range(1, 401))


def test_redis_connects_again_after_fork(
    redis_url: str, open_redis: Callable[..., RedisStore]
) -> None:
    store = open_redis(redis_url, prefix="t5:")
    assert store.hit("k", 60)[0] == 1
    assert hits_in_a_child(store) == [2, 3, 4]
    assert store.hit("k", 60)[0] == 5


def test_apps_without_redis_never_import_it(tmp_path: Path) -> None:
    # A RedisStore imports redis-py when it is built (to check its URL);
    # apps that use another store never do.
    code = textwrap.dedent(
        f"""
        import sys
        from microapi import Api
        from microapi.middleware import RedisStore, SQLiteStore, rate_limit
        api = Api()
        api.middleware(rate_limit("1/second", store=SQLiteStore({str(tmp_path / "x.db")!r})))
        print("redis" in sys.modules)
        RedisStore("redis://127.0.0.1:1/0")
        print("redis" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_redis_server_helper_restarts_on_its_port(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, free_port())
    server.start()
    try:
        assert server.ping()
        server.kill()
        assert not server.ping()
    finally:
        server.stop()
    assert not server.ping()

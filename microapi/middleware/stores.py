"""Rate-limit counter stores: memory, SQLite (one host), Redis (many hosts).

Every store counts fixed windows the same way, the way Redis ``INCR`` plus
``PEXPIRE`` on the first hit does: a key's window starts at its first hit
and lasts ``period`` seconds; :meth:`Store.hit` adds one and returns the
count so far and the seconds left.  A window never depends on the wall
clock's alignment, so hosts with skewed clocks still agree.

A store that cannot answer raises :class:`StoreUnavailable`; ``rate_limit``
then admits or refuses the request (its ``fail_open=``).
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..extras import require

__all__ = ["MemoryStore", "RedisStore", "SQLiteStore", "Store", "StoreUnavailable"]

# Clients inherited over fork() are kept referenced, never closed: closing a
# SQLite connection in the child would drop the POSIX locks of the child's
# own new connection to the same file (SQLite's "do not carry a connection
# across fork" rule).  One per store per fork, only if the parent used it.
_ABANDONED: list[object] = []


class StoreUnavailable(Exception):
    """The store cannot count right now (server down, timeout, locked file)."""


class Store(ABC):
    """A fixed-window counter shared by the requests that use it.

    Subclass it and implement :meth:`hit` to keep counters elsewhere.
    """

    @abstractmethod
    def hit(self, key: str, period: float) -> tuple[int, float]:
        """Count one hit on *key*; return ``(count, seconds_until_reset)``.

        The first hit of a window starts it; the window lasts *period*
        seconds.  *count* includes this hit.

        :raises StoreUnavailable: when the store cannot answer.
        """

    def close(self) -> None:  # noqa: B027 - optional: stores without connections
        """Release this process's connections (they reopen when needed)."""


def _after_fork(store: Store, method: Callable[[Any], None]) -> None:
    # NOTE: gunicorn (and `microapi serve`) may import the app, and so build
    # the store, before forking its workers: each child starts afresh, in
    # the child's only thread, before any worker thread can race it.
    ref = weakref.ref(store)

    def reset() -> None:  # pragma: no cover - runs in forked children
        alive = ref()
        if alive is not None:
            method(alive)

    os.register_at_fork(after_in_child=reset)


class _ConnectedStore(Store):
    """What the stores that talk to a database or server share.

    One connection per process, in :attr:`_connection`, opened at first use
    (so a store may be built before the server forks its workers) and shared
    by the process's threads under :attr:`_lock`; a forked child abandons
    its parent's connection (``_ABANDONED``) and opens its own.  *timeout*
    bounds every wait.
    """

    def __init__(self, timeout: float) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.timeout = timeout
        self._reset()
        _after_fork(self, type(self)._forget)

    def _reset(self) -> None:
        """Start this process's state afresh; subclasses add theirs."""
        self._lock = threading.Lock()
        self._connection: Any = None
        self._pid = os.getpid()

    def _forget(self) -> None:  # pragma: no cover - runs in forked children
        if self._connection is not None:
            _ABANDONED.append(self._connection)
        self._reset()


class MemoryStore(Store):
    """Counters in this process's memory: exact within one process.

    Thread-safe.  Expired windows are dropped whenever the table has doubled
    since the last sweep, so memory stays proportional to the live keys: it
    never holds more than ``max(1024, 2 * the windows live at the last
    sweep)`` windows (100 000 clients seen once each, 500 a second with a
    one-second period, leave at most 1024: a few hundred kB), and a sweep,
    a pass over the table, comes once per doubling (7 for 100 000 live keys).
    Each process (gunicorn worker) counts on its own: use
    :class:`SQLiteStore` or :class:`RedisStore` to share counters.

    :param clock: seconds, monotonic; tests pass a fake one.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # key -> (reset_at, the window's counter)
        self._windows: dict[str, tuple[float, Callable[[], int]]] = {}
        self._lock = threading.Lock()
        self._sweep_at = 1024
        _after_fork(self, MemoryStore._new_lock)

    def _new_lock(self) -> None:  # pragma: no cover - runs in forked children
        self._lock = threading.Lock()

    def hit(self, key: str, period: float) -> tuple[int, float]:
        """Count one hit on *key*; see :meth:`Store.hit`."""
        now = self._clock()
        window = self._windows.get(key)
        if window is not None and window[0] > now:
            # PERF: no lock while a window runs: an itertools.count's
            # __next__ is one C call, atomic under the GIL (threading.py
            # numbers its threads the same way).
            return window[1](), window[0] - now
        with self._lock:  # a window starts: once, whichever thread is first
            window = self._windows.get(key)
            if window is not None and window[0] > now:
                return window[1](), window[0] - now
            if window is None and len(self._windows) >= self._sweep_at:
                self._sweep(now)
            self._windows[key] = (now + period, itertools.count(2).__next__)
            return 1, period

    def _sweep(self, now: float) -> None:
        # PERF: amortized O(1) per hit: a full sweep only after the table
        # doubled, never on the usual path.
        windows = self._windows
        for key in [key for key, window in windows.items() if window[0] <= now]:
            del windows[key]
        self._sweep_at = max(1024, 2 * len(windows))

    def __len__(self) -> int:
        """The number of windows held (expired ones not swept yet included)."""
        return len(self._windows)

    def __repr__(self) -> str:
        return "MemoryStore()"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS microapi_ratelimit (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    reset_at INTEGER NOT NULL  -- milliseconds since the epoch
) WITHOUT ROWID
"""

# One atomic statement: insert, or count on, or restart an expired window
# (or one further away than a period: the clock went back).  SQLite
# evaluates every SET expression against the old row.
_HIT = """
INSERT INTO microapi_ratelimit (key, count, reset_at) VALUES (:key, 1, :now + :period)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN reset_at <= :now OR reset_at > :now + :period
                 THEN 1 ELSE count + 1 END,
    reset_at = CASE WHEN reset_at <= :now OR reset_at > :now + :period
                    THEN :now + :period ELSE reset_at END
RETURNING count, reset_at
"""

_CLEANUP = "DELETE FROM microapi_ratelimit WHERE reset_at <= ?"


class SQLiteStore(_ConnectedStore):
    """Counters in a SQLite file: shared by every process on one host.

    The recommended store for one machine: no server, exact across gunicorn
    workers (one write transaction per hit: the clock is read once it holds
    the file's lock, then one ``INSERT ... ON CONFLICT ... RETURNING``;
    SQLite 3.35 or later).  The file uses WAL; it and its table are created at
    first use, in a directory that must exist already: a missing one is a
    typo or an undeployed volume, refused when the store is built rather
    than created somewhere unexpected.  Each process opens its own connection lazily (so the
    store may be built before gunicorn forks) and shares it between its
    threads.  Expired rows are deleted every *cleanup_interval* seconds.
    A locked, unreadable or unwritable database raises
    :class:`StoreUnavailable`: waits for this process's connection and for
    the file's write lock each last at most *timeout* seconds.

    :param path: the database file, e.g. ``"var/ratelimit.db"``.
    :param timeout: seconds to wait for the connection, then for the lock.
    :param cleanup_interval: seconds between deletions of expired rows.
    :param clock: wall-clock seconds (shared by processes); tests pass a
        fake one.
    :raises FileNotFoundError: when *path*'s directory does not exist.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        timeout: float = 1.0,
        *,
        cleanup_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = os.fspath(path)
        directory = Path(self.path).absolute().parent
        if not directory.is_dir():
            raise FileNotFoundError(
                f"SQLiteStore({self.path!r}): the directory {str(directory)!r} does not exist; "
                "create it first (the store does not create directories)"
            )
        self.cleanup_interval = cleanup_interval
        self._clock = clock
        super().__init__(timeout)

    def _reset(self) -> None:
        super()._reset()
        self._connection: sqlite3.Connection | None = None
        self._cleanup_at = 0.0

    def _connect(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # pragma: no cover - forked without os.fork's hooks
            self._forget()
        connection = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._use_wal(connection)
            # NOTE: counters need no durability across power loss; NORMAL
            # skips the fsync per commit that WAL would otherwise pay.
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(_SCHEMA)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        # WAL is a property of the file, kept once set.  NOTE: switching a
        # new file fails at once with "database is locked" (no busy wait)
        # while another process is switching it too: workers starting
        # together all try; retry until one has, within the timeout.
        deadline = time.monotonic() + self.timeout
        while connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                connection.execute("PRAGMA journal_mode=WAL").fetchall()
            except sqlite3.OperationalError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def hit(self, key: str, period: float) -> tuple[int, float]:
        """Count one hit on *key*; see :meth:`Store.hit`."""
        lock = self._lock  # NOTE: the one to release, even if a fork replaced it
        if not lock.acquire(timeout=self.timeout):
            raise StoreUnavailable(f"{self!r}: timed out waiting for this process's connection")
        try:
            connection = self._connection
            if connection is None or self._pid != os.getpid():
                connection = self._connect()
            # NOTE: the clock is read once this process holds the file's
            # write lock, so the writers' timestamps rise in the order they
            # write.  Read before a wait for the lock, a stale "now" looks
            # like a clock gone back to the window another worker started
            # meanwhile, and restarts it: more hits admitted than the limit.
            connection.execute("BEGIN IMMEDIATE")
            now_s = self._clock()
            now = int(now_s * 1000)
            rows = connection.execute(
                _HIT, {"key": key, "now": now, "period": max(1, round(period * 1000))}
            ).fetchall()
            connection.execute("COMMIT")
            if now_s >= self._cleanup_at:
                self._cleanup(connection, now_s, now)
        except BaseException as exc:
            # A new connection next time (closing rolls back an open
            # transaction): a file that was missing, replaced or unreadable
            # may be fine by then.
            self._close_connection()
            if isinstance(exc, (sqlite3.Error, OSError)):
                raise StoreUnavailable(f"{self!r}: {exc}") from exc
            raise
        finally:
            lock.release()
        count, reset_at = rows[0]
        return count, (reset_at - now) / 1000

    def _cleanup(self, connection: sqlite3.Connection, now_s: float, now: int) -> None:
        self._cleanup_at = now_s + self.cleanup_interval
        # NOTE: the hit already counted; rows left now go at the next cleanup.
        with suppress(sqlite3.Error):
            connection.execute(_CLEANUP, (now,))

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def close(self) -> None:
        """Close this process's connection (it reopens when needed)."""
        with self._lock:
            self._close_connection()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"


# INCR, PEXPIRE on the first hit, PTTL: atomic, as Redis runs a script
# alone.  A counter without a TTL (set by hand, or left by a crash between
# two commands of an older client) gets one instead of blocking forever.
_REDIS_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    return {count, tonumber(ARGV[1])}
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
end
return {count, ttl}
"""


class RedisStore(_ConnectedStore):
    """Counters in Redis: shared by every worker on every host.

    One atomic Lua script per hit (``INCR``, ``PEXPIRE`` on the first hit,
    ``PTTL``), so limits are exact however many processes count.  redis-py
    (the ``redis`` extra) is imported when the store is built, and the URL
    checked, so a missing extra or a URL it cannot use fails when the app is
    built, not at its first request; each process makes its own client
    (no connection is opened before then) lazily, after the server forks.
    Connection errors, timeouts (after *timeout* seconds) and Redis errors
    raise :class:`StoreUnavailable`; the client reconnects by itself when
    Redis is back.

    A circuit breaker keeps an outage from costing every request the
    timeout (a stalled Redis, one that accepts connections and never
    answers, would hold each one for it): after a failure, hits raise
    :class:`StoreUnavailable` at once for *backoff* seconds, so
    ``rate_limit`` answers by its ``fail_open=`` policy without waiting;
    then hits try Redis again, and a success closes the circuit.

    :param url: ``redis://[:password@]host:port/db``, ``rediss://...`` or
        ``unix:///path/to/redis.sock`` (redis-py's ``from_url``).
    :param timeout: seconds to wait to connect, and for each answer.
    :param prefix: the start of every key this store writes.
    :param backoff: seconds after a failure before Redis is tried again;
        ``0`` tries it on every hit.
    :param clock: seconds, monotonic; tests pass a fake one.
    :raises MissingExtra: when redis-py is not installed.
    :raises ValueError: a URL redis-py cannot use (another scheme, an option
        it does not know such as ``?PASSWORD=``, a bad value such as
        ``?db=first``), when the store is built rather than at the first hit.
    """

    def __init__(
        self,
        url: str,
        timeout: float = 1.0,
        *,
        prefix: str = "microapi:ratelimit:",
        backoff: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        require("redis", "redis", "RedisStore")
        if urlsplit(url).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError(
                f"RedisStore takes a redis://, rediss:// or unix:// URL, not {_redact(url)!r}"
            )
        if not backoff >= 0:
            raise ValueError(f"backoff must be a number of seconds ≥ 0, got {backoff!r}")
        _check_redis_url(url)
        self.url = url
        self.prefix = prefix
        self.backoff = backoff
        self._clock = clock
        # When Redis may be tried again after a failure; 0.0: no outage.
        self._retry_at = 0.0
        super().__init__(timeout)

    def _reset(self) -> None:
        super()._reset()  # its _connection is the redis-py client
        self._script: Any = None
        self._errors: tuple[type[Exception], ...] = ()
        self._answered: type[Exception] = Exception

    def _connect(self) -> Any:
        with self._lock:
            if self._pid != os.getpid():  # pragma: no cover - forked without fork hooks
                self._forget()
            if self._script is None:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                client = redis.Redis.from_url(
                    self.url,
                    socket_timeout=self.timeout,
                    socket_connect_timeout=self.timeout,
                    # One immediate retry on a connection error: a pooled
                    # connection to a Redis that restarted fails once, then a
                    # new one works.  Never on timeouts, to bound the wait.
                    retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                )
                self._connection = client
                # OSError and ValueError can come from the socket layer.
                self._errors = (redis.RedisError, OSError, ValueError)
                self._answered = redis.ResponseError
                self._script = client.register_script(_REDIS_HIT)
            return self._script

    def hit(self, key: str, period: float) -> tuple[int, float]:
        """Count one hit on *key*; see :meth:`Store.hit`.

        :raises StoreUnavailable: when Redis fails, and at once for
            :attr:`backoff` seconds after it failed.
        """
        if self._retry_at:  # PERF: one attribute test while Redis is well
            now = self._clock()
            if now < self._retry_at:
                raise StoreUnavailable(
                    f"{self!r}: failed recently; next try in {self._retry_at - now:.1f} s"
                )
            # NOTE: past the back-off every hit tries Redis again, not one
            # probe while the others are still refused: once Redis is back
            # no hit goes uncounted; while it is not, each back-off costs at
            # most one wait per thread.
        script = self._script
        if script is None or self._pid != os.getpid():
            script = self._connect()
        try:
            count, ttl = script(keys=[self.prefix + key], args=[max(1, round(period * 1000))])
        except self._errors as exc:
            # NOTE: an error Redis answers (WRONGTYPE...) is no outage.
            if self.backoff and not isinstance(exc, self._answered):
                self._retry_at = self._clock() + self.backoff
            raise StoreUnavailable(f"{self!r}: {exc}") from exc
        self._retry_at = 0.0
        return int(count), int(ttl) / 1000

    def close(self) -> None:
        """Close this process's connections (they reopen when needed)."""
        client = self._connection
        if client is not None:
            client.close()

    def __repr__(self) -> str:
        return f"RedisStore({_redact(self.url)!r})"


# NOTE: redis-py also reads a password from the query (``?password=``, the
# documented way for ``unix://`` URLs; ``ssl_password`` too).
_QUERY_PASSWORD = re.compile(r"([?&][^=&#]*password[^=&#]*=)[^&#]*", re.IGNORECASE)


def _check_redis_url(url: str) -> None:
    # redis-py reads the URL's query into connection options only when the
    # first connection is made: an unknown one (``?PASSWORD=``) or a bad value
    # would then fail every request.  Building a connection object opens no
    # socket, so it can be done now, when the app is built.
    import redis

    try:
        pool = redis.ConnectionPool.from_url(url)
        pool.connection_class(**pool.connection_kwargs)
    except (TypeError, ValueError, redis.RedisError) as exc:
        shown = _redact(url)
        # An unknown option's message names only the option; a value redis-py
        # cannot read may be quoted in its message, a password included.
        detail = exc if isinstance(exc, TypeError) or shown == url else type(exc).__name__
        raise ValueError(f"RedisStore cannot use {shown!r}: {detail}") from None


def _redact(url: str) -> str:
    # Logs, reprs and errors never show a password: in the userinfo (all
    # before the last "@" after the scheme, however malformed: an unencoded
    # "/", "?" or "#" in a password would fool urlsplit), nor in the query
    # (the WARNING of an outage, which names the store, would log it).
    scheme, separator, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo:
        url = f"{scheme}{separator}{userinfo.partition(':')[0]}:***@{host}"
    return _QUERY_PASSWORD.sub(r"\1***", url)

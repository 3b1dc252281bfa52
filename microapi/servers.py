"""The production servers behind ``microapi serve``: gunicorn and granian.

One set of options means the same on both servers (see :class:`ServeOptions`);
whatever else a server can do is passed through to it untouched: a gunicorn
config file (``-c gunicorn.conf.py``), or any of the server's own command-line
options after ``--``.

How the app is loaded is the same on both: ``microapi serve`` imports ``APP``
once in the server's master process (so that a bad ``APP`` is one clear line
and exit status 2), then the server forks its workers, which share that code.
Open connections, pools and files lazily, after the fork, never at import time.
granian then asks each worker for its app through :func:`granian_app`, which
finds the module already imported.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import IO, Any

from .extras import install_hint
from .types import WSGIApp

__all__ = [
    "ACCESS_LOG_FORMAT",
    "DEFAULT_THREADS",
    "SERVERS",
    "AccessLog",
    "ServeOptions",
    "ServerUnavailable",
    "granian_app",
    "serve",
]

#: The servers ``microapi serve --server`` knows, the default first.
SERVERS = ("gunicorn", "granian")

#: Threads per worker when ``--threads`` is not given, per server: enough
#: that the 20 slow connections of ``python -m benchmarks.slowclients``
#: (slow headers, slow bodies and silent ones, in turn) cannot take every
#: thread of a worker, even when one worker gets them all (figures in
#: docs/deployment.md).  A worker whose threads are all held serves nobody.
#: gunicorn spends a thread on each kind: it needs more than 20; threads cost
#: it nothing measurable, so 32.  granian reads headers in Rust, so only the
#: 7 trickled bodies hold its threads (a WSGI app reads its body on its
#: thread): 8.  More would cost granian tail latency (threads wait for the
#: GIL: hello's p99 ~5 ms at 4 threads, ~7 at 8, ~17 at 32).
DEFAULT_THREADS: Mapping[str, int] = MappingProxyType({"gunicorn": 32, "granian": 8})

#: gunicorn's access log format for ``microapi serve``: the combined log
#: format, the duration in milliseconds, and the response's ``X-Request-ID``
#: (``-`` until the ``request_id()`` middleware is installed).  Reuse it as
#: ``access_log_format`` when configuring gunicorn yourself.  On granian,
#: :class:`AccessLog` writes the same line.
ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms '
    "request_id=%({x-request-id}o)s"
)

#: The environment variables through which the master hands granian's
#: workers what :func:`granian_app` needs (granian starts each worker with
#: only a target name).
APP_ENV = "MICROAPI_SERVE_APP"
ACCESS_LOG_ENV = "MICROAPI_SERVE_ACCESS_LOG"


class ServerUnavailable(RuntimeError):
    """The chosen server is not installed; the message names the extra to install."""


@dataclass(frozen=True)
class ServeOptions:
    """What ``microapi serve`` asks of either server.

    :param binds: ``HOST:PORT`` addresses (``[::1]:8000`` for IPv6,
        ``unix:/path`` for a Unix socket).  gunicorn listens on all of
        them; granian listens on one address, so it takes exactly one.
    :param workers: worker processes.
    :param threads: threads per worker that run the app (gunicorn's
        ``--threads``, granian's ``--blocking-threads``); ``None``: the
        server's :data:`DEFAULT_THREADS`.
    :param timeout: seconds.  Both servers give a worker this long to
        finish its requests after a graceful stop (SIGTERM) before killing
        it.  gunicorn also restarts a worker whose main loop is silent this
        long; granian has no such heartbeat.
    :param log_level: ``debug``, ``info``, ``warning``, ``error`` or
        ``critical``: the server's own log.
    :param access_log: one line per request on stdout, with its request id.
    :param config: a gunicorn config file (``-c``); gunicorn only.
    :param extra: the server's own command-line options, passed through.
    """

    binds: Sequence[str] = ("127.0.0.1:8000",)
    workers: int = 1
    threads: int | None = None
    timeout: int = 30
    log_level: str = "info"
    access_log: bool = True
    config: str | None = None
    extra: Sequence[str] = field(default_factory=tuple)
    #: Options the user gave explicitly (the others are microapi's
    #: defaults, which a gunicorn config file may override).
    explicit: frozenset[str] = frozenset()

    def threads_on(self, server: str) -> int:
        """The threads per worker on *server*: :attr:`threads`, else its default."""
        return DEFAULT_THREADS[server] if self.threads is None else self.threads


def serve(server: str, spec: str, app: WSGIApp, options: ServeOptions) -> int:
    """Serve *app* (already imported from *spec*) with *server* until stopped.

    :returns: the exit status.
    :raises ServerUnavailable: *server* is not installed.
    :raises ValueError: *options* do not fit *server* (the message says why).
    """
    if server == "granian":
        return _serve_granian(spec, options)
    return _serve_gunicorn(app, options)


# -- gunicorn ---------------------------------------------------------------------------


def _serve_gunicorn(app: WSGIApp, options: ServeOptions) -> int:
    # NOTE: lazy: only the gunicorn path needs gunicorn (and --server granian never loads it).
    from gunicorn.app.base import Application  # type: ignore[import-untyped]

    ours: dict[str, Any] = {
        "bind": list(options.binds),
        "workers": options.workers,
        # NOTE: gthread rather than sync: a sync worker serves one connection
        # at a time, so one slow client stalls it; see docs/deployment.md.
        "worker_class": "gthread",
        "threads": options.threads_on("gunicorn"),
        "timeout": options.timeout,
        "graceful_timeout": options.timeout,
        "loglevel": options.log_level,
        "preload_app": True,
        # NOTE: gunicorn lets a peer in forwarded_allow_ips (127.0.0.1 by
        # default, so any local client or a proxy passing client headers on)
        # set SCRIPT_NAME and PATH_INFO with request headers, and answers its
        # own 500 when that SCRIPT_NAME is no prefix of the path (found by
        # make fuzz). Behind a proxy, proxy_fix()'s X-Forwarded-Prefix does
        # this job; a config file or --forwarder-headers turns it back on.
        "forwarder_headers": "",
    }
    if options.access_log:
        ours |= {"accesslog": "-", "access_log_format": ACCESS_LOG_FORMAT}
    else:
        ours["accesslog"] = None
    explicit = set(options.explicit)
    if "timeout" in explicit:
        explicit.add("graceful_timeout")
    extra = list(options.extra)

    class Server(Application):  # type: ignore[misc]
        """gunicorn through its application API: our options, its config file, its flags."""

        def init(self, parser: Any, opts: Any, args: Any) -> None:  # pragma: no cover - unused
            return None

        def load_config(self) -> None:
            # NOTE: gunicorn's own precedence: defaults, then the config file,
            # then the command line; microapi's defaults count as defaults,
            # the options the user typed as the command line.
            for key, value in ours.items():
                self.cfg.set(key, value)
            if options.config is not None:
                self.load_config_from_file(options.config)
            for key, value in ours.items():
                if key in explicit:
                    self.cfg.set(key, value)
            parsed = self.cfg.parser().parse_args(extra)
            for key, value in vars(parsed).items():
                if value is not None and key != "args" and key in self.cfg.settings:
                    self.cfg.set(key.lower(), value)
            threads = self.cfg.settings["threads"]
            # NOTE: gunicorn quietly runs gthread for a sync worker with more
            # than one thread; microapi's thread default is for gthread, so a
            # worker class chosen in a config file or after -- gets gunicorn's.
            if (
                self.cfg.settings["worker_class"].get() != "gthread"
                and "threads" not in explicit
                and threads.get() == ours["threads"]
            ):
                self.cfg.set("threads", threads.default)

        def load(self) -> WSGIApp:
            return app

        def run(self) -> None:
            from gunicorn.app import base  # type: ignore[import-untyped]
            from gunicorn.arbiter import Arbiter  # type: ignore[import-untyped]

            class GracefulArbiter(Arbiter):  # type: ignore[misc]
                """A master that stops gracefully on SIGINT too, as granian does."""

                def handle_int(self) -> None:
                    # NOTE: gunicorn's quick stop (SIGQUIT to the workers) left a
                    # gthread worker running until graceful_timeout now and then;
                    # SIGINT now means what SIGTERM means, on both servers.
                    self.handle_term()

            # NOTE: Application.run() builds base.Arbiter; this process runs
            # nothing else, so the module's name is ours to point elsewhere.
            base.Arbiter = GracefulArbiter
            super().run()

    Server(usage=None, prog="microapi serve").run()
    return 0


# -- granian ----------------------------------------------------------------------------


def _serve_granian(spec: str, options: ServeOptions) -> int:
    try:
        from granian.cli import cli  # NOTE: optional (the granian extra)
    except ImportError:
        raise ServerUnavailable(_missing("granian")) from None
    if len(options.binds) != 1:
        raise ValueError(
            "granian listens on one address: give one --bind "
            "(or run one microapi serve per address)"
        )
    if options.config is not None:
        raise ValueError(
            "--config is a gunicorn config file; pass granian's options after --, "
            "e.g. microapi serve APP --server granian -- --http1-keep-alive"
        )
    os.environ[APP_ENV] = spec
    os.environ[ACCESS_LOG_ENV] = "1" if options.access_log else ""
    argv = [
        *_granian_bind(options.binds[0]),
        "--interface",
        "wsgi",
        "--workers",
        str(options.workers),
        "--blocking-threads",
        str(options.threads_on("granian")),
        "--workers-kill-timeout",
        str(options.timeout),
        # NOTE: as gunicorn's master does, replace a worker that dies.
        "--respawn-failed-workers",
        "--log-level",
        options.log_level,
        "--no-ws",
        "--factory",
        *options.extra,
        f"{__name__}:granian_app",
    ]
    # NOTE: granian's own entry point reads GRANIAN_* environment variables too.
    # NOTE: click exits with granian's status when the server stops.
    cli.main(argv, prog_name="microapi serve --server granian", auto_envvar_prefix="GRANIAN")


def _granian_bind(bind: str) -> list[str]:
    if bind.startswith("unix:"):
        return ["--uds", bind.removeprefix("unix:")]
    host, colon, port = bind.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError(f"--bind takes HOST:PORT or unix:PATH, not {bind!r}")
    return ["--host", host.removeprefix("[").removesuffix("]") or "0.0.0.0", "--port", port]


def granian_app() -> WSGIApp:
    """The app granian serves in each worker: ``APP`` as ``microapi serve`` loaded it.

    granian calls this factory once per worker process (the target of
    ``microapi serve --server granian``); it reads ``APP`` from
    ``MICROAPI_SERVE_APP`` and wraps it in :class:`AccessLog` unless the access
    log is off.
    """
    from .appload import load_app  # NOTE: lazy: appload imports app; only granian's workers need it

    app = load_app(os.environ[APP_ENV])
    if os.environ.get(ACCESS_LOG_ENV):
        return AccessLog(app)
    return app


def _missing(server: str) -> str:
    return f"--server {server} needs {server}, which is not installed: {install_hint(server)}"


# -- the access log ---------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class AccessLog:
    """WSGI middleware writing gunicorn's access line (:data:`ACCESS_LOG_FORMAT`) per request.

    ``microapi serve --server granian`` puts it around the app, since
    granian's own access log cannot show response headers such as
    ``X-Request-ID``.  The line is written when the response is done: at
    once for a body given as a list, else when the server closes the
    response iterable.  ``%(b)s`` is the response's ``Content-Length``
    (``-`` when it has none), ``%(u)s`` is always ``-``: no credential is
    ever written.

    :param app: the WSGI app to log for.
    :param stream: where the lines go (default: standard output).
    """

    def __init__(self, app: WSGIApp, stream: IO[str] | None = None) -> None:
        self.app = app
        self.stream = stream if stream is not None else sys.stdout
        self._lock = threading.Lock()
        self._second = -1
        self._stamp = ""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Call the app; log its response when it is done."""
        started = time.perf_counter()
        answer: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer[:] = (status, headers)
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, capture)
        except BaseException:
            self.write(environ, [], started)  # the server answers 500
            raise
        if type(body) is list:
            self.write(environ, answer, started)
            return body
        return _Logged(body, self, environ, answer, started)

    def write(self, environ: dict[str, Any], answer: list[Any], started: float) -> None:
        """Write the line for one response (*answer*: ``[status, headers]`` or empty)."""
        status, headers = answer if answer else ("500", [])
        length = request_id = "-"
        for name, value in headers:
            lowered = name.lower()
            if lowered == "content-length":
                length = value
            elif lowered == "x-request-id":
                request_id = value
        query = environ.get("QUERY_STRING")
        target = environ.get("PATH_INFO", "") + ("?" + query if query else "")
        request = f"{environ.get('REQUEST_METHOD', '-')} {target} "
        request += environ.get("SERVER_PROTOCOL", "-")
        milliseconds = int((time.perf_counter() - started) * 1000)
        line = (
            f"{environ.get('REMOTE_ADDR') or '-'} - - {self._now()} "
            f'"{_quoted(request)}" {status[:3]} {length} '
            f'"{_quoted(environ.get("HTTP_REFERER", "-"))}" '
            f'"{_quoted(environ.get("HTTP_USER_AGENT", "-"))}" {milliseconds}ms '
            f"request_id={request_id}\n"
        )
        with self._lock:
            self.stream.write(line)
            self.stream.flush()

    def _now(self) -> str:
        # NOTE: formatted once a second; a request costs a comparison.
        now = time.time()
        second = int(now)
        if second != self._second:
            local = time.localtime(now)
            offset = local.tm_gmtoff // 60
            sign = "+" if offset >= 0 else "-"
            self._stamp = (
                f"[{local.tm_mday:02d}/{_MONTHS[local.tm_mon - 1]}/{local.tm_year}:"
                f"{local.tm_hour:02d}:{local.tm_min:02d}:{local.tm_sec:02d} "
                f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}]"
            )
            self._second = second
        return self._stamp


def _quoted(text: str) -> str:
    # NOTE: a client's text must not forge a second log line or a field.
    if text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return text.encode("unicode_escape", "backslashreplace").decode().replace('"', '\\"')


class _Logged:
    """A response iterable that writes its access line when the server closes it."""

    __slots__ = ("answer", "body", "environ", "log", "started")

    def __init__(
        self,
        body: Iterable[bytes],
        log: AccessLog,
        environ: dict[str, Any],
        answer: list[Any],
        started: float,
    ) -> None:
        self.body = body
        self.log = log
        self.environ = environ
        self.answer = answer
        self.started = started

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.log.write(self.environ, self.answer, self.started)

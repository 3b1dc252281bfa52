"""The ``microapi`` command: run, serve and inspect an app.

::

    microapi                                # help, and the app found here
    microapi run --reload                   # the app in ./wsgi.py or ./app.py
    microapi run wsgi:api --reload          # werkzeug's dev server, restarts on changes
    microapi serve wsgi:api --workers 4     # gunicorn: gthread workers, access log
    microapi serve wsgi:api --server granian  # granian (the granian extra)
    microapi serve wsgi:api -- --max-requests 1000   # options for the server itself
    microapi routes wsgi:api                # methods, path, name, handler, middleware
    microapi routes wsgi:api --json
    microapi openapi wsgi:api --output openapi.json
    python -m microapi routes 'myapp:create_api("dev")'

``APP`` is ``MODULE:NAME`` (see :mod:`microapi.appload`); without it,
the app is found as ``flask run`` finds one: ``wsgi.py`` then ``app.py`` in
the current directory, an ``api`` (or ``app``) in it, else a factory
``create_api`` or ``create_app``.

Exit status: ``0`` on success and for bare ``microapi`` (help, as
``flask`` prints), ``2`` for usage errors and an ``APP`` that cannot be
found or loaded (one line on stderr, never a traceback), ``1`` when an
output file cannot be written.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from . import __version__
from .app import Api
from .appload import LoadError, discover_app, load, load_app, require_api, wsgi_app
from .protocol import ROUTE_METHODS
from .routing import Route
from .servers import (
    ACCESS_LOG_FORMAT,
    DEFAULT_THREADS,
    SERVERS,
    ServeOptions,
    ServerUnavailable,
    serve,
)
from .types import WSGIApp

__all__ = ["ACCESS_LOG_FORMAT", "load_app", "main"]


class _CliError(Exception):
    """A mistake the user can fix (a bad option value): one line, exit status 2."""


# -- commands ---------------------------------------------------------------------------


def _resolve(args: argparse.Namespace) -> Any:
    """Load ``APP``, or find it when none was given; *args.app* becomes its spec."""
    if args.app is not None:
        return load(args.app)
    args.app, obj = discover_app()
    return obj


def _run(args: argparse.Namespace) -> int:
    # NOTE: lazy: only `microapi run` uses werkzeug's development server.
    from werkzeug.serving import is_running_from_reloader, run_simple

    try:
        app = wsgi_app(_resolve(args), args.app)
    except LoadError as exc:
        # NOTE: with --reload, keep serving so that fixing the file restarts
        # the server, at start too (flask run stops there); the reloader
        # watches the Python files under the current directory.
        if not args.reload:
            raise
        _error(str(exc))
        if not is_running_from_reloader():
            print(
                " * Waiting for a fix: answering 500 with this error until a Python file changes",
                file=sys.stderr,
                flush=True,
            )
        args.app = args.app or "the app"
        app = _failed_app(str(exc))
    else:
        if args.debug and hasattr(app, "debug"):
            setattr(app, "debug", True)  # noqa: B010 - any app with a debug flag, Flask's too
        elif args.debug:
            _warn(f"--debug has no effect: {args.app!r} has no debug attribute")
    if not is_running_from_reloader():
        debug = "on" if args.debug else "off"
        print(f" * Serving {args.app!r} (debug {debug})", file=sys.stderr, flush=True)
    run_simple(args.host, args.port, app, use_reloader=args.reload, threaded=True)
    return 0


def _failed_app(message: str) -> WSGIApp:
    """A WSGI app answering 500 with *message*, while the reloader waits for a fix."""
    body = f"microapi could not load the app: {message}\n".encode()

    def failed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
        ]
        start_response("500 Internal Server Error", headers)
        return [body]

    return failed


def _serve(args: argparse.Namespace) -> int:
    # NOTE: APP is imported here, in the master, before the server forks, so
    # that a bad APP is one clear line and exit 2 rather than workers failing
    # to boot; workers share the loaded code.  Open connections after the
    # fork (lazily), not at import time.
    app = wsgi_app(_resolve(args), args.app)
    given = {"bind": args.bind, "workers": args.workers, "threads": args.threads}
    given |= {"timeout": args.timeout, "log_level": args.log_level}
    options = ServeOptions(
        binds=tuple(args.bind or ["127.0.0.1:8000"]),
        workers=args.workers or _default_workers(),
        threads=args.threads,
        timeout=args.timeout or 30,
        log_level=args.log_level or "info",
        access_log=not args.no_access_log,
        config=args.config,
        extra=tuple(args.server_args),
        explicit=frozenset(
            {"loglevel" if key == "log_level" else key for key, value in given.items() if value}
            | ({"accesslog"} if args.no_access_log else set())
        ),
    )
    try:
        return serve(args.server, args.app, app, options)
    except (ServerUnavailable, ValueError) as exc:
        raise _CliError(str(exc)) from None


def _default_workers() -> int:
    """``WEB_CONCURRENCY`` when set (as gunicorn honours it), else 2 x cores + 1."""
    if concurrency := os.environ.get("WEB_CONCURRENCY"):
        if not concurrency.isdigit() or int(concurrency) < 1:
            raise _CliError(f"WEB_CONCURRENCY must be a positive integer, not {concurrency!r}")
        return int(concurrency)
    try:
        cores = len(os.sched_getaffinity(0))  # the cores this process may use
    except AttributeError:  # pragma: no cover - macOS and Windows
        cores = os.cpu_count() or 1
    return 2 * cores + 1


def _routes(args: argparse.Namespace) -> int:
    api = require_api(_resolve(args), args.app, "routes")
    rows = [_route_row(api, route) for route in api.routes()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"No routes in {args.app!r}.")
        return 0
    header = ["Methods", "Path", "Name", "Handler", "Middleware"]
    table = [
        [
            ",".join(row["methods"]),
            row["path"],
            row["name"],
            row["handler"],
            ", ".join(row["middleware"]) or "-",
        ]
        for row in rows
    ]
    widths = [max(len(line[column]) for line in [header, *table]) for column in range(5)]
    for line in [header, ["-" * width for width in widths], *table]:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
    return 0


def _route_row(api: Api, route: Route) -> dict[str, Any]:
    return {
        "methods": sorted(route.methods, key=_method_key),
        "path": route.path,
        "name": route.name,
        "handler": readable(route.handler),
        "middleware": [readable(spec.func) for spec in api.middleware_for(route)],
    }


def readable(func: Any) -> str:
    """``module:function`` of a handler or middleware, as ``routes`` lists it.

    Functions defined inside a factory are named by themselves
    (``wsgi:register``, not ``wsgi:create_api.<locals>.register``); the
    middleware microapi's factories return by the factory
    (``microapi.middleware:csrf()``); a discovered file's routes by the
    file (``api/todos/[id].py:GET``).
    """
    if isinstance(func, functools.partial):
        return f"partial({readable(func.func)})"
    module: str = getattr(func, "__module__", None) or type(func).__module__
    name: str = getattr(func, "__qualname__", None) or type(func).__qualname__
    outer, locals_, inner = name.rpartition(".<locals>.")
    builtin = module.startswith("microapi.middleware.")
    if locals_ and builtin:
        # NOTE: the function a built-in factory returns is that middleware.
        name = outer.rpartition(".")[2] + "()"
    elif locals_:
        name = inner
    if builtin:  # imported from there: microapi.middleware.csrf is an implementation detail
        module = "microapi.middleware"
    if module.startswith(_DISCOVERED):
        file = getattr(sys.modules.get(module), "__file__", None)
        if file is not None:
            return f"{_relative(file)}:{name}"
    return f"{module}:{name}"


# The package discover() puts a directory's route modules under.
_DISCOVERED = "_microapi_routes_"


def _relative(file: str) -> str:
    cwd = os.getcwd() + os.sep
    return file.removeprefix(cwd)


def _method_key(method: str) -> tuple[int, str]:
    return (ROUTE_METHODS.index(method) if method in ROUTE_METHODS else len(ROUTE_METHODS), method)


def _openapi(args: argparse.Namespace) -> int:
    obj = _resolve(args)
    # NOTE: anything with an openapi() method will do (a wrapper of an Api);
    # for anything else, require_api() names what was found instead.
    generate = getattr(obj, "openapi", None)
    if not callable(generate):
        generate = require_api(obj, args.app, "openapi").openapi
    text = json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        _error(f"cannot write {args.output}: {exc.strerror or exc}")
        return 1
    return 0


# -- the parser -------------------------------------------------------------------------

_APP_HELP = (
    "the app as MODULE:NAME, e.g. wsgi:api (NAME defaults to api; a factory is called); "
    "default: the app in ./wsgi.py or ./app.py"
)

_EPILOG = """\
APP is MODULE:NAME, imported from the current directory: wsgi:api,
examples.hello.wsgi:api, or a factory: 'myapp:create_api()'.  Without
APP, the app is found as flask run finds one: wsgi.py, then app.py, in
the current directory; in it an Api named api (or app), else a factory
create_api() or create_app().

examples:
  microapi run wsgi:api --reload
  microapi serve wsgi:api --bind 0.0.0.0:8000 --workers 4
  microapi serve wsgi:api --server granian -- --backpressure 64
  microapi routes wsgi:api --json
  microapi openapi wsgi:api --output openapi.json
"""


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microapi",
        description="Run, serve and inspect a microapi app.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"microapi {__version__} (Python {_python()})"
    )
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    commands.required = True

    run = commands.add_parser(
        "run",
        help="run the development server",
        description="Run werkzeug's development server. Not for production: use serve.",
    )
    run.add_argument("app", metavar="APP", nargs="?", help=_APP_HELP)
    run.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    run.add_argument("--port", type=_port, default=8000, help="port (default: %(default)s)")
    run.add_argument("--reload", action="store_true", help="restart when a Python file changes")
    run.add_argument("--debug", action="store_true", help="put tracebacks in 500 responses")
    run.set_defaults(handler=_run)

    serve = commands.add_parser(
        "serve",
        help="serve with gunicorn or granian (production)",
        description=(
            "Serve with a production server: gunicorn (default; gthread workers) or granian "
            "(pip install the granian extra), the same options meaning the same on both, "
            "and an access log on stdout with the X-Request-ID response header (set by the "
            "request_id() middleware). Options after -- go to the server untouched."
        ),
        usage="%(prog)s [options] [APP] [-- SERVER OPTIONS]",
    )
    serve.add_argument("app", metavar="APP", nargs="?", help=_APP_HELP)
    serve.add_argument(
        "--server",
        choices=SERVERS,
        default=SERVERS[0],
        help="the server (default: %(default)s)",
    )
    serve.add_argument(
        "--bind",
        action="append",
        metavar="HOST:PORT",
        help="address to listen on: HOST:PORT, [IPv6]:PORT or unix:PATH; repeatable on "
        "gunicorn, one on granian (default: 127.0.0.1:8000)",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        metavar="N",
        help="worker processes (default: $WEB_CONCURRENCY, else 2 x cores + 1)",
    )
    serve.add_argument(
        "--threads",
        type=_positive,
        metavar="T",
        help="threads per worker that run the app (default: "
        + ", ".join(f"{n} on {server}" for server, n in DEFAULT_THREADS.items())
        + ")",
    )
    serve.add_argument(
        "--timeout",
        type=_positive,
        metavar="S",
        help="seconds a worker has to finish its requests after SIGTERM; gunicorn also "
        "restarts a worker silent for S seconds (default: 30)",
    )
    serve.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error", "critical"),
        help="the server's log level (default: info)",
    )
    serve.add_argument("--no-access-log", action="store_true", help="no access line per request")
    serve.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="a gunicorn config file (gunicorn.conf.py); its settings lose to the options "
        "given here",
    )
    serve.set_defaults(handler=_serve)

    routes = commands.add_parser(
        "routes",
        help="list routes, handlers and middleware",
        description="List every route: methods, path as declared, name, handler, and the "
        "middleware that may run for it (outermost first).",
    )
    routes.add_argument("app", metavar="APP", nargs="?", help=_APP_HELP)
    routes.add_argument("--json", action="store_true", help="print a JSON list instead")
    routes.set_defaults(handler=_routes)

    openapi = commands.add_parser(
        "openapi",
        help="print the OpenAPI document",
        description="Print the app's OpenAPI document (api.openapi()) as JSON.",
    )
    openapi.add_argument("app", metavar="APP", nargs="?", help=_APP_HELP)
    openapi.add_argument("--output", "-o", metavar="FILE", help="write to FILE, not stdout")
    openapi.set_defaults(handler=_openapi)
    return parser


def _python() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def _error(message: str) -> None:
    print(f"microapi: error: {message}", file=sys.stderr, flush=True)


def _warn(message: str) -> None:
    print(f"microapi: warning: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``microapi`` command and return its exit status.

    :param argv: the arguments after the program name; ``sys.argv[1:]``
        when ``None``.
    :returns: ``0`` on success, ``2`` for usage errors and an ``APP`` that
        cannot be loaded, ``1`` when an output file cannot be written.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    if not words:
        # NOTE: as bare ``flask`` does: help, not a usage error.
        return _bare_help()
    # NOTE: everything after the first -- belongs to the server (serve only).
    passed = words[words.index("--") + 1 :] if "--" in words else []
    words = words[: words.index("--")] if "--" in words else words
    try:
        args = _parser().parse_args(words)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 0
    if args.command != "serve" and "--" in (argv if argv is not None else sys.argv[1:]):
        _error(f"{args.command} takes no server options after --")
        return 2
    args.server_args = passed
    # NOTE: APP is found relative to where the command runs, as with
    # gunicorn and ``flask run``; the console script's own directory is not.
    cwd = os.getcwd()
    if not sys.path or sys.path[0] not in ("", cwd):
        sys.path.insert(0, cwd)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (_CliError, LoadError) as exc:
        _error(str(exc))
        return 2


def _bare_help() -> int:
    """Print the help and the app ``microapi`` would find here; return 0."""
    _parser().print_help()
    cwd = os.getcwd()
    if not sys.path or sys.path[0] not in ("", cwd):
        sys.path.insert(0, cwd)
    try:
        spec, _ = discover_app(cwd)
    except LoadError as exc:
        print(f"\nApp: none found ({exc}).")
    else:
        print(f"\nApp: {spec}, found in {cwd}; the commands use it when APP is left out.")
    return 0

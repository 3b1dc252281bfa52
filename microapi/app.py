"""The ``Api``: a WSGI application dispatching to ``handler(req, res)``.

The whole request flow is here, in three hops: :meth:`Api.__call__` →
:meth:`Api.wsgi_app` (route, run the chain, emit) → :meth:`Api._handle_error`
when something raised (from :mod:`microapi.handling`).
"""

from __future__ import annotations

import copy
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from werkzeug.exceptions import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    SecurityError,
)
from werkzeug.routing import MapAdapter
from werkzeug.wsgi import ClosingIterator

from .chain import EventLoops, Layer, check_shape, compose
from .errors import PROBLEM_CONTENT_TYPE, HTTPError, to_problem
from .handling import ErrorHandling
from .jsonutil import dumps
from .keys import Keys
from .protocol import HTTP_TOKEN, STANDARD_METHODS, loggable_path
from .request import DEFAULT_BODY_LIMIT, Request, decode_wsgi
from .response import Res
from .routing import MiddlewareSpec, Route, Scope
from .routing.scope import can_match
from .routing.table import NOT_FOUND, Entry, Miss, RouteTable
from .types import ErrorHandler, Target, WSGIApp

if TYPE_CHECKING:
    from .security import Tokens

__all__ = ["Api"]

request_log = logging.getLogger("microapi.request")


_UPPERCASE = {method: method for method in STANDARD_METHODS}
# What a URI query may hold unquoted besides letters, digits and "-._~"
# (RFC 3986), and "%" (a "%" that starts no escape is quoted afterwards).
_QUERY_SAFE = "!$&'()*+,;=:@/?%"
_BARE_PERCENT = re.compile("%(?![0-9A-Fa-f]{2})")
# The 400 for a Host not in trusted_hosts.
_UNTRUSTED_HOST = HTTPError(400, "the Host header is not trusted")
# What werkzeug's host check lets through as a name (its _host_re, without the
# IPv6 form: it cuts a listed name at its first ":", so "[::1]" cannot match).
_HOST_NAME = re.compile("[a-z0-9.-]+", re.IGNORECASE)


def _not_a_method(method: str) -> BadRequest:
    # RFC 9112: a request line whose method is no token is malformed.
    return BadRequest(f"{method!r} is not an HTTP method: a method is a token")


def _trusted_hosts(hosts: Iterable[str] | None) -> list[str] | None:
    """*hosts* as a list, refusing what werkzeug's check would mishandle.

    NOTE: each refusal is a mistake werkzeug would turn into a surprise at
    request time: an empty list accepts every host (its "no list"), an entry
    that IDNA cannot encode (``"a..b"``, a 64-character label) makes every
    request a 500, and an entry no ``Host`` can ever match (``"*"``,
    ``"*.example.com"``, ``"[::1]"``, ``"."``, which trusts every name ending
    in a dot) silently refuses or over-trusts.
    """
    if hosts is None:
        return None
    if isinstance(hosts, str):
        raise TypeError(f"trusted_hosts takes a list of host names, not the str {hosts!r}")
    listed = list(hosts)
    if not listed:
        raise ValueError(
            "trusted_hosts is empty, which werkzeug reads as 'any host': pass None to "
            "accept every host, or list at least one"
        )
    for host in listed:
        if not isinstance(host, str):
            raise TypeError(f"trusted_hosts: a host must be a str, not {type(host).__name__}")
        # werkzeug ignores the port; one that is not digits is a mistake
        # ("https://example.com" would trust the name "https").
        name, colon, port = host.removeprefix(".").partition(":")
        try:
            encoded = name.encode("idna").decode("ascii")
        except UnicodeError:
            encoded = ""
        if not _HOST_NAME.fullmatch(encoded) or (colon and not (port.isascii() and port.isdigit())):
            raise ValueError(
                f"trusted_hosts: {host!r} is not a host name that a Host header can match "
                '(a name, or ".example.com" for it and its subdomains; no wildcards, '
                "no IPv6 literals)"
            )
    return listed


class Api(Scope, ErrorHandling):
    """A JSON API: routes, middleware and error handlers, as a WSGI app.

    ::

        api = Api()

        @api.route("/api/hello")
        def hello(req, res):
            res.status(200).json({"message": "Hello API!"})

    Serve it with ``gunicorn wsgi:api``; mount it anywhere a WSGI app goes.

    :param debug: include tracebacks in 500 responses (never in production).
    :param body_limit: largest request body in bytes (default 1 MiB);
        routes may set their own.
    :param etag: add weak ``ETag`` headers and answer ``304`` for GET/HEAD.
    :param access_log: log one line per request on ``microapi.request``
        (off by default: gunicorn's access log is the usual one).
    :param title: the API's name in its OpenAPI document (:meth:`openapi`).
    :param version: the API's version in its OpenAPI document.
    :param docs: serve the OpenAPI document at ``/openapi.json`` and a
        Swagger UI 5 page at ``/docs`` (shipped with microapi, no CDN);
        see :mod:`microapi.docs`.  Off by default.
    :param secret_key: the key that signs sessions, tokens and CSRF tokens,
        or a list of keys, oldest first (the last signs, all verify: add a
        new key at the end to rotate).  Defaults to ``MICROAPI_SECRET_KEY``;
        without one, whatever signs raises at first use.
    :param signing_key: the one of *secret_key*'s keys that signs (default:
        the last).  During a rolling rotation over several hosts, deploy
        ``secret_key=[old, new], signing_key=old`` everywhere first, then
        drop ``signing_key``, then the old key: no host ever signs with a
        key another host does not accept yet (``docs/deployment.md``).
    :param session_cookie: the name of the session cookie.
    :param session_max_age: seconds a session cookie stays valid after it
        was last written (31 days, as in Flask).
    :param trusted_hosts: the ``Host`` values to accept (werkzeug's syntax:
        ``"example.com"``, ``".example.com"`` for subdomains too); any other
        host gets a 400 before routing.  ``None`` accepts every host.
    :raises ValueError: for an empty *trusted_hosts*, or an entry no ``Host``
        can match (``"*"``, ``"[::1]"``, ``"a..b"``).

    .. versionadded:: 0.1
        ``title``, ``version``, ``docs``, ``secret_key``, ``signing_key``,
        ``session_cookie``, ``session_max_age`` and ``trusted_hosts``.
    """

    #: The class of ``req``; subclass :class:`~microapi.Request` to extend it.
    request_class: type[Request] = Request

    def __init__(
        self,
        *,
        debug: bool = False,
        body_limit: int = DEFAULT_BODY_LIMIT,
        etag: bool = True,
        access_log: bool = False,
        title: str = "microapi",
        version: str = "0.1.0",
        docs: bool = False,
        secret_key: str | bytes | Sequence[str | bytes] | None = None,
        signing_key: str | bytes | None = None,
        session_cookie: str = "session",
        session_max_age: int = 31 * 24 * 3600,
        trusted_hosts: Iterable[str] | None = None,
    ) -> None:
        #: Whether 500 responses show the traceback.
        self.debug = debug
        #: Default largest request body, in bytes.
        self.body_limit = body_limit
        #: Whether GET/HEAD bodies get an automatic weak ``ETag``.
        self.etag = etag
        #: Whether to log every request on ``microapi.request``.
        self.access_log = access_log
        #: The secret keys and the serializers made from them.
        self.keys = Keys(secret_key, signing_key)
        #: The name of the session cookie.
        self.session_cookie = session_cookie
        #: Seconds a session cookie stays valid after it was last written.
        self.session_max_age = session_max_age
        #: The accepted ``Host`` values, or ``None`` for any.
        self.trusted_hosts = _trusted_hosts(trusted_hosts)
        self._table = RouteTable()
        self._static_routes = self._table.static
        self._routes: list[Route] = []
        self._middleware: list[MiddlewareSpec] = []
        self._error_handlers: dict[type[BaseException] | int, ErrorHandler] = {}
        self._mounts: list[tuple[str, str, WSGIApp]] = []
        self._loops = EventLoops()
        self._frozen = False
        self._freeze_lock = threading.Lock()
        self._miss_target: Target = self._answer_miss
        # Routes with middleware of their own (a Router's, a folder's) → the
        # chain of that middleware around their automatic OPTIONS answer.
        self._options_targets: dict[int, Target] = {}
        self._route_order: dict[int, int] = {}
        self._not_found_body = b""  # the 404 problem, rendered at freeze
        self._adapter: MapAdapter | None = None  # for url_for, bound once
        #: The API's title in its OpenAPI document.
        self.title = title
        #: The API's version in its OpenAPI document.
        self.version = version
        #: Whether ``/openapi.json`` and ``/docs`` are served.
        self.docs = docs
        # Routes left out of the OpenAPI document: the docs' own.
        self._hidden_routes: tuple[Route, ...] = ()
        self._openapi: dict[str, Any] | None = None
        if docs:
            # NOTE: imported here so that apps without docs never import
            # apispec; these are ordinary routes, so dispatch is unchanged.
            from .docs import add_docs_routes

            self._hidden_routes = add_docs_routes(self)

    # -- registration -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._frozen:
            raise RuntimeError(
                "routes, middleware and error handlers must be registered before the "
                "first request; move this registration to start-up"
            )

    def _add(self, route: Route) -> None:
        self._check_open()
        check_shape(self._layers(route), route.handler)
        self._table.add(route)
        self._routes.append(route)
        self._adapter = None

    def _add_middleware(self, spec: MiddlewareSpec) -> None:
        self._check_open()
        self._middleware.append(spec)
        try:
            for route in self._routes:
                check_shape(self._layers(route), route.handler)
        except TypeError:
            self._middleware.pop()
            raise

    def mount(self, prefix: str, app: WSGIApp) -> None:
        """Serve another WSGI *app* under *prefix* (``SCRIPT_NAME`` adjusted).

        Mounted apps are plain WSGI apps: microapi's middleware does not run
        for them.
        """
        self._check_open()
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"mount prefix {prefix!r} must start with '/' and not end with '/'")
        wsgi_prefix = prefix.encode().decode("latin-1")
        self._mounts.append((prefix, wsgi_prefix, app))
        self._mounts.sort(key=lambda mount: len(mount[1]), reverse=True)

    def routes(self) -> list[Route]:
        """Every registered route, in registration order."""
        return list(self._routes)

    def middleware_for(self, route: Route) -> list[MiddlewareSpec]:
        """The middleware that may run for *route*, outermost first.

        For a static route the ``match=`` patterns are decided; for a route
        with parameters, middleware whose pattern can never accept the
        route's paths is left out (:mod:`microapi.routing.scope`), and the
        rest is decided per request.
        """
        rules = route.spec.rules
        static = _is_static(route)
        return [
            spec
            for spec in (*self._middleware, *route.middleware)
            if spec.matcher is None
            or (
                any(spec.matcher(rule) for rule in rules)
                if static
                else can_match(spec.matcher, rules)
            )
        ]

    def discover(self, source: str | os.PathLike[str] | ModuleType, prefix: str = "/api") -> None:
        """Register file-system routes, the Next.js Pages Router way.

        ``hello.py`` → ``/api/hello``, ``todos/index.py`` → ``/api/todos``,
        ``todos/[id].py`` → ``/api/todos/<id>``; see :mod:`microapi.discover`.

        :param source: a directory path, or an importable package (module
            object or dotted name).
        :param prefix: the path prefix of every discovered route.
        """
        # NOTE: imported here: ~5 ms at start-up (importlib machinery, hashlib).
        from .discover import discover

        discover(self, source, prefix=prefix)

    @cached_property
    def tokens(self) -> Tokens:
        """Bearer tokens signed with the app's key: ``api.tokens.issue(...)``.

        Made at first use (it brings itsdangerous, which apps that sign
        nothing never load).
        """
        from .security import Tokens  # NOTE: itsdangerous, ~3 ms at import time

        return Tokens(self.keys)

    def url_for(self, name: str, **params: Any) -> str:
        """Build the path of route *name*, relative to the app.

        Catch-all parameters take lists of segments; unknown parameters
        become the query string.  ``req.url_for`` adds the mount prefix.

        :raises werkzeug.routing.BuildError: for an unknown name or
            missing parameters.
        """
        route = self._table.route_named(name)
        if route is not None:
            for key in route.spec.list_params & params.keys():
                segments = params.pop(key)
                if isinstance(segments, str):
                    raise TypeError(
                        f"{key!r} is a catch-all: pass a list of segments, e.g. [{segments!r}]"
                    )
                if segments:
                    params[key] = "/".join(str(segment) for segment in segments)
        if self._adapter is None:
            self._adapter = self._table.map.bind("localhost")
        return self._adapter.build(name, params)

    def openapi(self) -> dict[str, Any]:
        """Return the OpenAPI 3.1 document of the app's routes.

        Built with apispec from every route, path parameter, schema and
        error response (see :mod:`microapi.openapi`); built once after the
        first request, when routes can no longer change.  The caller gets
        its own copy.
        """
        document = self._openapi
        if document is None:
            # NOTE: imported here: ~55 ms at start-up (apispec, marshmallow).
            from .openapi import build_spec

            document = build_spec(self)
            if self._frozen:
                self._openapi = document
        return copy.deepcopy(document)

    def close(self) -> None:
        """Release resources: close the worker threads' event loops."""
        self._loops.close()

    # -- composition --------------------------------------------------------------

    def _layers(self, route: Route) -> list[Layer]:
        # A static route's path is known, so its matchers are decided now;
        # a dynamic route's are checked per request.
        static = _is_static(route)
        return [
            (spec.func, None if static else spec.matcher) for spec in self.middleware_for(route)
        ]

    def _freeze(self) -> None:
        with self._freeze_lock:
            if self._frozen:
                return
            self._table.compile()
            self._static_routes = self._table.static
            targets: dict[int, Target] = {}
            self._route_order = {id(route): index for index, route in enumerate(self._routes)}
            for entry in self._table.entries:
                route = entry.route
                if id(route) not in targets:
                    layers = self._layers(route)
                    targets[id(route)] = compose(
                        layers, route.handler, self._loops, _prepare(route)
                    )
                    if route.middleware:
                        self._options_targets[id(route)] = compose(
                            layers, self._answer_miss, self._loops
                        )
                entry.target = targets[id(route)]
            self._miss_target = compose(
                [(spec.func, spec.matcher) for spec in self._middleware],
                self._answer_miss,
                self._loops,
            )
            _, problem, headers = to_problem(NotFound())
            if not (self._middleware or headers or self._find_error_handler(NotFound())):
                # Nothing can see a 404 on its way out: answer it directly.
                self._not_found_body = dumps(problem)
                self._miss_target = self._answer_not_found
            self._frozen = True

    # -- the request flow -----------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """The WSGI entry point; calls :meth:`wsgi_app`."""
        return self.wsgi_app(environ, start_response)

    def wsgi_app(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Route the request, run its chain and emit the response.

        Kept apart from ``__call__`` so WSGI middleware can wrap it:
        ``api.wsgi_app = ProxyFix(api.wsgi_app)``.
        """
        if not self._frozen:
            self._freeze()
        start = time.perf_counter() if self.access_log else 0.0
        req = self.request_class(environ, False)
        req.api = self
        res = Res(req)
        if self.trusted_hosts is not None and not self._host_trusted(req, res):
            return res._emit(start_response, False)
        if self._mounts:
            # After the Host check: mounted apps are behind it too.
            mounted = self._mounted(environ)
            if mounted is not None:
                method = environ.get("REQUEST_METHOD", "GET")
                if HTTP_TOKEN.fullmatch(method):
                    return mounted(environ, start_response)
                # A mounted app need not check what the request line is.
                self._render_problem(req, res, _not_a_method(method))
                return res._emit(start_response, False)
        # PERF: the router needs path and method anyway; handing them to req
        # saves its lazy attributes a second computation.
        path_info = environ.get("PATH_INFO") or "/"
        req.path = path = (
            path_info
            if path_info[0] == "/" and path_info[1:2] != "/" and path_info.isascii()
            else "/" + decode_wsgi(path_info).lstrip("/")
        )
        raw_method = environ.get("REQUEST_METHOD", "GET")
        # PERF: str.upper makes a new string even when there is nothing to do.
        req.method = method = _UPPERCASE.get(raw_method) or raw_method.upper()
        # PERF: a static route is two dict lookups, inlined here (-0.13 µs);
        # its req.params stays the lazy empty dict.
        by_method = self._static_routes.get(path)
        entry = by_method.get(method) if by_method is not None else None
        if entry is not None and not entry.has_params:
            req.route = entry.route
            target = entry.target
        else:
            found = (
                self._table.match(path, method)
                if by_method is not None
                else self._table.match_dynamic(path, method)
            )
            if isinstance(found, Miss):
                if method not in STANDARD_METHODS and not HTTP_TOKEN.fullmatch(method):
                    # A malformed request line, refused before any middleware
                    # (auth would answer 401): only misses can have one, as
                    # every route's methods are tokens.
                    self._render_problem(req, res, _not_a_method(method))
                    return res._emit(start_response, False)
                req._miss = found
                target = (
                    self._options_target(req, path, found.allowed)
                    if method == "OPTIONS" and found.allowed
                    else self._miss_target
                )
            else:
                entry, req.params = found
                req.route = entry.route
                target = entry.target
        try:
            target(req, res)
            if res._sent is None:
                raise RuntimeError(
                    "the middleware chain finished without a response: a middleware "
                    "neither called next() nor sent one"
                )
        except Exception as exc:
            self._handle_error(req, res, exc)
        # NOTE: not req.__dict__: reading it makes CPython build the dict.
        if req._session is not None:
            self._save_session(req, res)
        body = res._emit(start_response, self.etag)
        if req._form_parsed:
            # Uploaded files are temporary files: close them with the response.
            body = ClosingIterator(body, req.close)
        if self.access_log:
            request_log.info(
                "%s %s %s %.1fms [request_id=%s]",
                req.method,
                loggable_path(req.path),
                res.status_code,
                (time.perf_counter() - start) * 1000,
                req.id,
                extra={"request_id": req.id},
            )
        return body

    def _host_trusted(self, req: Request, res: Res) -> bool:
        # Before routing and middleware: an untrusted Host gets a bare 400.
        req.trusted_hosts = self.trusted_hosts
        try:
            # NOTE: werkzeug passes a request that names no host at all (no
            # Host header, and a server address without a port: a Unix
            # socket) as host "" without checking it; it is not for a
            # trusted host either.
            if req.host:
                return True
        except SecurityError:
            pass
        # NOTE: a fixed detail: werkzeug's repeats the attacker's Host (up to
        # the server's header limit) in the body.
        self._render_problem(req, res, _UNTRUSTED_HOST)
        return False

    def _save_session(self, req: Request, res: Res) -> None:
        # NOTE: imported here: ~1 ms at start-up, for apps that use sessions.
        from .sessions import save_session

        try:
            save_session(req, res, req.session)
        except RuntimeError as exc:  # too big for its cookie, or not JSON
            # Not an exception of the handler's: named as what it is, and
            # answered as a 500.  NOTE: the app's 500 handler still shapes
            # the answer, as it does for every 500 (handlers for exception
            # classes do not: this error is the framework's, not raised by
            # the app's code); whatever it does to the session is not saved,
            # since saving just failed.
            self._log_exception(req, exc, "cannot save the session")
            handler = self._error_handlers.get(500)
            if handler is None or not self._run_error_handler(req, res, exc, handler):
                self._render_problem(req, res, exc)

    def _mounted(self, environ: dict[str, Any]) -> WSGIApp | None:
        path_info = environ.get("PATH_INFO") or ""
        for _, prefix, app in self._mounts:
            if path_info == prefix or path_info.startswith(prefix + "/"):
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path_info[len(prefix) :]
                return app
        return None

    def _answer_not_found(self, req: Request, res: Res) -> None:
        # PERF: with no middleware and no error handler for it, a plain 404
        # is the problem body rendered once, not an exception raised and
        # rendered (-3 µs per 404); anything else goes the usual way.
        if req._miss is NOT_FOUND:
            res._status = 404
            res._body = self._not_found_body
            res._content_type = PROBLEM_CONTENT_TYPE
            res._sent = "error"
        else:
            self._answer_miss(req, res)

    def _options_target(self, req: Request, path: str, allowed: frozenset[str]) -> Target:
        # The automatic OPTIONS of a path is a request to one of its routes,
        # as in werkzeug and Flask (which add OPTIONS to every rule): req.route
        # and req.params are set and the route's own middleware runs, so a
        # Router's cors() answers its preflights.  A preflight names the
        # method it asks about: its route; otherwise the path's route
        # registered first.  (A 405 matches no route: only the Api's
        # middleware sees it, as in Flask.)
        asked = req.environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")
        methods = [asked] if asked in allowed else sorted(allowed)
        chosen: tuple[Entry, dict[str, Any]] | None = None
        for method in methods:
            found = self._table.match(path, method)
            if isinstance(found, Miss):
                continue
            order = self._route_order[id(found[0].route)]
            if chosen is None or order < self._route_order[id(chosen[0].route)]:
                chosen = found
        if chosen is None:
            return self._miss_target
        entry, req.params = chosen
        req.route = entry.route
        return self._options_targets.get(id(entry.route), self._miss_target)

    def _answer_miss(self, req: Request, res: Res) -> None:
        # The terminal of the chain for paths that match no route: 404, 405,
        # the automatic OPTIONS, or a trailing-slash 308.
        miss = cast(Miss, req._miss)
        if miss.redirect is not None:
            query = req.environ.get("QUERY_STRING")
            location = (
                quote(req.root_path) + miss.redirect + (f"?{_quote_query(query)}" if query else "")
            )
            res.status(308).set_header("Location", location).end()
        elif miss.allowed:
            allow = sorted(miss.allowed | {"OPTIONS"})
            if req.method != "OPTIONS":
                raise MethodNotAllowed(valid_methods=allow)
            res.status(204).set_header("Allow", ", ".join(allow)).end()
        else:
            raise NotFound()


def _prepare(route: Route) -> Target | None:
    # The route's validation step, or None: routes without schemas and
    # status= never import marshmallow nor pay for a step.
    if all(option is None for option in (route.body, route.query, route.response, route.status)):
        return None
    from .validation import prepare_route

    return prepare_route(route)


def _is_static(route: Route) -> bool:
    return all("<" not in rule for rule in route.spec.rules)


def _quote_query(query: str) -> str:
    # The raw query of a redirected request, made fit for Location: bytes
    # outside a URI query (controls, space, "#", raw non-ASCII...) are
    # percent-quoted; valid ones and %-escapes stay as the client sent them.
    try:
        raw = query.encode("latin-1")
    except UnicodeEncodeError:  # not a WSGI string; what the client meant
        raw = query.encode(errors="surrogatepass")
    return _BARE_PERCENT.sub("%25", quote(raw, safe=_QUERY_SAFE))

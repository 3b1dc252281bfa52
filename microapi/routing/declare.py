"""Route declarations: :class:`Route`, :class:`Router` groups, :class:`Scope`.

``Scope`` is the registration surface ``Api`` and ``Router`` share: it checks
what is declared and compiles the path (:mod:`microapi.routing.syntax`) and the
``match=`` patterns (:mod:`microapi.routing.matchers`) once, at registration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ..protocol import HTTP_METHODS
from ..types import Handler, Middleware
from .matchers import Matcher, compile_matcher, join_paths
from .syntax import PathSpec, compile_path

if TYPE_CHECKING:
    from marshmallow import Schema

__all__ = [
    "HTTP_METHODS",
    "MiddlewareSpec",
    "Route",
    "Router",
    "Scope",
]


H = TypeVar("H", bound=Handler)
M = TypeVar("M", bound=Middleware)


def _check_prefix(prefix: str) -> str:
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError(f"prefix {prefix!r} must start with '/' and not end with '/'")
    return prefix


@dataclass(frozen=True)
class MiddlewareSpec:
    """A registered middleware and the paths it applies to."""

    #: The middleware callable ``(req, res, next)``.
    func: Middleware
    #: The compiled ``match=`` pattern, or ``None`` for every path.
    matcher: Matcher | None = None


@dataclass(frozen=True)
class Route:
    """One registered route; handlers see it as ``req.route``."""

    #: The path as declared (either syntax), prefixes included.
    path: str
    #: The handler ``(req, res)``.
    handler: Handler
    #: The declared methods; ``HEAD`` and ``OPTIONS`` are answered without
    #: being listed (``HEAD`` for ``GET`` routes).
    methods: frozenset[str]
    #: The route name, for :meth:`Api.url_for`; werkzeug calls it endpoint.
    name: str
    #: Marshmallow schema instance the body is loaded with, or ``None``.
    body: Schema | None = None
    #: Marshmallow schema instance the query string is loaded with, or ``None``.
    query: Schema | None = None
    #: Marshmallow schema instance 2xx JSON bodies are dumped with, or ``None``.
    response: Schema | None = None
    #: Status of responses the handler gives none (``201``), or ``None``.
    status: int | None = None
    #: Largest accepted body in bytes; ``None`` means the ``Api`` default.
    body_limit: int | None = None
    #: ``False`` leaves the body unread for the handler to stream.
    body_parser: bool = True
    #: Middleware of the routers the route was declared in, outermost first.
    middleware: tuple[MiddlewareSpec, ...] = ()
    #: The compiled path.
    spec: PathSpec = field(default=PathSpec(("/",)), compare=False)
    #: OpenAPI tags, from the innermost ``Router(tags=[...])`` that has some.
    tags: tuple[str, ...] = ()
    #: Statuses the handler means to answer besides its success and the
    #: errors microapi documents itself, with their descriptions (OpenAPI).
    responses: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @property
    def rule(self) -> str:
        """The werkzeug rule string (``/todos/<int:id>``)."""
        return self.spec.rules[-1]

    @property
    def endpoint(self) -> str:
        """The route name under werkzeug's word for it."""
        return self.name

    def with_prefix(
        self,
        prefix: str,
        middleware: Sequence[MiddlewareSpec],
        name: str | None,
        tags: Sequence[str] = (),
    ) -> Route:
        """Return this route moved under a router's prefix and middleware.

        :param tags: the router's OpenAPI tags; a route that already has
            some (from a nested router) keeps its own.
        """
        path = join_paths(prefix, self.path)
        # NOTE: the route's own middleware matchers are relative to the path
        # it had so far; a router nested in another moves them too.
        own = tuple(
            MiddlewareSpec(spec.func, spec.matcher.with_prefix(prefix))
            if spec.matcher is not None
            else spec
            for spec in self.middleware
        )
        return replace(
            self,
            path=path,
            spec=compile_path(path),
            middleware=(*middleware, *own),
            name=f"{name}.{self.name}" if name else self.name,
            tags=self.tags or tuple(tags),
        )


def _check_responses(responses: Mapping[int, str] | None, where: str) -> Mapping[int, str]:
    if responses is None:
        return MappingProxyType({})
    if not isinstance(responses, Mapping):
        raise ValueError(f"{where}: responses= must be a dict of descriptions by status")
    for status, description in responses.items():
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise ValueError(f"{where}: responses= keys must be statuses from 100 to 599")
        if not isinstance(description, str):
            raise ValueError(f"{where}: responses[{status}] must be a description string")
    return MappingProxyType(dict(responses))


def _normalise_methods(methods: Iterable[str] | None, path: str) -> frozenset[str]:
    if methods is None:
        return frozenset({"GET"})
    if isinstance(methods, str):
        raise TypeError(f"route {path!r}: methods must be a list such as ['GET'], not a string")
    normalised = frozenset(method.upper() for method in methods)
    unknown = normalised - HTTP_METHODS
    if unknown or not normalised:
        raise ValueError(
            f"route {path!r}: unknown methods {sorted(unknown) or '[]'}; "
            f"use some of {sorted(HTTP_METHODS)}"
        )
    return normalised


class Scope:
    """The registration surface shared by :class:`Router` and ``Api``.

    ``route`` and ``middleware`` are decorators that call :meth:`add_route`
    and :meth:`add_middleware` and return the function unchanged.
    """

    def add_route(
        self,
        path: str,
        handler: Handler,
        methods: Iterable[str] | None = None,
        *,
        name: str | None = None,
        body: Any = None,
        query: Any = None,
        response: Any = None,
        status: int | None = None,
        body_limit: int | None = None,
        body_parser: bool = True,
        responses: Mapping[int, str] | None = None,
    ) -> Route:
        """Register *handler* for *path* and *methods* (default ``["GET"]``).

        :param path: werkzeug (``/todos/<int:id>``) or Next.js
            (``/todos/[id]``, ``[...slug]``, ``[[...slug]]``) syntax.
        :param name: the name for ``url_for``; default the function's name.
        :param body: marshmallow schema (class or instance) the JSON or
            form body is loaded with, into ``req.body``.
        :param query: marshmallow schema the query string is loaded with,
            into ``req.query``.
        :param response: marshmallow schema 2xx JSON bodies are dumped with.
        :param status: the success status (``201``): used when the handler
            returns a body without a status, or sends one without calling
            ``res.status()``.
        :param body_limit: largest body in bytes (default: the ``Api``'s).
        :param body_parser: ``False`` leaves the body unread so the handler
            can stream it or verify a signature over the raw bytes.
        :param responses: for the OpenAPI document, the other statuses the
            handler means to answer, each with its description
            (``{503: "The upstream is down."}``); the success status and the
            errors microapi answers itself (400, 404, 405, 413, 415, 422) are
            documented without it.
        :raises ValueError: for bad path syntax, unknown methods, a bad
            ``status`` or ``responses``, or a path and method that are
            already registered.
        :raises TypeError: for a schema option that is not a marshmallow
            schema, ``query=`` with ``many=True``, or ``body=`` together
            with ``body_parser=False``.
        """
        if not callable(handler):
            raise TypeError(f"route {path!r}: handler {handler!r} is not callable")
        if body_limit is not None and (not isinstance(body_limit, int) or body_limit < 0):
            raise ValueError(f"route {path!r}: body_limit must be a non-negative int")
        name = name or str(getattr(handler, "__name__", type(handler).__name__))
        where = f"route {path!r} ({name!r})"
        if body is not None or query is not None or response is not None or status is not None:
            # NOTE: imported here so that apps without schemas never import
            # marshmallow (about 45 ms at start-up).
            from ..validation import as_schema, check_status

            body = as_schema(body, "body", where)
            query = as_schema(query, "query", where)
            response = as_schema(response, "response", where)
            status = check_status(status, where)
            if query is not None and query.many:
                raise TypeError(f"{where}: query= cannot be a many=True schema")
            if body is not None and not body_parser:
                raise TypeError(
                    f"{where}: body= needs the body parsed; drop body_parser=False "
                    "or load req.get_data() yourself"
                )
        route = Route(
            responses=_check_responses(responses, where),
            path=path,
            handler=handler,
            methods=_normalise_methods(methods, path),
            name=name,
            body=body,
            query=query,
            response=response,
            status=status,
            body_limit=body_limit,
            body_parser=body_parser,
            spec=compile_path(path),
        )
        self._add(route)
        return route

    def route(
        self, path: str, methods: Iterable[str] | None = None, **options: Any
    ) -> Callable[[H], H]:
        """Register the decorated function as the handler for *path*.

        Takes the same arguments as :meth:`add_route`::

            @api.route("/todos/[id]", methods=["GET", "PUT"])
            def todo(req, res):
                res.json({"id": req.params["id"]})
        """

        def decorator(handler: H) -> H:
            self.add_route(path, handler, methods, **options)
            return handler

        return decorator

    def add_middleware(self, func: Middleware, *, match: Any = None) -> None:
        """Register middleware ``func(req, res, next)``.

        :param match: a Next.js matcher (``"/api/:path*"``, ``":id"``,
            ``":rest+"``, ``":opt?"``), a compiled :class:`re.Pattern`, or a
            list of these; the middleware runs only for matching paths.
        """
        if not callable(func):
            raise TypeError(f"middleware {func!r} is not callable")
        self._add_middleware(MiddlewareSpec(func, compile_matcher(match)))

    @overload
    def middleware(self, func: M, *, match: Any = None) -> M: ...
    @overload
    def middleware(self, func: None = None, *, match: Any = None) -> Callable[[M], M]: ...
    def middleware(self, func: M | None = None, *, match: Any = None) -> M | Callable[[M], M]:
        """Register middleware; use bare (``@api.middleware``) or called.

        ``@api.middleware(match="/api/admin/:path*")`` limits it to paths
        that match.  Middleware runs as an onion in registration order.
        """
        if func is not None:
            self.add_middleware(func, match=match)
            return func

        def decorator(inner: M) -> M:
            self.add_middleware(inner, match=match)
            return inner

        return decorator

    def include(self, router: Router) -> None:
        """Add every route of *router*, with its prefix and middleware."""
        for route in router.routes():
            self._add(route)

    def _add(self, route: Route) -> None:
        raise NotImplementedError

    def _add_middleware(self, spec: MiddlewareSpec) -> None:
        raise NotImplementedError


class Router(Scope):
    """A group of routes under a common prefix, with its own middleware.

    ::

        todos = Router(prefix="/todos")

        @todos.route("/")            # → /todos
        def index(req, res): ...

        api.include(todos)

    A router's middleware runs only for its routes, inside the ``Api``'s;
    its ``match=`` patterns are relative to the prefix.

    :param prefix: the path prefix, such as ``"/todos"`` (no trailing slash).
    :param name: when given, default route names become ``"name.function"``.
    :param tags: OpenAPI tags of the router's routes (default: each route's
        first path segment); a nested router's own tags win.
    """

    def __init__(
        self, prefix: str = "", *, name: str | None = None, tags: Iterable[str] = ()
    ) -> None:
        #: The path prefix of every route in the router.
        self.prefix = _check_prefix(prefix)
        #: Prefix for the default route names, or ``None``.
        self.name = name
        if isinstance(tags, str):
            raise TypeError(f"Router tags must be a list such as [{tags!r}], not a string")
        #: OpenAPI tags of the router's routes.
        self.tags: tuple[str, ...] = tuple(tags)
        self._routes: list[Route] = []
        self._middleware: list[MiddlewareSpec] = []

    def _add(self, route: Route) -> None:
        self._routes.append(route)

    def _add_middleware(self, spec: MiddlewareSpec) -> None:
        self._middleware.append(spec)

    def routes(self) -> list[Route]:
        """The routes with this router's prefix, middleware and name applied."""
        middleware = [
            MiddlewareSpec(spec.func, spec.matcher.with_prefix(self.prefix))
            if spec.matcher is not None
            else spec
            for spec in self._middleware
        ]
        return [
            route.with_prefix(self.prefix, middleware, self.name, self.tags)
            for route in self._routes
        ]

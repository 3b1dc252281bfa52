"""File-system routes, the Next.js Pages Router way: ``api.discover("myapp/api")``.

Every ``.py`` file under the folder is a route at the file's path::

    hello.py                     /api/hello
    index.py                     /api
    todos/index.py               /api/todos
    todos/[id].py                /api/todos/[id]        req.params["id"]
    docs/[...slug].py            /api/docs/[...slug]    one or more segments, a list
    shop/[[...slug]].py          /api/shop/[[...slug]]  zero or more segments
    orgs/[org]/repos/[repo].py   /api/orgs/[org]/repos/[repo]
    _db.py, _lib/                not routes: names starting with "_" or "."
    todos/_middleware.py         middleware for todos/ and every folder below

A route file exports either

- ``handler(req, res)`` (Pages Router style), answering GET, POST, PUT, PATCH
  and DELETE, or only the methods listed in ``methods = ["GET", "PUT"]``; or
- functions named ``GET``, ``POST``, ``PUT``, ``PATCH``, ``DELETE`` (also
  ``HEAD``, ``OPTIONS``), each its own route, sync or ``async def`` (App Router
  style, like ``route.ts``).

HEAD (for GET) and OPTIONS are answered automatically.  An optional
``config = {...}`` holds route options for every route of the file, Next.js's
``export const config``: ``name``, ``body``, ``query``, ``response``,
``body_limit``, ``body_parser``, ``status`` and ``responses`` (see
:meth:`~microapi.routing.Scope.add_route`).  Options for one method function
only go under its name and win over the file's::

    config = {"body_limit": 16 * 1024, "PATCH": {"body": TodoPatch}}

A folder's ``_middleware.py`` exports ``middleware``: one ``(req, res, next)``
function or a list of them, run for every route in the folder and below,
inside the ``Api``'s middleware; outer folders' middleware runs outside inner
folders'.

**Route names.**  A route is named after its file's path relative to the
discovered folder, ``/`` written ``.`` and ``.py`` dropped, brackets and
``index`` kept, so two files never share a name: ``hello``, ``index``,
``todos.index``, ``todos.[id]``, ``docs.[...slug]``,
``orgs.[org].repos.[repo]``.  The routes of one file share its name (``GET``
and ``DELETE`` of ``todos/[id].py`` are both ``todos.[id]``); ``config =
{"name": "todo"}`` replaces it::

    api.url_for("todos.[id]", id=3)  # "/api/todos/3"

**Modules.**  Every file is imported once, however often it is discovered.
A directory becomes a package named after its absolute path
(``_microapi_routes_api_<hash>``), so its files can import their helpers
relatively (``from ._db import connect``).  For a package
(``api.discover("myapp.api")``) the files are its submodules: ``hello.py`` is
``myapp.api.hello``, the very module ``import myapp.api.hello`` gives, and
``todos/[id].py`` is ``myapp.api.todos.[id]``.  Dots inside a name are written
``%2E`` in module names (``docs.[%2E%2E%2Eslug]``), since a dot separates
packages.  A folder that is also an importable package should be discovered
as the package, or its files would run twice, once under each name.

**Mistakes fail at start-up**, naming the files: two files for one route
(``todos.py`` and ``todos/index.py``; ``[id].py`` and ``[slug].py``), two
dynamic names in one folder, ``handler`` exported together with ``GET``, a file
that exports no handler, unknown ``config`` keys, malformed brackets
(``ValueError``); a file that fails to import (``ImportError``, chained to the
original exception).

.. versionadded:: 0.1
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .protocol import ROUTE_METHODS
from .routing import Router, Scope, compile_path
from .types import Handler, Middleware

__all__ = ["CONFIG_KEYS", "HANDLER_METHODS", "METHOD_EXPORTS", "discover"]

#: Methods a ``handler`` answers when its module sets no ``methods``.
HANDLER_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: Method functions a module may export (App Router style), in the order
#: their routes are registered.
METHOD_EXPORTS = ROUTE_METHODS
#: Keys a module's ``config`` may hold: the route options of ``add_route``.
CONFIG_KEYS = frozenset(
    {"name", "body", "query", "response", "body_limit", "body_parser", "status", "responses"}
)

_MIDDLEWARE_FILE = "_middleware.py"
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_DYNAMIC = re.compile(
    rf"\[(?:\[\.\.\.(?P<optional>{_IDENTIFIER})\]|\.\.\.(?P<catch_all>{_IDENTIFIER})"
    rf"|(?P<single>{_IDENTIFIER}))\]"
)
# werkzeug's <converter(arguments):name>, reduced to <converter> for comparing
# the shapes of two routes.
_PLACEHOLDER = re.compile(r"<(?:(\w+)(?:\(.*?\))?:)?\w+>")

# One route of a file: the methods (as the module gave them), the handler, and
# the route options of its method's own config (``config["PATCH"]``).
_Route = tuple[Any, Handler, dict[str, Any]]


@dataclass(frozen=True)
class _Source:
    """A discovered file and its path relative to the discovered folder."""

    file: Path
    #: The folders, then the file's stem (``("todos", "[id]")``).
    parts: tuple[str, ...]
    #: The discovered folder the parts are relative to.
    root: Path


@dataclass
class _Page:
    """A route file: where it is, what it serves, and what it exports."""

    source: _Source
    #: The route path in Next.js syntax, prefix included.
    path: str
    #: Rule shapes with parameter names erased, for finding conflicts.
    shapes: tuple[str, ...]
    #: ``(methods, handler, own options)``, one route each.
    routes: list[_Route] = field(default_factory=list)
    #: Route options from the module's ``config``, name included.
    options: dict[str, Any] = field(default_factory=dict)


def discover(
    api: Scope, source: str | os.PathLike[str] | ModuleType, *, prefix: str = "/api"
) -> None:
    """Register the route files under *source* on *api*.

    Usually called as ``api.discover(source, prefix=...)``; the module
    docstring describes the layout, exports and names.

    :param api: the ``Api``, or a :class:`~microapi.Router` to include later.
    :param source: a directory (a :class:`~pathlib.Path`, or a string with a
        ``/``: relative paths are relative to the working directory), or a
        package (a module object, or a dotted name such as ``"myapp.api"``).
    :param prefix: the path every route starts with: ``"/api"``, or ``""``
        for none.
    :raises ValueError: for conflicting or malformed route files, each
        named in the message (``TypeError`` for exports of the wrong type).
    :raises ImportError: for a file that fails to import, chained to its
        exception.
    :raises ModuleNotFoundError: for a dotted name that is no package.
    :raises NotADirectoryError: for a path that is no directory.
    """
    if not isinstance(prefix, str) or (
        prefix and (not prefix.startswith("/") or prefix.endswith("/"))
    ):
        raise ValueError(f"discover prefix {prefix!r} must start with '/' and not end with '/'")
    package, folders = _resolve(source)
    pages: list[_Page] = []
    middleware_sources: list[_Source] = []
    for folder in folders:
        for found in _scan(folder):
            if found.parts[-1] == "_middleware":
                middleware_sources.append(found)
            else:
                pages.append(_plan(found, prefix))
    _check_conflicts(pages)

    # NOTE: every module is imported and checked before anything is
    # registered, so a file that fails to import or exports something wrong
    # registers nothing.  Shallow files go first: for "todos.py" next to
    # "todos/", the file then owns the module name "<package>.todos".
    importlib.invalidate_caches()  # files may be newer than the finders' caches
    loaders = {folder: _Loader(package, folder) for folder in folders}
    modules: dict[_Source, ModuleType] = {}
    for found in sorted(
        [*middleware_sources, *(page.source for page in pages)],
        key=lambda found: (len(found.parts), found.parts, str(found.root)),
    ):
        modules[found] = loaders[found.root].load(found)
    middleware = {
        found.parts[:-1]: _middleware_of(modules[found], found.file) for found in middleware_sources
    }
    names: dict[str, _Page] = {}
    for page in pages:
        page.routes, page.options = _exports(modules[page.source], page.source)
        other = names.setdefault(page.options["name"], page)
        if other is not page:
            raise ValueError(
                f"{other.source.file} and {page.source.file} are both named "
                f"{page.options['name']!r}; set config = {{'name': ...}} in one of them"
            )

    for page in pages:
        _register(api, page, middleware)


def _method_config(own: Any, method: str, file: Path) -> dict[str, Any]:
    if not isinstance(own, Mapping):
        raise TypeError(f"{file}: config[{method!r}] must be a dict of route options")
    # NOTE: the name is the file's: every route of a file shares it.
    _check_config_keys(own, CONFIG_KEYS - {"name"}, file, f"config[{method!r}]")
    return dict(own)


def _check_config_keys(
    config: Mapping[str, Any], allowed: frozenset[str], file: Path, where: str = "config"
) -> None:
    unknown = sorted(str(key) for key in config if key not in allowed)
    if unknown:
        raise ValueError(
            f"{file}: unknown {where} keys {unknown}; route options are "
            f"{sorted(allowed)} (body_parser=False is Next.js's api.bodyParser), and "
            f"config may hold a method's own options under its name (config['PATCH'])"
        )


def _register(
    api: Scope, page: _Page, middleware: Mapping[tuple[str, ...], list[Middleware]]
) -> None:
    """Add a file's routes to *api*, inside its folders' middleware."""
    folder_parts = page.source.parts[:-1]
    # One router per file: any error can then name the file.
    router = Router()
    # Outer folders first: a router's middleware runs in registration order.
    for depth in range(len(folder_parts) + 1):
        for func in middleware.get(folder_parts[:depth], ()):
            router.add_middleware(func)
    try:
        for methods, handler, own in page.routes:
            router.add_route(page.path, handler, methods, **(page.options | own))
        api.include(router)
    except ValueError as exc:
        raise ValueError(f"{page.source.file}: {exc}") from exc
    except TypeError as exc:
        raise TypeError(f"{page.source.file}: {exc}") from exc


# -- finding the files -------------------------------------------------------------


def _resolve(source: str | os.PathLike[str] | ModuleType) -> tuple[str, list[Path]]:
    """The package name the modules go under, and the folders to scan."""
    if isinstance(source, str) and not _is_path(source):
        dotted = source
        try:
            source = importlib.import_module(dotted)
        except ModuleNotFoundError as exc:
            # Only the package itself missing gets the hint; an import failing
            # inside it propagates as it is.
            if exc.name is None or (exc.name != dotted and not dotted.startswith(exc.name + ".")):
                raise
            raise ModuleNotFoundError(
                f"discover({dotted!r}): there is no package {dotted!r}; to discover a "
                f"directory, pass a path such as {'./' + dotted!r} or Path({dotted!r})",
                name=exc.name,
            ) from exc
    if isinstance(source, ModuleType):
        paths = getattr(source, "__path__", None)
        if paths is None:
            raise ValueError(
                f"discover: {source.__name__} is a module, not a package; pass the "
                "package (or the directory) that holds the route files"
            )
        folders = list(dict.fromkeys(Path(path).resolve() for path in paths))
        return source.__name__, folders
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            f"discover takes a directory path or a package, not {type(source).__name__}"
        )
    folder = Path(source).resolve()
    if not folder.is_dir():
        raise NotADirectoryError(f"discover: {folder} is not a directory")
    return _directory_package(folder), [folder]


def _is_path(source: str) -> bool:
    # NOTE: a string is a path when it has a separator, else a dotted module
    # name: "api" is never guessed from what the working directory holds.
    return any(sep and sep in source for sep in ("/", os.sep, os.altsep)) or source in {".", ".."}


def _scan(root: Path) -> Iterator[_Source]:
    """The route and ``_middleware.py`` files under *root*, sorted by name."""
    visited: set[Path] = set()

    def walk(folder: Path, parts: tuple[str, ...]) -> Iterator[_Source]:
        real = folder.resolve()
        if real in visited:  # a symlink loop would otherwise never end
            return
        visited.add(real)
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
            name = entry.name
            if name == _MIDDLEWARE_FILE and entry.is_file():
                yield _Source(entry, (*parts, "_middleware"), root)
            elif name.startswith(("_", ".")):
                continue
            elif entry.is_dir():
                yield from walk(entry, (*parts, name))
            elif name.endswith(".py") and entry.is_file():
                yield _Source(entry, (*parts, name[:-3]), root)

    return walk(root, ())


def _plan(found: _Source, prefix: str) -> _Page:
    """Compute a file's route path and check its brackets."""
    parts = found.parts
    segments = parts[:-1] if parts[-1] == "index" else parts
    for segment in segments:
        if ("[" in segment or "]" in segment) and not _DYNAMIC.fullmatch(segment):
            raise ValueError(
                f"{found.file}: {segment!r} is not a dynamic segment; write [name], "
                "[...name] or [[...name]] with a Python identifier (ASCII) as the name"
            )
    path = "/".join((prefix, *segments)) if segments else prefix or "/"
    try:
        spec = compile_path(path)
    except ValueError as exc:
        raise ValueError(f"{found.file}: {exc}") from exc
    shapes = tuple(
        _PLACEHOLDER.sub(lambda match: f"<{match[1] or ''}>", rule) for rule in spec.rules
    )
    return _Page(found, path, shapes)


def _check_conflicts(pages: Iterable[_Page]) -> None:
    """Refuse two files for one route, and two dynamic names in one folder."""
    shapes: dict[str, _Page] = {}
    dynamic: dict[tuple[str, ...], tuple[str, _Page]] = {}
    for page in pages:
        for shape in page.shapes:
            other = shapes.setdefault(shape, page)
            if other is not page:
                raise ValueError(
                    f"two files for one route: {other.source.file} ({other.path}) and "
                    f"{page.source.file} ({page.path}); remove or rename one"
                )
        parts = page.source.parts
        for depth, segment in enumerate(parts):
            match = _DYNAMIC.fullmatch(segment)
            if match is None or match["single"] is None:
                continue
            # NOTE: like Next.js: werkzeug would serve [id]/a and [slug]/b, but
            # req.params would then name one path position two ways.
            name, first = dynamic.setdefault(parts[:depth], (segment, page))
            if name != segment:
                raise ValueError(
                    f"{first.source.file} and {page.source.file}: one folder cannot hold "
                    f"two dynamic names ({name} and {segment}); use one name"
                )


# -- importing ---------------------------------------------------------------------


def _directory_package(folder: Path) -> str:
    """Make the package a directory's modules go under; return its name."""
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
    readable = re.sub(r"\W", "_", folder.name, flags=re.ASCII)
    name = f"_microapi_routes_{readable}_{digest}"
    if name not in sys.modules:
        sys.modules[name] = _namespace(name, folder)
    return name


def _namespace(name: str, folder: Path) -> ModuleType:
    """A namespace package for *folder*, for relative imports below it."""
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(folder)]
    return importlib.util.module_from_spec(spec)


def _segment(name: str) -> str:
    """A file or folder name as one part of a dotted module name."""
    return name.replace("%", "%25").replace(".", "%2E")


class _Loader:
    """Imports the files of one discovered folder, each once.

    A module whose package is a real package and whose name has no dot is
    imported by the import system, as ``import`` would; the others are
    loaded from their file under the same kind of name.
    """

    def __init__(self, package: str, folder: Path) -> None:
        self.package = package
        self.folder = folder

    def load(self, found: _Source) -> ModuleType:
        """Import *found*, or return the module already imported for it."""
        parent, folder = self.package, self.folder
        for part in found.parts[:-1]:
            folder = folder / part
            parent = self._package(f"{parent}.{_segment(part)}", folder, parent)
        name = f"{parent}.{_segment(found.parts[-1])}"
        module = sys.modules.get(name)
        if module is None:
            try:
                if _importable(name, parent):
                    module = importlib.import_module(name)
                else:
                    module = _exec_file(name, found.file)
            except Exception as exc:
                raise ImportError(
                    f"cannot import {found.file}: {type(exc).__name__}: {exc}",
                    name=name,
                    path=str(found.file),
                ) from exc
        origin = getattr(module, "__file__", None)
        if origin is None or Path(origin).resolve() != found.file.resolve():
            # e.g. "hello.py" next to "hello/__init__.py": the package wins.
            raise ImportError(
                f"cannot import {found.file} as {name!r}: that name is already the module "
                f"{origin or module!r}; rename one of them",
                name=name,
                path=str(found.file),
            )
        return module

    def _package(self, name: str, folder: Path, parent: str) -> str:
        """Make sure package *name* exists for *folder*; return *name*."""
        if name in sys.modules:
            return name
        if _importable(name, parent):
            try:
                importlib.import_module(name)
            except Exception as exc:
                raise ImportError(
                    f"cannot import the package {folder}: {type(exc).__name__}: {exc}",
                    name=name,
                    path=str(folder),
                ) from exc
        else:
            sys.modules[name] = _namespace(name, folder)
        return name


def _importable(name: str, parent: str) -> bool:
    # The import system finds "pkg.todos.[id]" in pkg.todos.__path__, but not
    # a name with an escaped dot, nor anything under a module that is not a
    # package ("todos.py" next to "todos/" owns the name "pkg.todos").
    return "%" not in name.rpartition(".")[2] and hasattr(sys.modules[parent], "__path__")


def _exec_file(name: str, file: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:  # pragma: no cover - .py files always have one
        raise ImportError(f"no loader for {file}")
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs, as the import system does, so that the
    # module can be found while it executes (dataclasses, pickling).
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        # Nothing half-initialised stays behind: the next attempt runs it again.
        sys.modules.pop(name, None)
        raise
    return module


# -- reading the exports -----------------------------------------------------------


def _exports(module: ModuleType, found: _Source) -> tuple[list[_Route], dict[str, Any]]:
    """A route module's ``(methods, handler)`` pairs and route options."""
    file = found.file
    exported = [method for method in METHOD_EXPORTS if hasattr(module, method)]
    handler = getattr(module, "handler", None)
    methods = getattr(module, "methods", None)
    if handler is not None and exported:
        raise ValueError(
            f"{file}: exports both handler and {', '.join(exported)}; export handler "
            "(Pages Router style) or method functions (App Router style), not both"
        )
    if handler is None and not exported:
        raise ValueError(
            f"{file}: exports no handler; define handler(req, res) or functions named "
            f"{', '.join(HANDLER_METHODS)} (a helper that is not a route needs a name "
            "starting with '_')"
        )
    if handler is not None:
        routes: list[_Route] = [
            (list(HANDLER_METHODS) if methods is None else methods, handler, {})
        ]
    elif methods is not None:
        raise ValueError(
            f"{file}: methods applies to handler; the functions {', '.join(exported)} "
            "already name their methods"
        )
    else:
        routes = [([method], getattr(module, method), {}) for method in exported]

    config = getattr(module, "config", None)
    if config is None:
        config = {}
    elif not isinstance(config, Mapping):
        raise TypeError(
            f"{file}: config must be a dict of route options, not {type(config).__name__}"
        )
    options = {key: value for key, value in config.items() if key not in METHOD_EXPORTS}
    _check_config_keys(options, CONFIG_KEYS, file)
    if exported:  # method functions: one route each, in the order of exported
        for method, (_, _, own) in zip(exported, routes, strict=True):
            if method in config:
                own.update(_method_config(config[method], method, file))
    stray = sorted(set(config) & set(METHOD_EXPORTS) - set(exported))
    if stray:
        raise ValueError(
            f"{file}: config[{stray[0]!r}] holds options for the {stray[0]} function, which "
            f"the file does not define (per-method options need method functions)"
        )
    name = options.setdefault("name", ".".join(found.parts))
    if not isinstance(name, str) or not name:
        raise TypeError(f"{file}: config['name'] must be a non-empty string, not {name!r}")
    return routes, options


def _middleware_of(module: ModuleType, file: Path) -> list[Middleware]:
    """The middleware a ``_middleware.py`` module exports, outermost first."""
    value = getattr(module, "middleware", None)
    if value is None:
        raise ValueError(
            f"{file}: exports no middleware; define middleware(req, res, next) or "
            "middleware = [first, second]"
        )
    funcs = [value] if callable(value) else value
    if not isinstance(funcs, (list, tuple)) or not all(callable(func) for func in funcs):
        raise TypeError(
            f"{file}: middleware must be a function (req, res, next) or a list of them, "
            f"not {value!r}"
        )
    return list(funcs)

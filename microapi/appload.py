"""Finding and loading ``APP`` for the ``microapi`` command.

``APP`` is ``MODULE:NAME``, imported with the current directory first on
``sys.path`` (as gunicorn and ``flask run`` do).  ``NAME`` defaults to
``api``; it may be a dotted attribute, or a factory: a callable that is not
an ``Api`` and takes no arguments is called, and ``NAME(...)`` calls it with
literal arguments.

Without ``APP``, :func:`discover_app` looks as ``flask run`` does: in the
current directory, ``wsgi.py`` then ``app.py``; in the module, an ``Api``
(or another WSGI app) named ``api``, else ``app``, else a factory
``create_api`` or ``create_app`` called without arguments.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .app import Api
from .types import WSGIApp

__all__ = [
    "DISCOVERY_FILES",
    "DISCOVERY_NAMES",
    "LoadError",
    "discover_app",
    "load",
    "load_app",
    "require_api",
    "wsgi_app",
]

#: The modules looked for in the current directory without ``APP``, in order.
DISCOVERY_FILES = ("wsgi.py", "app.py")
#: The attributes looked for in them: ``Api`` objects, then factories.
DISCOVERY_NAMES = ("api", "app", "create_api", "create_app")
_FACTORIES = frozenset({"create_api", "create_app"})


class LoadError(Exception):
    """``APP`` cannot be found or loaded: a mistake the user can fix, in one line."""


# -- MODULE:NAME ------------------------------------------------------------------------


def load(spec: str) -> Any:
    """Import ``MODULE:NAME`` and return the object, factories called.

    :raises LoadError: the spec is wrong or the object cannot be loaded.
    """
    module_name, colon, target = spec.partition(":")
    if not colon:
        target = "api"
    if "/" in module_name or os.sep in module_name or os.path.isfile(module_name):
        dotted = module_name.removesuffix(".py").replace(os.sep, ".").replace("/", ".")
        raise LoadError(f"APP takes a module name, not a file: try '{dotted}:{target or 'api'}'")
    if not all(part.isidentifier() for part in module_name.split(".")):
        raise LoadError(f"{spec!r} is not MODULE:NAME, for example 'wsgi:api'")
    names, call = _parse_target(target, spec)
    module = _import(module_name)
    obj: Any = module
    for index, name in enumerate(names):
        try:
            obj = getattr(obj, name)
        except AttributeError:
            missing = ".".join(names[: index + 1])
            raise LoadError(
                f"module {module_name!r} has no attribute {missing!r}; "
                + _suggest_api(module, module_name)
            ) from None
    if call is not None:
        if not callable(obj):
            raise LoadError(f"{spec!r}: {'.'.join(names)} is not callable")
        return _call(obj, spec, *call)
    if not isinstance(obj, Api) and callable(obj) and _binds(obj, 0):
        return _call(obj, spec, (), {})
    return obj


def _parse_target(
    target: str, spec: str
) -> tuple[list[str], tuple[tuple[Any, ...], dict[str, Any]] | None]:
    """Split ``a.b`` or ``a.b(1, x="y")`` into names and literal arguments."""
    try:
        node = ast.parse(target.strip(), mode="eval").body
    except (SyntaxError, ValueError):  # ValueError: a NUL byte
        raise LoadError(f"{spec!r} is not MODULE:NAME, for example 'wsgi:api'") from None
    call = None
    if isinstance(node, ast.Call):
        try:
            args = tuple(ast.literal_eval(arg) for arg in node.args)
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
        except ValueError:
            raise LoadError(f"{spec!r}: factory arguments must be Python literals") from None
        if len(kwargs) != len(node.keywords):
            raise LoadError(f"{spec!r}: factory arguments must be Python literals")
        call = (args, kwargs)
        node = node.func
    names: list[str] = []
    while isinstance(node, ast.Attribute):
        names.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise LoadError(f"{spec!r} is not MODULE:NAME, for example 'wsgi:api'")
    names.insert(0, node.id)
    return names, call


def _import(module_name: str) -> Any:
    """Import *module_name*, turning every failure into a one-line :class:`LoadError`."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # NOTE: only a missing APP module (or one of its packages) is the
        # user's typo; a missing import *inside* it is an error in their code.
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise LoadError(
                f"cannot import {module_name!r}: no module named {exc.name!r} "
                f"(run microapi from the directory that contains it: {os.getcwd()})"
            ) from None
        raise LoadError(f"error while importing {module_name!r}: {_one_line(exc)}") from None
    except Exception as exc:  # anything the user's module raises while importing
        raise LoadError(f"error while importing {module_name!r}: {_one_line(exc)}") from None


def _call(factory: Callable[..., Any], spec: str, args: Any, kwargs: dict[str, Any]) -> Any:
    try:
        return factory(*args, **kwargs)
    except Exception as exc:  # the user's factory failed
        raise LoadError(f"error while calling the factory in {spec!r}: {_one_line(exc)}") from None


def _binds(func: Callable[..., Any], count: int) -> bool:
    """Whether *func* accepts *count* positional arguments (``False`` if unknown)."""
    try:
        inspect.signature(func).bind(*range(count))
    except (TypeError, ValueError):
        return False
    return True


def _suggest_api(module: Any, module_name: str) -> str:
    found = [name for name, value in vars(module).items() if isinstance(value, Api)]
    if found:
        return "it has " + ", ".join(f"'{module_name}:{name}'" for name in found)
    return f"name your Api or its factory after the colon: '{module_name}:NAME'"


def _one_line(exc: BaseException) -> str:
    """``Type: message (file:line)`` for an exception from the user's code."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split()).removesuffix(":")
    if isinstance(exc, SyntaxError):  # its message already says where
        return text
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<")]
    # NOTE: the deepest frame in the project says more than one in a library.
    cwd = os.getcwd() + os.sep
    ours = [frame for frame in frames if frame.filename.startswith(cwd)]
    frame = (ours or frames)[-1]  # never empty: the frame that imported or called is there
    return f"{text} ({frame.filename.removeprefix(cwd)}:{frame.lineno})"


def wsgi_app(obj: Any, spec: str) -> WSGIApp:
    """Return *obj* if it is a WSGI app: an ``Api`` or ``app(environ, start_response)``.

    :raises LoadError: naming what *obj* is instead.
    """
    app: WSGIApp = obj
    if isinstance(obj, Api):
        return app
    if callable(obj):
        try:
            inspect.signature(obj)
        except (TypeError, ValueError):  # a builtin: nothing to check
            return app
        if _binds(obj, 2):
            return app
        raise LoadError(
            f"{spec!r} takes {inspect.signature(obj)}: neither app(environ, start_response) "
            "nor a factory without arguments; give a factory its arguments in APP, "
            "as in 'wsgi:create_api(\"prod\")'"
        )
    raise LoadError(
        f"{spec!r} is {_a(obj)}, not a WSGI app; point APP at an Api, "
        "app(environ, start_response), or a factory returning one"
    )


def require_api(obj: Any, spec: str, command: str) -> Api:
    """Return *obj* if it is an ``Api``; else raise :class:`LoadError` for *command*."""
    if isinstance(obj, Api):
        return obj
    raise LoadError(f"{command} needs a microapi Api, and {spec!r} is {_a(obj)}")


def _a(obj: Any) -> str:
    if obj is None:  # a factory that forgot to return
        return "None"
    name = type(obj).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def load_app(spec: str) -> WSGIApp:
    """Import ``APP`` (``MODULE:NAME``, factories called) and check it is a WSGI app.

    :raises LoadError: the spec is wrong or the app cannot be loaded.
    """
    return wsgi_app(load(spec), spec)


# -- discovery --------------------------------------------------------------------------


def discover_app(directory: str | os.PathLike[str] | None = None) -> tuple[str, Any]:
    """Find the app in *directory* (default: the current one), as ``flask run`` does.

    :returns: the ``APP`` spec it stands for (``"wsgi:api"``,
        ``"app:create_app()"``) and the object, factories called.
    :raises LoadError: when there is no such module or name, or it fails
        to import; the message says what was looked for, and where.
    """
    folder = Path(os.getcwd() if directory is None else directory)
    found = [name for name in DISCOVERY_FILES if (folder / name).is_file()]
    if not found:
        raise LoadError(
            f"no APP given, and no {' or '.join(DISCOVERY_FILES)} in {folder}: give APP as "
            "MODULE:NAME (for example examples.hello.wsgi:api), or run microapi from "
            "your project's directory"
        )
    for file in found:
        module_name = file.removesuffix(".py")
        module = _import(module_name)
        for name in DISCOVERY_NAMES:
            value = getattr(module, name, None)
            if name in _FACTORIES and callable(value) and not isinstance(value, Api):
                spec = f"{module_name}:{name}()"
                return spec, _call(value, spec, (), {})
            # NOTE: a wrapped app (api = ProxyFix(api)) is served as well.
            if isinstance(value, Api) or (
                name not in _FACTORIES and callable(value) and _binds(value, 2)
            ):
                return f"{module_name}:{name}", value
    raise LoadError(
        f"no APP given, and {' nor '.join(found)} in {folder} has an app named api or app, "
        "or a factory create_api or create_app; give APP as MODULE:NAME"
    )

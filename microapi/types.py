"""Handlers, middleware and the callables between them: type aliases, and names for messages."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from .request import Request
    from .response import Res

__all__ = ["ErrorHandler", "Handler", "Middleware", "Next", "WSGIApp", "describe"]

#: ``next()`` as middleware sees it: runs the rest of the chain (awaitable
#: in async middleware).
Next: TypeAlias = Callable[[], Any]

#: ``handler(req, res)``, sync or ``async def``; may return a value instead
#: of sending (dict/list/str/bytes/tuple/werkzeug ``Response``).
Handler: TypeAlias = Callable[["Request", "Res"], Any]

#: ``middleware(req, res, next)``, sync or ``async def``.
Middleware: TypeAlias = Callable[["Request", "Res", Next], Any]

#: ``handler(req, res, exc)`` registered with ``@api.errorhandler``.
ErrorHandler: TypeAlias = Callable[["Request", "Res", Any], Any]

#: A WSGI application.
WSGIApp: TypeAlias = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: What the dispatcher runs for one request: the composed chain.
Target: TypeAlias = Callable[["Request", "Res"], None]

#: Awaitable form of :data:`Target`, for the async part of a chain.
AsyncTarget: TypeAlias = Callable[["Request", "Res"], Coroutine[Any, Any, None]]


def describe(func: Any) -> str:
    """``module:qualname`` of a handler or middleware, for messages."""
    module = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}:{name}" if module else str(name)

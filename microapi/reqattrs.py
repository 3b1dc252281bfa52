"""Request attributes made on first use, without werkzeug's detours.

``req.headers``, ``req.state`` and ``req.query`` are read by most
middleware and handlers; each is a descriptor that computes its value once
and stores it in the instance (like :class:`microapi.request._lazy`, with
the function inlined), and the values answer the usual questions (a
header, the first value of a parameter) in one step.  What they return is
werkzeug's: ``EnvironHeaders`` and ``ImmutableMultiDict`` subclasses whose
``get`` agrees with werkzeug's (``tests/test_request`` checks it on
generated input).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, overload

from werkzeug.datastructures import EnvironHeaders, ImmutableMultiDict

from .bodies import parse_query

__all__ = ["HeadersAttribute", "QueryAttribute", "StateAttribute", "parse_args", "server_address"]

_ABSENT: Any = object()
_new = object.__new__
_BODY_KEYS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
# Header names → their environ keys ("X-Token" → "HTTP_X_TOKEN"), as
# EnvironHeaders computes them; bounded, since names may come from data.
_ENVIRON_KEYS: dict[str, str] = {}
_MAX_ENVIRON_KEYS = 1024


class _Headers(EnvironHeaders):
    """werkzeug's ``EnvironHeaders`` with a quicker :meth:`get`."""

    def get(self, key: str, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]
        """Header *key*'s value, or *default*; see werkzeug's ``Headers.get``."""
        # PERF: werkzeug's get goes through _get_key and a KeyError for a
        # missing header (-0.07 µs); tests/test_request checks they agree.
        if type is not None or key.__class__ is not str:
            return super().get(key, default, type)
        environ_key = _ENVIRON_KEYS.get(key)
        if environ_key is None:
            name = key.upper().replace("-", "_")
            environ_key = name if name in _BODY_KEYS else "HTTP_" + name
            if len(_ENVIRON_KEYS) < _MAX_ENVIRON_KEYS:
                _ENVIRON_KEYS[key] = environ_key
        value = self.environ.get(environ_key, _ABSENT)
        return default if value is _ABSENT else value


class HeadersAttribute:
    """``req.headers``: the request headers, made on first use.

    PERF: a ``_lazy`` with its function inlined; middleware reads headers
    on most requests (-0.05 µs).
    """

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        # PERF: EnvironHeaders.__init__'s work without its two calls.
        headers = obj.__dict__["headers"] = _new(_Headers)
        headers._list = []
        headers.environ = obj.environ
        return headers


class StateAttribute:
    """``req.state``: a namespace for middleware to hand things to handlers.

    PERF: a ``_lazy`` with its function inlined, like ``req.headers``.
    """

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> StateAttribute: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> SimpleNamespace: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__["state"] = SimpleNamespace()
        return state


class _Args(ImmutableMultiDict[str, str]):
    """``req.args``: werkzeug's ``ImmutableMultiDict`` with a quicker ``get``."""

    def get(self, key: str, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]
        """The first value of *key*, or *default*; see werkzeug's ``MultiDict.get``."""
        # PERF: werkzeug's get goes through __getitem__ and a KeyError for a
        # missing key (-0.15 µs); tests/test_request checks they agree.
        if type is None:
            values = _dict_get(self, key)
            return values[0] if values else default
        return super().get(key, default, type)


_dict_get = dict.get


def parse_args(environ: dict[str, Any]) -> ImmutableMultiDict[str, str]:
    args = parse_query(environ.get("QUERY_STRING", ""))
    if args.__class__ is ImmutableMultiDict:
        args.__class__ = _Args  # the same dict, with the quicker get
    return args


class QueryAttribute:
    """``req.query``: ``req.args``, or the ``query=`` schema's result.

    PERF: a ``_lazy`` with its function inlined, reading and setting
    ``req.args`` at once (-0.08 µs).
    """

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__
        args = state.get("args")
        if args is None:
            args = state["args"] = parse_args(obj.environ)
        state["query"] = args
        return args


def server_address(environ: dict[str, Any]) -> tuple[str, int | None] | None:
    """The server's ``(host, port)`` from *environ*, as werkzeug's ``Request.server``.

    ``None`` without ``SERVER_NAME``; the port is ``None`` when it is not a
    number (a Unix socket).  NOTE: werkzeug's helper for this is private
    (``werkzeug.wsgi._get_server``).
    """
    name = environ.get("SERVER_NAME")
    if name is None:
        return None
    try:
        port: int | None = int(environ.get("SERVER_PORT"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        port = None
    return name, port

"""Routing: what a route is, how its path is written, and how a request finds it.

One module per idea, each importing only those above it:

- :mod:`~microapi.routing.matchers`: middleware ``match=`` patterns
  (``"/api/:path*"``) compiled to one regex;
- :mod:`~microapi.routing.scope`: whether a ``match=`` pattern can ever accept
  a route's paths, decided at registration;
- :mod:`~microapi.routing.syntax`: the two path syntaxes, Next.js segments to
  werkzeug rules and werkzeug rules to the parts the matcher tests;
- :mod:`~microapi.routing.declare`: :class:`Route`, :class:`Router` and the
  registration surface :class:`Scope` that ``Api`` shares;
- :mod:`~microapi.routing.converters`: the table's converters (ASCII ``int``
  and ``float``, ``path`` with newlines, Next.js ``catchall``);
- :mod:`~microapi.routing.compiled`: the matcher, Python source generated
  from the route trie;
- :mod:`~microapi.routing.table`: :class:`RouteTable`, the trie and lookup
  (``Miss`` answers: 404, 405, 308).
"""

from __future__ import annotations

from ..types import describe as describe
from .declare import HTTP_METHODS as HTTP_METHODS
from .declare import MiddlewareSpec as MiddlewareSpec
from .declare import Route as Route
from .declare import Router as Router
from .declare import Scope as Scope
from .syntax import PathSpec as PathSpec
from .syntax import compile_path as compile_path

__all__ = [
    "HTTP_METHODS",
    "MiddlewareSpec",
    "PathSpec",
    "Route",
    "Router",
    "Scope",
    "compile_path",
    "describe",
]

"""The route table: werkzeug rules, looked up without werkzeug's overhead.

Every route becomes werkzeug :class:`~werkzeug.routing.Rule` objects in a
:class:`~werkzeug.routing.Map`, which validates the rule syntax, owns the
converters and builds URLs.  Lookup is a dict for static paths and, for the
rest, the matcher compiled from a trie of the rules' parts
(:mod:`microapi.routing.compiled`, werkzeug's algorithm), so the table
answers exactly what ``Map.bind(...).match`` answers, redirects and 405s
included; ``tests/routing/test_table.py`` checks that on generated route
sets.

PERF: ``MapAdapter.match`` costs ~4 µs on a route with a parameter; this
table answers static paths with one dict lookup and parametrised paths in
about a quarter of that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

from werkzeug.routing import Map, Rule

from ..types import describe
from .compiled import (
    Dynamic,
    Finder,
    Node,
    Rejected,
    SlashRequired,
    compile_matcher,
    compile_params,
    entry_key,
)
from .converters import CONVERTERS
from .declare import Route
from .syntax import parse_rule

__all__ = ["NOT_FOUND", "Entry", "Miss", "RouteTable"]


_MERGE_SLASHES = re.compile("/{2,}")
# Characters werkzeug leaves unquoted in a redirect path.
_REDIRECT_SAFE = "!$&'()*+,/:;=@"


class Entry:
    """One werkzeug rule of a route, with what dispatch needs to run it.

    ``entry.params(values)`` converts the matched strings to the route's
    parameters, or returns ``None`` when a converter rejects one; it is
    compiled with the table (:func:`microapi.routing.compiled.compile_params`).
    """

    __slots__ = ("before", "converters", "has_params", "params", "parts", "route", "rule", "target")

    def __init__(self, route: Route, rule: Rule) -> None:
        #: The route the rule belongs to.
        self.route = route
        #: The werkzeug rule, bound to the table's map (URL building).
        self.rule = rule
        parsed = parse_rule(rule)
        #: The rule's parts, as the matcher tests them.
        self.parts = parsed.parts
        #: The rule's converters by parameter name, in the rule's order.
        self.converters = parsed.converters
        #: Whether matched values need converting (or list defaults filling).
        self.has_params = bool(self.converters or route.spec.list_params)
        #: The composed chain for the route; set by the app when it freezes.
        self.target: Any = None
        #: Methods of the rules registered before this one for the same path
        #: shape; werkzeug's 405 includes them when a converter rejects a value.
        self.before: frozenset[str] = frozenset()
        self.params: Callable[[list[str]], dict[str, Any] | None] = _uncompiled


def _uncompiled(values: list[str]) -> dict[str, Any] | None:
    raise RuntimeError("the route table was not compiled")


@dataclass(frozen=True)
class Miss:
    """Why a path and method matched no route."""

    #: Methods the path does answer (a 405 when not empty).
    allowed: frozenset[str] = frozenset()
    #: The path to redirect to with 308, or ``None``.
    redirect: str | None = None


#: The usual miss: no route for the path, no redirect.  PERF: shared, not
#: made per 404.
NOT_FOUND = Miss()


class RouteTable:
    """All routes of an ``Api``: validated on :meth:`add`, matched by :meth:`match`."""

    def __init__(self) -> None:
        #: The werkzeug map: rule syntax, converters, URL building.
        self.map = Map(
            converters=dict(CONVERTERS),
            redirect_defaults=False,
        )
        #: Every rule in registration order.
        self.entries: list[Entry] = []
        self._claimed: dict[tuple[tuple[str, ...], str], Route] = {}
        self._names: dict[str, Route] = {}
        self._root = Node()
        self._find: Finder = _no_match
        #: Static paths (slashes merged) → method → entry; what
        #: :meth:`match` answers first, and the app's dispatch inlines.
        self.static: dict[str, dict[str, Entry]] = {}

    def add(self, route: Route) -> None:
        """Validate *route* and add its rules.

        :raises ValueError: naming the route, for a rule werkzeug rejects
            (bad syntax, unknown converter), a path and method that are
            already taken, or a name already used for another path.
        """
        culprit = f"route {route.path!r} (handler {describe(route.handler)})"
        rules = [
            Rule(rule, endpoint=route.name, methods=route.methods) for rule in route.spec.rules
        ]
        for rule in rules:
            try:
                rule.empty().bind(self.map)
            except (ValueError, LookupError, TypeError) as exc:
                # TypeError: converter arguments it does not take (<int(foo=1):x>).
                raise ValueError(f"{culprit}: {exc}") from None
        taken = self._names.get(route.name)
        if taken is not None and taken.path != route.path:
            raise ValueError(
                f"{culprit}: the name {route.name!r} is already used by route {taken.path!r}; "
                "pass name= to tell them apart"
            )
        claims = []
        for rule in rules:
            rule.bind(self.map)
            shape = tuple(part.content for part in parse_rule(rule).parts)
            for method in sorted(rule.methods or ()):
                other = self._claimed.get((shape, method))
                if other is None or _takes_over_head(route, other, method):
                    claims.append(((shape, method), route))
                elif not _automatic_head(route, method):
                    raise ValueError(
                        f"{culprit}: {method} {route.path} is already registered "
                        f"by handler {describe(other.handler)} (as {other.path!r})"
                    )
        for rule in rules:
            rule.map = None  # type: ignore[assignment]  # bound again by Map.add
            self.map.add(rule)
            self.entries.append(Entry(route, rule))
        self._claimed.update(claims)
        self._names.setdefault(route.name, route)

    def compile(self) -> None:
        """Build the matching trie; call once after the last :meth:`add`."""
        self.map.update()
        self._root = Node()
        self.static = {}
        for entry in self.entries:
            node = self._root
            for part in entry.parts:
                if part.static:
                    node = node.static.setdefault(part.content, Node())
                    continue
                key = (part.content, part.final, part.suffixed, part.weight)
                for dynamic in node.dynamic:
                    if dynamic.key == key:
                        node = dynamic.node
                        break
                else:
                    regex = re.compile(part.content)
                    groups = tuple(sorted(regex.groupindex, key=_group_order))
                    dynamic = Dynamic(
                        key, part.weight, regex, part.final, part.suffixed, groups, Node()
                    )
                    node.dynamic.append(dynamic)
                    node = dynamic.node
            entry.before = frozenset(node.allowed)
            for method in entry.rule.methods or ():
                if method == "HEAD" and not _automatic_head(entry.route, method):
                    node.by_method[method] = entry  # a declared HEAD beats GET's
                else:
                    node.by_method.setdefault(method, entry)
                node.allowed.add(method)
            if not entry.rule.arguments:
                # NOTE: werkzeug matches the rule with slashes merged, so
                # "/a//b" is only reachable as "/a/b" (the other redirects).
                self.static[_MERGE_SLASHES.sub("/", entry.rule.rule)] = node.by_method
        _sort_dynamic(self._root)
        compiled: dict[Any, Callable[[list[str]], dict[str, Any] | None]] = {}
        for entry in self.entries:
            # Rules converting alike share one function (every "<int:id>").
            key = entry_key(entry)
            if key not in compiled:
                compiled[key] = compile_params(entry)
            entry.params = compiled[key]
        self._find = compile_matcher(self._root)

    def match(self, path: str, method: str) -> tuple[Entry, dict[str, Any]] | Miss:
        """Find the route for *path* (``req.path``) and *method*.

        :returns: ``(entry, params)``, or a :class:`Miss` saying whether the
            path answers other methods (405) or wants a 308 redirect.
        """
        by_method = self.static.get(path)
        entry = by_method.get(method) if by_method is not None else None
        if entry is None:
            return self.match_dynamic(path, method)
        if not entry.has_params:
            return entry, {}
        # A static rule converts nothing: its params are empty catch-alls.
        return entry, cast(dict[str, Any], entry.params([]))

    def match_dynamic(self, path: str, method: str) -> tuple[Entry, dict[str, Any]] | Miss:
        """:meth:`match`, for a path known not to be a static route's."""
        try:
            # PERF: no set of allowed methods for the usual hit (not even
            # the argument: -7 ns); a miss looks again, collecting it.
            found = self._find(path, method)
        except (SlashRequired, Rejected):
            found = None
        return self._miss_for(path, method) if found is None else found

    def _miss_for(self, path: str, method: str) -> tuple[Entry, dict[str, Any]] | Miss:
        allowed: set[str] = set()
        try:
            found = self._find(path, method, allowed)
        except SlashRequired:
            return Miss(redirect=quote(path + "/", safe=_REDIRECT_SAFE))
        except Rejected as rejected:
            # werkzeug: a converter rejecting a value ends the search.
            return self._strip_slash(path, method, allowed | rejected.entry.before)
        return self._miss(path, method, allowed) if found is None else found

    def _miss(self, path: str, method: str, allowed: set[str]) -> Miss:
        # PERF: most paths have no doubled slash; skip the regex for them.
        merged = _MERGE_SLASHES.sub("/", path) if "//" in path else path
        if merged != path:
            try:
                found = self._find(merged, method, allowed)
            except SlashRequired:
                return Miss(redirect=quote(merged + "/", safe=_REDIRECT_SAFE))
            except Rejected as rejected:
                found = rejected.entry, {}  # matched; the redirect's request rejects it
            if found is not None and found[0].rule.merge_slashes is not False:
                return Miss(redirect=quote(merged, safe=_REDIRECT_SAFE))
        # "/todos//" goes to "/todos" in one hop, like "/todos/".
        return self._strip_slash(merged, method, allowed)

    def _strip_slash(self, path: str, method: str, allowed: set[str]) -> Miss:
        if not allowed and len(path) > 1 and path.endswith("/"):
            # Next.js: "/todos/" redirects to "/todos" when that route exists.
            stripped = path[:-1]
            other: set[str] = set()
            try:
                found = self._find(stripped, method, other)
            except SlashRequired:
                # The path without the slash redirects back to it: no loop.
                return Miss(frozenset(allowed)) if allowed else NOT_FOUND
            except Rejected as rejected:
                # A converter rejects a value: werkzeug answers the stripped
                # path 404, or 405 for the rules before this one; only the
                # 405 is worth a redirect.
                other |= rejected.entry.before
                found = None
            if found is not None or other:
                return Miss(redirect=quote(stripped, safe=_REDIRECT_SAFE))
        return Miss(frozenset(allowed)) if allowed else NOT_FOUND

    def route_named(self, name: str) -> Route | None:
        """The route registered under *name*, or ``None``."""
        return self._names.get(name)


def _no_match(path: str, method: str, allowed: set[str] | None = None) -> None:
    return None


def _automatic_head(route: Route, method: str) -> bool:
    # werkzeug adds HEAD to every GET rule; the route did not declare it.
    return method == "HEAD" and "HEAD" not in route.methods


def _takes_over_head(route: Route, other: Route, method: str) -> bool:
    # A declared HEAD replaces the automatic one, whichever came first.
    return _automatic_head(other, method) and not _automatic_head(route, method)


def _group_order(name: str) -> int:
    return int(name[len("__werkzeug_") :])


def _sort_dynamic(node: Node) -> None:
    node.dynamic.sort(key=lambda dynamic: dynamic.weight)
    for child in node.static.values():
        _sort_dynamic(child)
    for dynamic in node.dynamic:
        _sort_dynamic(dynamic.node)

"""Next.js middleware matchers: ``"/api/:path*"`` compiled to one regex.

The syntax is the path-to-regexp subset Next.js documents for
``config.matcher``: literal text, ``:name`` (one segment), ``:name?`` (an
optional segment), ``:name*`` (zero or more segments), ``:name+`` (one or
more), ``:name(regex)`` and bare ``(regex)`` groups.  A matcher always
matches the whole path.  Compiled :class:`re.Pattern` objects are accepted
too and used with ``fullmatch``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["Matcher", "compile_matcher", "join_paths"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT = "[^/]+"


def join_paths(prefix: str, path: str) -> str:
    """Join a router prefix and a path: ``("/todos", "/")`` → ``/todos``."""
    if not prefix:
        return path
    return prefix if path == "/" else prefix + path


def _group_end(source: str, start: int) -> int:
    """Index just past the parenthesised group opening at *start*."""
    depth = 0
    index = start
    while index < len(source):
        char = source[index]
        if char == "\\":
            index += 2
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    raise ValueError(f"matcher {source!r}: unbalanced parenthesis")


def _translate(source: str) -> str:
    if not source.startswith("/"):
        raise ValueError(f"matcher {source!r} must start with '/'")
    out: list[str] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char == ":" and (name := _NAME.match(source, index + 1)):
            index = name.end()
            pattern = _SEGMENT
        elif char == "(":
            end = _group_end(source, index)
            pattern = source[index + 1 : end - 1]
            index = end
        else:
            out.append(re.escape(char))
            index += 1
            continue
        if index < len(source) and source[index] == "(" and char == ":":
            end = _group_end(source, index)
            pattern = source[index + 1 : end - 1]
            index = end
        modifier = source[index] if index < len(source) and source[index] in "?*+" else ""
        index += len(modifier)
        if modifier and out and out[-1] == "/":
            # path-to-regexp: the slash before an optional or repeated
            # parameter belongs to it, so "/api/:path*" matches "/api".
            out.pop()
            out.append(f"(?:/(?:{pattern})){modifier}")
        else:
            out.append(f"(?:{pattern}){modifier}")
    return "".join(out)


class Matcher:
    """A compiled ``match=`` pattern: call it with a path to test it."""

    __slots__ = ("_regex", "sources")

    def __init__(self, sources: Sequence[str | re.Pattern[str]]) -> None:
        #: The patterns as given.
        self.sources = tuple(sources)
        parts = [s.pattern if isinstance(s, re.Pattern) else _translate(s) for s in self.sources]
        try:
            self._regex = re.compile("|".join(f"(?:{part})" for part in parts))
        except re.error as exc:
            raise ValueError(f"matcher {list(self.sources)!r}: {exc}") from None

    def __call__(self, path: str) -> bool:
        """Whether *path* matches, as a whole."""
        return self._regex.fullmatch(path) is not None

    def with_prefix(self, prefix: str) -> Matcher:
        """The same matcher for paths under *prefix* (a router's)."""
        if not prefix:
            return self
        return Matcher(
            [
                re.compile(re.escape(prefix) + f"(?:{s.pattern})")
                if isinstance(s, re.Pattern)
                else join_paths(prefix, s)
                for s in self.sources
            ]
        )

    def __repr__(self) -> str:
        return f"Matcher({list(self.sources)!r})"


def compile_matcher(match: Any) -> Matcher | None:
    """Compile a ``match=`` argument; ``None`` means every path.

    :raises ValueError: for a pattern that is not a path or a valid regex.
    :raises TypeError: for anything but a string, pattern or list of them.
    """
    if match is None:
        return None
    sources = [match] if isinstance(match, (str, re.Pattern)) else list(match)
    if not sources or not all(isinstance(s, (str, re.Pattern)) for s in sources):
        raise TypeError(f"match= takes a path pattern, a re.Pattern or a list of them: {match!r}")
    return Matcher(sources)

"""Next.js middleware matchers: ``"/api/:path*"`` compiled to one regex.

The syntax is the path-to-regexp subset Next.js documents for
``config.matcher``: literal text, ``:name`` (one segment), ``:name?`` (an
optional segment), ``:name*`` (zero or more segments), ``:name+`` (one or
more), ``:name(regex)`` and bare ``(regex)`` groups; ``\\`` escapes the next
character.  A matcher always matches the whole path, with or without one
trailing slash.  Compiled :class:`re.Pattern` objects are accepted too and
used with ``fullmatch`` (their flags kept).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

__all__ = ["Matcher", "compile_matcher", "join_paths"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SEGMENT = "[^/]+"
# Placeholders a router prefix may hold: werkzeug's <...> and Next.js's [name].
_PLACEHOLDER = re.compile(r"<(?:([A-Za-z_]\w*)(?:\(.*?\))?:)?\w+>|\[\w+\]")
_FLAGS = ((re.ASCII, "a"), (re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"))
# Leading global flags such as "(?i)": re.compile moved them to .flags.
_GLOBAL_FLAGS = re.compile(r"(?:\(\?[aiLmsux]+\))+")


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
        if char == "\\":
            if index + 1 == len(source):
                raise ValueError(f"matcher {source!r}: nothing to escape at the end")
            out.append(re.escape(source[index + 1]))
            index += 2
            continue
        if char == ")":
            raise ValueError(f"matcher {source!r}: unbalanced parenthesis")
        if char in "?*+":
            # NOTE: path-to-regexp rejects a modifier without a parameter; a
            # literal "*" would silently never match ("/admin/*").
            raise ValueError(
                f"matcher {source!r}: {char!r} must follow a parameter; "
                f"write ':path*' for any segments, or '\\{char}' for the character"
            )
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
        parts = [_inline(s) if isinstance(s, re.Pattern) else _translate(s) for s in self.sources]
        try:
            # One optional trailing slash, never the path's first character:
            # Next.js matches paths after stripping the trailing slash.
            self._regex = re.compile(
                "(?:" + "|".join(f"(?:{part})" for part in parts) + ")(?:(?<!^)/)?"
            )
        except re.error as exc:
            raise ValueError(f"matcher {list(self.sources)!r}: {exc}") from None

    def __call__(self, path: str) -> bool:
        """Whether *path* matches, as a whole, with or without one trailing slash."""
        # NOTE: a route declared as "/admin/" must not escape "/admin/:path*".
        return self._regex.fullmatch(path) is not None

    def with_prefix(self, prefix: str) -> Matcher:
        """The same matcher for paths under *prefix* (a router's).

        The prefix is in route syntax: its parameters (``/orgs/[org]``,
        ``/<int:v>``) match any value, since only paths that matched the
        router's routes are tested.
        """
        if not prefix:
            return self
        regex = _prefix_regex(prefix)
        return Matcher(
            [
                re.compile(regex + f"(?:{_inline(s)})")
                if isinstance(s, re.Pattern)
                else re.compile(regex if s == "/" else regex + _translate(s))
                for s in self.sources
            ]
        )

    def __repr__(self) -> str:
        return f"Matcher({list(self.sources)!r})"


def _inline(pattern: re.Pattern[str]) -> str:
    """*pattern*'s source with its flags scoped to it, to join with others."""
    flags = "".join(letter for flag, letter in _FLAGS if pattern.flags & flag)
    # NOTE: global flags are an error anywhere but at the very start.
    leading = _GLOBAL_FLAGS.match(pattern.pattern)
    source = pattern.pattern[leading.end() :] if leading else pattern.pattern
    if pattern.flags & re.VERBOSE:
        # A trailing comment must not swallow what follows the pattern.
        return f"(?x{flags}:{source}\n)"
    return f"(?{flags}:{source})" if flags else source


def _prefix_regex(prefix: str) -> str:
    """A regex for a router prefix in route syntax."""
    out: list[str] = []
    position = 0
    for placeholder in _PLACEHOLDER.finditer(prefix):
        out.append(re.escape(prefix[position : placeholder.start()]))
        # NOTE: DOTALL, as the path converter: a value may hold a newline.
        out.append("(?s:.+?)" if placeholder[1] == "path" else _SEGMENT)
        position = placeholder.end()
    out.append(re.escape(prefix[position:]))
    return "".join(out)


def compile_matcher(match: Any) -> Matcher | None:
    """Compile a ``match=`` argument; ``None`` means every path.

    :raises ValueError: for a pattern that is not a path or a valid regex.
    :raises TypeError: for anything but a string, pattern or list of them.
    """
    if match is None:
        return None
    message = f"match= takes a path pattern, a re.Pattern or a list of them: {match!r}"
    try:
        sources = [match] if isinstance(match, (str, re.Pattern)) else list(match)
    except TypeError:
        raise TypeError(message) from None
    if not sources or not all(isinstance(s, (str, re.Pattern)) for s in sources):
        raise TypeError(message)
    return Matcher(sources)

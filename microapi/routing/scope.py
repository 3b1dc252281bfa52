"""Whether a middleware's ``match=`` can apply to a route with parameters.

A static route's path is known, so its matchers are decided by testing it.
For a route with parameters (``/api/todos/<int:id>``) this module decides
the sure cases at registration: every path the route serves starts with
its literal text up to the first parameter (``/api/todos/``), and every
path a matcher accepts starts with its own literal text up to its first
parameter or group (``/admin`` for ``/admin/:path*``).  When neither is a
prefix of the other, the matcher can never accept the route's paths, so
its middleware is left out of the route's chain (and out of
``microapi routes``).  Anything else is left to the per-request test: a
``False`` here is certain, a ``True`` only possible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Protocol

__all__ = ["can_match", "literal_prefix"]

# The characters a regex treats specially outside a character class.
_REGEX_SPECIAL = frozenset(".^$*+?{}[]\\|()")
_QUANTIFIERS = frozenset("*+?{")


class _Patterns(Protocol):
    """A ``match=`` matcher: the patterns it was compiled from."""

    @property
    def sources(self) -> Sequence[str | re.Pattern[str]]: ...


def can_match(matcher: _Patterns, rules: Iterable[str]) -> bool:
    """Whether *matcher* may accept a path of a route with these werkzeug *rules*."""
    prefixes = [_source_prefix(source) for source in matcher.sources]
    for rule in rules:
        literal = rule.partition("<")[0]
        if any(literal.startswith(prefix) or prefix.startswith(literal) for prefix in prefixes):
            return True
    return False


def literal_prefix(source: str) -> str:
    """The text every path accepted by the Next.js pattern *source* starts with."""
    out: list[str] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source):
            out.append(source[index + 1])
            index += 2
            continue
        if char in ":(":
            # NOTE: "/api/:path*" accepts "/api": the slash before a
            # parameter may belong to it, so it is not part of the prefix.
            if out and out[-1] == "/":
                out.pop()
            break
        out.append(char)
        index += 1
    return "".join(out)


def _source_prefix(source: str | re.Pattern[str]) -> str:
    if isinstance(source, str):
        return literal_prefix(source)
    return _regex_prefix(source)


def _regex_prefix(pattern: re.Pattern[str]) -> str:
    """The text every full match of *pattern* starts with ("" when unsure)."""
    if pattern.flags & (re.IGNORECASE | re.VERBOSE) or _has_top_level_bar(pattern.pattern):
        return ""
    text = pattern.pattern
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            escaped = text[index + 1 : index + 2]
            # \d, \w, \A, \1...: a class, an anchor or a reference, not a character.
            if not escaped or escaped.isalnum() or escaped == "_":
                break
            literal, index = escaped, index + 2
        elif char in _REGEX_SPECIAL:
            break
        else:
            literal, index = char, index + 1
        if text[index : index + 1] in _QUANTIFIERS:
            break  # "ab?" may match "a": the quantified character is not sure
        out.append(literal)
    return "".join(out)


def _has_top_level_bar(text: str) -> bool:
    """Whether *text* has a ``|`` outside every group and character class."""
    depth = 0
    in_class = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # "[]a]" and "[^]a]": a leading "]" is a member, not the end.
            if text[index + 1 : index + 2] == "^":
                index += 1
            if text[index + 1 : index + 2] == "]":
                index += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        index += 1
    return False

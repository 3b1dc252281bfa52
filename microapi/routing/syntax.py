"""The two path syntaxes: Next.js segments to werkzeug rules, and werkzeug rules to parts.

A route path may use werkzeug's syntax (``/todos/<int:id>``, ``<path:rest>``)
and Next.js's (``/todos/[id]``, catch-all ``/docs/[...slug]``, optional
catch-all ``/docs/[[...slug]]``), mixed freely segment by segment.
:func:`compile_path` turns Next.js segments into werkzeug rules, once, at
registration; catch-all values reach handlers as lists of segments.

:func:`parse_rule` splits a werkzeug rule into the parts the route table
matches segment by segment, as werkzeug's own matcher does.  NOTE: werkzeug
keeps its parts in private attributes (``Rule._parts``, ``Rule._converters``)
that any release may change; the grammar and the parts' regexes and weights
are rebuilt here from the public surface (``Rule.get_converter``,
``parse_converter_args``, ``BaseConverter.regex``/``part_isolating``/``weight``),
and ``tests/routing/test_table.py`` checks the result against ``Map.match``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from werkzeug.routing import BaseConverter, Rule, parse_converter_args

__all__ = ["ParsedRule", "PathSpec", "RulePart", "compile_path", "parse_rule"]

_CATCH_ALL = re.compile(r"\[\.\.\.([^\[\]/]*)\]")
_OPTIONAL_CATCH_ALL = re.compile(r"\[\[\.\.\.([^\[\]/]*)\]\]")
_DYNAMIC = re.compile(r"\[([^\[\]/.]*)\]")
# werkzeug's rule grammar, piece by piece: a slash, static text, or
# ``<converter(arguments):name>`` (werkzeug.routing.rules parses the same).
_PIECE = re.compile(
    r"(?P<slash>/)|(?P<static>[^</]+)|"
    r"<(?:(?P<converter>[A-Za-z_][A-Za-z0-9_]*)(?:\((?P<arguments>.*?)\))?:)?"
    r"(?P<variable>[A-Za-z_][A-Za-z0-9_]*)>"
)
_MERGE_SLASHES = re.compile("/{2,}")


@dataclass(frozen=True)
class PathSpec:
    """A declared path compiled to werkzeug rule strings.

    :param rules: one rule, or two for an optional catch-all (without and
        with the segments).
    :param list_params: parameters whose value is a list of segments.
    :param optional_params: list parameters that may be absent (``[]``).
    """

    rules: tuple[str, ...]
    list_params: frozenset[str] = frozenset()
    optional_params: frozenset[str] = frozenset()


def _param_name(name: str, path: str) -> str:
    if not name.isidentifier():
        raise ValueError(f"route {path!r}: {name!r} is not a valid parameter name")
    return name


def compile_path(path: str) -> PathSpec:
    """Compile a declared route path (either syntax) to werkzeug rules.

    :raises ValueError: for a path that does not start with ``/``, brackets
        that are not a whole ``[name]``, ``[...name]`` or ``[[...name]]``
        segment, a catch-all that is not the last segment, or a parameter
        name used twice.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"route {path!r}: a path must be a string starting with '/'")
    segments = path.split("/")
    out: list[str] = []
    list_params: set[str] = set()
    optional: str | None = None
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if "[" not in segment and "]" not in segment:
            out.append(segment)
            continue
        if match := _OPTIONAL_CATCH_ALL.fullmatch(segment):
            optional = _param_name(match[1], path)
            converted = f"<catchall:{optional}>"
            list_params.add(optional)
        elif match := _CATCH_ALL.fullmatch(segment):
            converted = f"<catchall:{_param_name(match[1], path)}>"
            list_params.add(match[1])
        elif match := _DYNAMIC.fullmatch(segment):
            out.append(f"<{_param_name(match[1], path)}>")
            continue
        else:
            raise ValueError(
                f"route {path!r}: segment {segment!r} is not [name], [...name] or [[...name]]"
            )
        if not last:
            raise ValueError(f"route {path!r}: a catch-all must be the last segment")
        out.append(converted)
    rule = "/".join(out)
    names = [piece["variable"] for piece in _PIECE.finditer(rule) if piece["variable"]]
    for name in names:
        # NOTE: werkzeug would fail later with a bare SyntaxError from the
        # URL builder it generates ("duplicate argument").
        if names.count(name) > 1:
            raise ValueError(f"route {path!r}: parameter {name!r} is used twice")
    if optional is None:
        return PathSpec((rule,), frozenset(list_params))
    without = "/".join(out[:-1]) or "/"
    return PathSpec((without, rule), frozenset(list_params), frozenset({optional}))


@dataclass(frozen=True)
class RulePart:
    """One ``/``-separated part of a werkzeug rule, as the matcher tests it.

    A part whose converter matches slashes (``path``) takes the rest of the
    rule with it and is *final*.
    """

    #: The literal text of a static part, or the regex of a dynamic one
    #: (one group ``__werkzeug_N`` per converter, anchored with ``\Z``).
    content: str
    #: Whether the part matches the rest of the path, slashes included.
    final: bool
    #: Whether the part has no converter.
    static: bool
    #: Whether a final part ends in ``/`` (then it matches with or without
    #: it, and a static ``""`` part follows, for the redirect).
    suffixed: bool
    #: werkzeug's ordering of dynamic parts: lower is tried first.
    weight: tuple[Any, ...]


@dataclass(frozen=True)
class ParsedRule:
    """A werkzeug rule split into :class:`RulePart` objects."""

    #: The path's parts; the first is the empty one before the leading ``/``,
    #: as ``path.split("/")`` gives.
    parts: tuple[RulePart, ...]
    #: Converter objects by parameter name, in the rule's order.
    converters: dict[str, BaseConverter]


def _weight(static: list[tuple[int, int]], arguments: list[int]) -> tuple[Any, ...]:
    # werkzeug's Weighting: more static pieces first, then longer static
    # text, then fewer converters, then the converters' own weights.
    return (-len(static), tuple(static), -len(arguments), tuple(arguments))


def parse_rule(rule: Rule) -> ParsedRule:
    """Split a bound werkzeug *rule*'s path into parts and converters.

    :raises ValueError: for text that is not werkzeug rule syntax.
    :raises LookupError: for an unknown converter (from ``Rule.get_converter``).
    """
    path = rule.rule
    if rule.merge_slashes is not False:
        path = _MERGE_SLASHES.sub("/", path)
    converters: dict[str, BaseConverter] = {}
    parts: list[RulePart] = []
    content = ""
    static = True
    final = False
    number = 0
    static_weights: list[tuple[int, int]] = []
    argument_weights: list[int] = []
    position = 0
    while position < len(path):
        piece = _PIECE.match(path, position)
        if piece is None:
            raise ValueError(f"malformed url rule: {rule.rule!r}")
        position = piece.end()
        if piece["static"] is not None:
            static_weights.append((len(static_weights), -len(piece["static"])))
            content += piece["static"] if static else re.escape(piece["static"])
        elif piece["variable"] is not None:
            if static:
                content = re.escape(content)  # the part becomes a regex
            static = False
            args, kwargs = parse_converter_args(piece["arguments"] or "")
            converter = rule.get_converter(
                piece["variable"], piece["converter"] or "default", args, kwargs
            )
            converters[piece["variable"]] = converter
            final = final or not converter.part_isolating
            content += f"(?P<__werkzeug_{number}>{converter.regex})"
            number += 1
            argument_weights.append(converter.weight)
        elif final:
            content += "/"  # a slash inside a final part is part of its regex
        else:
            weight = _weight(static_weights, argument_weights)
            parts.append(
                RulePart(content if static else content + r"\Z", False, static, False, weight)
            )
            content, static, number = "", True, 0
            static_weights, argument_weights = [], []
    suffixed = final and content.endswith("/")
    if suffixed:
        content = content[:-1] + "(?<!/)(/?)"
    weight = _weight(static_weights, argument_weights)
    parts.append(RulePart(content if static else content + r"\Z", final, static, suffixed, weight))
    if suffixed:
        parts.append(RulePart("", False, True, False, weight))
    return ParsedRule(tuple(parts), converters)

"""The route matcher: the route trie compiled to Python source, as Falcon's router is.

This is the only matching engine.  :class:`~microapi.routing.table.RouteTable`
builds a trie of the rules' parts (:class:`Node`, :class:`Dynamic`) and this
module turns it into one function of nested ``if`` statements that follows
werkzeug's own algorithm (``StateMachineMatcher``): static segments first,
then converters by weight, then parts that match slashes, with
backtracking.  Segment tests are specialised where werkzeug's regex says
what they are (``seg.isdigit() and seg.isascii()`` for ``int``, ``seg`` for
the default converter); other parts keep their regex.  The matched values
are converted in line.

``find(path, method, allowed=None)`` returns ``(entry, params)`` or ``None``;
when *allowed* is a set it also collects the methods of the rules the path
ends at (the 405's ``Allow``), raises :exc:`SlashRequired` where werkzeug
redirects to the path with a trailing slash, and :exc:`Rejected` where a
converter rejects a value (werkzeug then stops looking).  The table turns
those into answers.  ``tests/routing/test_table.py`` checks the table
against ``Map.match`` on generated route sets.

PERF: measured against a generic walk of the same trie (a Python call per
node, a regex per segment; the engine this replaced), both in the same
in-process benchmark run, in two runs: ``param`` 4.72 / 4.52 µs per request
instead of 5.64 / 5.27 µs, ``routes100`` 3.66 / 3.52 instead of 5.21 / 4.12;
``/users/42`` is matched and converted in ~0.35 µs instead of ~1.0 µs.  A miss
is answered by this code too, in about two thirds of the time the walk took.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from werkzeug.routing import ValidationError

from .converters import converter_key

if TYPE_CHECKING:
    from .table import Entry

__all__ = [
    "Dynamic",
    "Finder",
    "Node",
    "Rejected",
    "SlashRequired",
    "compile_matcher",
    "compile_params",
    "entry_key",
]


class Finder(Protocol):
    """``find(path, method, allowed=None) -> (entry, params) | None``."""

    def __call__(
        self, path: str, method: str, allowed: set[str] | None = None, /
    ) -> tuple[Entry, dict[str, Any]] | None:
        """Match *path* and *method*; see :mod:`microapi.routing.compiled`."""


#: ``params(values) -> params | None``.
Params = Callable[[list[str]], "dict[str, Any] | None"]


class SlashRequired(Exception):
    """The path matches a rule only with a trailing slash (werkzeug's 308)."""


class Rejected(Exception):
    """A converter rejected a value of the rule the path matches."""

    def __init__(self, entry: Entry) -> None:
        super().__init__(entry.rule.rule)
        #: The entry whose converter rejected the value.
        self.entry = entry


@dataclass(eq=False)
class Node:
    """A trie node: the rules' parts so far, and the rules that end here."""

    #: Children by the text of a static part.
    static: dict[str, Node] = field(default_factory=dict)
    #: Children by dynamic part, in werkzeug's order once sorted.
    dynamic: list[Dynamic] = field(default_factory=list)
    #: The entries of the rules ending here, by method.
    by_method: dict[str, Entry] = field(default_factory=dict)
    #: The methods of the rules ending here.
    allowed: set[str] = field(default_factory=set)


@dataclass(eq=False)
class Dynamic:
    """A trie edge for a part with converters."""

    #: What makes two rules' parts the same edge.
    key: tuple[Any, ...]
    #: werkzeug's order: lower is tried first.
    weight: Any
    #: The part's compiled regex, anchored at the end.
    regex: re.Pattern[str]
    #: Whether it matches the rest of the path, slashes included.
    final: bool
    #: Whether a final part matches with or without a trailing slash.
    suffixed: bool
    #: Its converters' group names, in the rule's order.
    groups: tuple[str, ...]
    #: Where the edge leads.
    node: Node


# Static children beyond this many are dispatched by a dict of functions
# (one comparison each would be slower); deeper nesting than this many
# segments starts a new function (Python limits indentation).
_MAX_CHAIN = 4
_MAX_DEPTH = 12

# A whole-segment converter regex, as the part's regex is built: the test
# that replaces it.  Split segments hold no "/", and "[0-9]" is ASCII digits.
_DEFAULT = re.compile(r"\(\?P<(__werkzeug_\d+)>\[\^/\]\{1,\}\)\\Z")
_DIGITS = re.compile(r"\(\?P<(__werkzeug_\d+)>\[0-9\]\+\)\\Z")


def entry_key(entry: Entry) -> Any:
    """What decides *entry*'s conversion: entries alike share the code."""
    converters = entry.converters
    return (
        tuple((name, converter_key(conv)) for name, conv in converters.items()),
        entry.route.spec.list_params,
    )


class _Writer:
    """Source lines and the constants they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {
            "_SlashRequired": SlashRequired,
            "_Rejected": Rejected,
            "ValidationError": ValidationError,
        }
        self.functions = 0

    def const(self, value: Any) -> str:
        name = f"_k{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def convert(self, indent: int, entry: Entry, values: list[str], reject: str) -> str:
        """Emit the conversion of *values* for *entry*; return the params."""
        converters = entry.converters
        list_params = entry.route.spec.list_params
        items = []
        for (name, converter), value in zip(converters.items(), values, strict=True):
            kind = converter_key(converter)
            converted = value if kind == "default" else f"p{value}"
            if kind != "default":
                call = "int" if kind == "int" else self.const(converter.to_python)
                # NOTE: werkzeug's int converter makes int()'s ValueError
                # (over 4300 digits) a rejection too.
                error = "ValueError" if kind == "int" else "ValidationError"
                self.emit(indent, "try:")
                self.emit(indent + 1, f"{converted} = {call}({value})")
                self.emit(indent, f"except {error}:")
                self.emit(indent + 1, reject)
            if name in list_params:
                converted = f"{converted}.split('/')"
            items.append(f"{name!r}: {converted}")
        items += [f"{name!r}: []" for name in sorted(list_params - converters.keys())]
        return f"{{{', '.join(items)}}}"


def _simple_test(content: str, seg: str) -> str | None:
    # The test replacing a dynamic part's regex, or None.
    if _DEFAULT.fullmatch(content):
        return seg
    if _DIGITS.fullmatch(content):
        return f"{seg}.isdigit() and {seg}.isascii()"
    return None


def _args(values: list[str]) -> str:
    return "".join(", " + value for value in values)


def _end(out: _Writer, node: Node, values: list[str], indent: int) -> None:
    """Emit what the path ending at *node* answers: its entry, or what a miss needs."""
    if node.by_method:
        out.emit(indent, f"e = {out.const(node.by_method)}.get(method)")
        out.emit(indent, "if e is not None:")
        entries = list(node.by_method.values())
        if len({entry_key(entry) for entry in entries}) == 1:
            params = out.convert(indent + 1, entries[0], values, "raise _Rejected(e)")
            out.emit(indent + 1, f"return e, {params}")
        else:
            out.emit(indent + 1, f"p = e.params([{', '.join(values)}])")
            out.emit(indent + 1, "if p is None:")
            out.emit(indent + 2, "raise _Rejected(e)")
            out.emit(indent + 1, "return e, p")
        out.emit(indent, "if allowed is not None:")
        out.emit(indent + 1, f"allowed |= {out.const(frozenset(node.allowed))}")
    slash = node.static.get("")
    if slash is not None and slash.by_method:
        out.emit(indent, f"if method in {out.const(slash.by_method)}:")
        out.emit(indent + 1, "raise _SlashRequired")
    out.emit(indent, "pass")


def _groups(out: _Writer, dynamic: Dynamic, values: list[str], indent: int) -> list[str]:
    """Emit the assignment of match ``m``'s groups; return the values so far."""
    names = [f"v{len(values) + offset}" for offset in range(len(dynamic.groups))]
    groups = ", ".join(repr(group) for group in dynamic.groups)
    out.emit(indent, f"{', '.join(names)}{',' if len(names) > 1 else ''} = m.group({groups})")
    return [*values, *names]


def _final(out: _Writer, dynamic: Dynamic, index: int, values: list[str], indent: int) -> None:
    """Emit a part matching the rest of the path, slashes included (``path``)."""
    out.emit(indent, f"m = {out.const(dynamic.regex.match)}('/'.join(parts[{index}:]))")
    out.emit(indent, "if m is not None:")
    matched = _groups(out, dynamic, values, indent + 1)
    if dynamic.suffixed:
        # The part's regex ends in "(/?)"; with the slash, the path ends at
        # the rule's last, empty part.
        out.emit(indent + 1, "if m.groups()[-1] == '/':")
        _end(out, dynamic.node.static[""], matched, indent + 2)
        out.emit(indent + 1, "else:")
        _end(out, dynamic.node, matched, indent + 2)
    else:
        _end(out, dynamic.node, matched, indent + 1)


def _node(out: _Writer, node: Node, index: int, values: list[str], indent: int, depth: int) -> None:
    """Emit code that returns the first match under *node*, or falls through."""
    if depth >= _MAX_DEPTH:
        call = _function(out, node, index, values)
        out.emit(indent, f"r = {call}(parts, n, method, allowed{_args(values)})")
        out.emit(indent, "if r is not None:")
        out.emit(indent + 1, "return r")
        return
    out.emit(indent, f"if n == {index}:")
    _end(out, node, values, indent + 1)
    if not node.static and not node.dynamic:
        return
    out.emit(indent, "else:")
    body = indent + 1
    seg = f"s{index}"
    out.emit(body, f"{seg} = parts[{index}]")
    if len(node.static) > _MAX_CHAIN:
        table = {
            part: out.namespace[_function(out, child, index + 1, values)]
            for part, child in node.static.items()
        }
        out.emit(body, f"f = {out.const(table)}.get({seg})")
        out.emit(body, "if f is not None:")
        out.emit(body + 1, f"r = f(parts, n, method, allowed{_args(values)})")
        out.emit(body + 1, "if r is not None:")
        out.emit(body + 2, "return r")
    else:
        keyword = "if"
        for part, child in node.static.items():
            out.emit(body, f"{keyword} {seg} == {part!r}:")
            _node(out, child, index + 1, values, body + 1, depth + 1)
            keyword = "elif"
    for dynamic in node.dynamic:
        if dynamic.final:
            _final(out, dynamic, index, values, body)
            continue
        test = _simple_test(dynamic.key[0], seg) if len(dynamic.groups) == 1 else None
        if test is not None:
            out.emit(body, f"if {test}:")
            matched = [*values, seg]  # the whole segment is the value
        else:
            out.emit(body, f"m = {out.const(dynamic.regex.match)}({seg})")
            out.emit(body, "if m is not None:")
            matched = _groups(out, dynamic, values, body + 1)
        _node(out, dynamic.node, index + 1, matched, body + 1, depth + 1)


def _function(out: _Writer, node: Node, index: int, values: list[str]) -> str:
    """Emit a function for *node*'s subtree; return its name."""
    out.functions += 1
    name = f"_f{out.functions}"
    saved, out.lines = out.lines, []
    # Values already matched are passed on, under the names they have.
    out.emit(0, f"def {name}(parts, n, method, allowed{_args(values)}):")
    _node(out, node, index, values, 1, 0)
    out.emit(1, "return None")
    source = "\n".join(out.lines)
    out.lines = saved
    exec(compile(source, f"<microapi routes {name}>", "exec"), out.namespace)
    return name


def compile_matcher(root: Node) -> Finder:
    """Compile the trie under *root* to ``find(path, method, allowed)``.

    See the module's docstring for what the function returns and raises.
    """
    out = _Writer()
    out.emit(0, "def find(path, method, allowed=None):")
    out.emit(1, "parts = path.split('/')")
    out.emit(1, "n = len(parts)")
    _node(out, root, 0, [], 1, 0)
    out.emit(1, "return None")
    exec(compile("\n".join(out.lines), "<microapi routes>", "exec"), out.namespace)
    finder: Finder = out.namespace["find"]
    return finder


def compile_params(entry: Entry) -> Params:
    """Compile the conversion of *entry*'s matched strings to its parameters.

    The function returns the parameters, or ``None`` when a converter
    rejects a value (werkzeug's :class:`ValidationError`).  werkzeug's
    default converter returns its input and its ``int`` converter without
    arguments is ``int()``: both are inlined.  Catch-alls become lists of
    segments; an absent optional catch-all is ``[]``.
    """
    out = _Writer()
    values = [f"v{index}" for index in range(len(entry.converters))]
    out.emit(0, "def params(values):")
    if values:
        out.emit(1, f"{', '.join(values)}, = values")
    params = out.convert(1, entry, values, "return None")
    out.emit(1, f"return {params}")
    where = f"<microapi params of {entry.rule.rule!a}>"
    exec(compile("\n".join(out.lines), where, "exec"), out.namespace)
    function: Params = out.namespace["params"]
    return function

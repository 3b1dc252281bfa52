"""The converters every route table has, and what decides a converter's code.

werkzeug's ``int``, ``float`` and ``path`` converters, each narrowed to what
a URL can hold unambiguously, and ``catchall`` for Next.js's ``[...slug]``.
:data:`CONVERTERS` is what :class:`~microapi.routing.table.RouteTable` gives
its werkzeug ``Map``; an app may add its own there.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from werkzeug.routing import BaseConverter, FloatConverter, IntegerConverter, PathConverter

__all__ = [
    "CONVERTERS",
    "AsciiFloatConverter",
    "AsciiIntegerConverter",
    "CatchAllConverter",
    "DotAllPathConverter",
    "converter_key",
]


class AsciiIntegerConverter(IntegerConverter):
    """werkzeug's ``int`` converter, for ASCII digits only."""

    regex = r"[0-9]+"


class AsciiFloatConverter(FloatConverter):
    """werkzeug's ``float`` converter, for ASCII digits only.

    URLs are built in plain decimal notation, the only one it matches
    (werkzeug writes ``str(value)``: ``1e+20``, which then 404s).
    """

    regex = r"[0-9]+\.[0-9]+"

    def to_url(self, value: Any) -> str:
        """Write *value* as the converter matches it: ``1e20`` → ``100000000000000000000.0``.

        :raises ValueError: for a value it could never match: infinite,
            NaN, or negative (unless ``signed=True``).
        """
        number = float(value)
        if not math.isfinite(number) or (number < 0 and not self.signed):
            kind = "negative" if math.isfinite(number) else "not finite"
            raise ValueError(f"float parameter {value!r} is {kind}: no URL matches it")
        text = format(Decimal(repr(abs(number))), "f")
        if "." not in text:
            text += ".0"
        if self.fixed_digits:
            text = text.zfill(self.fixed_digits)
        return f"-{text}" if number < 0 else text


class DotAllPathConverter(PathConverter):
    """werkzeug's ``path`` converter, newlines included.

    NOTE: werkzeug's regex ``[^/].*?`` is compiled without ``DOTALL``, so
    ``/f/a%0Ab`` would never match ``/f/<path:p>``.
    """

    regex = "[^/](?s:.*?)"


class CatchAllConverter(PathConverter):
    """Next.js catch-alls (``[...slug]``): one or more non-empty segments.

    Unlike werkzeug's ``path``, it refuses a trailing slash and empty
    segments, so ``/docs/a/`` gets the trailing-slash 308 to ``/docs/a`` and
    ``/docs/a//b`` the merge-slashes 308 to ``/docs/a/b``, as in Next.js.
    """

    regex = r"[^/]+(?:/[^/]+)*"


#: Converter names every route table starts with; werkzeug's others
#: (``default``, ``string``, ``any``, ``uuid``) come with its ``Map``.
CONVERTERS: dict[str, type[BaseConverter]] = {
    "int": AsciiIntegerConverter,
    "float": AsciiFloatConverter,
    "path": DotAllPathConverter,
    "catchall": CatchAllConverter,
}


def converter_key(converter: BaseConverter) -> Any:
    """What decides the code converting a value: rules alike share it."""
    if type(converter).to_python is BaseConverter.to_python:
        return "default"  # werkzeug's default returns its input
    if (
        type(converter) is AsciiIntegerConverter
        and not converter.fixed_digits
        and converter.min is None
        and converter.max is None
    ):
        return "int"  # exactly int(), its ValueError a rejection
    return id(converter)

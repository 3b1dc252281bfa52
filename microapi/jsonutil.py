"""JSON encoding and strict decoding for request and response bodies.

Encoding handles the types API handlers return every day (``datetime``,
``date``, ``time``, ``UUID``, ``Decimal``, dataclasses, ``Enum`` members)
and refuses anything else with a :class:`TypeError` naming the type.
Decoding is strict: only UTF-8, no ``NaN``/``Infinity``, no numbers that
overflow, at most :data:`MAX_DEPTH` nested containers.

When the optional ``orjson`` package is installed (``pip install
microapi-wsgi[orjson]``), :func:`dumps` and, for bodies of 128 bytes or more,
:func:`loads` use it first, for speed only: what orjson refuses, or could
treat differently, goes through the standard library, whose result or error
is the answer.  So both give the same values, bytes and errors, except
that a float below ``1e-4`` in magnitude may be spelled differently (``1e-7``
for ``1e-07``, ``0.00001`` for ``1e-05``; the same value), and in two
contrived cases: a ``str``, ``int`` or ``float`` Enum whose members' values
differ from the str, int or float they are (orjson writes the value), and
an ``orjson.Fragment`` (orjson copies it in; the standard library refuses it).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable
from decimal import Decimal
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring,
    encode_basestring_ascii,
)
from types import ModuleType
from typing import Any, cast

__all__ = ["MAX_DEPTH", "JSONDecodeError", "dumps", "loads"]

#: Deepest nesting of arrays and objects that :func:`loads` accepts.
MAX_DEPTH = 512


def _import_orjson() -> ModuleType | None:
    try:
        import orjson
    except ImportError:
        return None
    return orjson


#: The ``orjson`` module when it is installed, else ``None``.  :func:`dumps`
#: and :func:`loads` read it on every call, so setting it to ``None`` (as the
#: tests do) selects the standard library path alone.
orjson = _import_orjson()


class JSONDecodeError(ValueError):
    """Raised by :func:`loads` for input that is not strict JSON.

    The message says what is wrong and is safe to show to the client.
    """


# -- encoding -------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        # NOTE: Decimal becomes a string so that no precision is lost.
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, enum.Enum):
        # NOTE: an Enum member becomes its value.  orjson writes every Enum so
        # and cannot be told otherwise; the C encoder writes str, int and float
        # Enums (which never reach here) as the str, int or float they are.
        return value.value
    raise TypeError(
        f"Object of type {type(value).__name__} is not JSON serializable; "
        "convert it to a dict, list, str, number, bool or None first"
    )


# PERF: the C encoder itself, made once.  JSONEncoder.encode adds ~0.6 µs of
# Python around it per call.  No circular-reference markers: they would be
# shared between threads; a circular value fails with RecursionError instead.
_encode = c_make_encoder(None, _default, encode_basestring, None, ":", ",", False, False, False)
_encode_ascii = c_make_encoder(
    None, _default, encode_basestring_ascii, None, ":", ",", False, False, False
)


def _dumps_stdlib(value: Any) -> bytes:
    try:
        return "".join(_encode(value, 0)).encode()
    except UnicodeEncodeError:
        # NOTE: lone surrogates (e.g. echoed from a client's "\ud800") cannot be
        # UTF-8; \u escapes keep the output valid JSON.
        return "".join(_encode_ascii(value, 0)).encode()


# NOTE: datetime, date, time and dataclass values go to _default, as in the C
# encoder.  Subclasses of str, int, dict and list go there too, to fail and so
# fall back to the C encoder (orjson refuses float and tuple subclasses on its
# own): orjson would write a dict subclass from its storage, where the C
# encoder asks its items() (werkzeug's MultiDict, a reordered OrderedDict)
# and iterates a list subclass.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    if orjson is not None
    else 0
)


# Types whose JSON holds no number that orjson could have written as null.
_LEAVES = frozenset(
    [
        str,
        int,
        bool,
        type(None),
        datetime.datetime,
        datetime.date,
        datetime.time,
        uuid.UUID,
        Decimal,
    ]
)
_find_null = re.compile(b"null").search


def _has_nonfinite(values: Iterable[Any]) -> bool:
    # Whether orjson wrote a NaN or infinity among *values* (as null): the
    # values orjson accepted, walked the way it walks them.
    for value in values:
        kind = type(value)
        if kind in _LEAVES:
            continue
        if kind is float:
            if value - value:  # NaN for NaN and ±inf, 0.0 for finite floats
                return True
        elif kind is dict:
            if _has_nonfinite(value.values()):
                return True
        elif kind is list or kind is tuple:
            if _has_nonfinite(value):
                return True
        elif isinstance(value, enum.Enum):
            if _has_nonfinite((value.value,)):
                return True
        elif dataclasses.is_dataclass(value):
            fields = dataclasses.fields(value)
            if _has_nonfinite([getattr(value, field.name) for field in fields]):
                return True
    return False


def dumps(value: Any) -> bytes:
    """Serialize *value* to compact UTF-8 JSON bytes.

    With orjson installed, it writes the bytes, and the standard library
    path takes over for what orjson refuses (integers beyond 64 bits,
    non-string keys, lone surrogates, subclasses of ``str``, ``int``,
    ``float``, ``dict``, ``list`` and ``tuple``, nesting beyond 254 levels).

    :raises TypeError: for a value of a type JSON cannot represent.
    :raises ValueError: for ``NaN`` or infinite floats (not valid JSON).
    """
    if orjson is not None:
        try:
            raw: bytes = orjson.dumps(value, default=_default, option=_ORJSON_OPTIONS)
        except orjson.JSONEncodeError:
            return _dumps_stdlib(value)  # its own result, or its own error
        # NOTE: orjson writes NaN and infinities as null; they must raise.  No
        # null at all is the usual case (PERF: the regex looks in 100 KB in
        # 22 µs, `in` in 45 µs); with one, the walk tells None from NaN (on
        # 100 KB: 340 µs, where the C encoder takes 730 µs).
        if _find_null(raw) is None:
            return raw
        try:
            if not _has_nonfinite((value,)):
                return raw
        except RecursionError:
            pass  # the C encoder decides, as it did before orjson
    return _dumps_stdlib(value)


# -- decoding -------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise JSONDecodeError(f"{name} is not valid JSON")


def _parse_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise JSONDecodeError(f"number {text[:20]} is too large")
    return number


def _too_deep(value: dict[Any, Any] | list[Any]) -> bool:
    # Level by level and iterative, so that checking a deep document cannot
    # itself overflow; a comprehension per level is 3-5 times faster than a
    # stack of (node, depth) pairs.  Decoded values hold exact dicts and lists.
    level: list[Any] = [value]
    for _ in range(MAX_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list
        ]
        if not level:
            return False
    return True


# PERF: MAX_DEPTH + 1 levels take that many brackets of each kind, and as
# many openers (counted in strings too); below that, skip the walk.
_DEEP_SIZE = 2 * MAX_DEPTH + 2


# PERF: the C scanner of one decoder for the process, called directly:
# JSONDecoder.decode adds raw_decode and two whitespace matches around it
# (0.7 µs of the 1.0 µs that loads took for {"title": "Write the benchmarks"}).
# Shared like json's own default decoder: decoding keeps no state between calls.
_scan = json.JSONDecoder(  # type: ignore[attr-defined]
    parse_constant=_reject_constant, parse_float=_parse_float
).scan_once
# json.decoder.WHITESPACE; it always matches, if only the empty string.
_skip_space = cast("Callable[[str, int], re.Match[str]]", re.compile(r"[ \t\n\r]*").match)


def _decode(text: str) -> Any:
    # JSONDecoder.decode, with the same errors, trying the usual case first.
    try:
        value, end = _scan(text, 0)
    except StopIteration as exc:
        if exc.value:  # a nested value is missing: "[1,]"
            raise json.JSONDecodeError("Expecting value", text, exc.value) from None
        # Nothing at 0: a BOM, leading whitespace, or no value at all.
        if text.startswith("\ufeff"):  # json.loads checks this; the decoder does not
            raise JSONDecodeError("Unexpected UTF-8 BOM at line 1 column 1") from None
        try:
            value, end = _scan(text, _skip_space(text, 0).end())
        except StopIteration as again:
            raise json.JSONDecodeError("Expecting value", text, again.value) from None
    if end != len(text):
        end = _skip_space(text, end).end()
        if end != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    return value


def _loads_stdlib(data: bytes) -> Any:
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise JSONDecodeError(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        value = _decode(text)
    except json.JSONDecodeError as exc:
        # NOTE: json's "Invalid control character at" ends with its own "at".
        message = exc.msg.removesuffix(" at")
        raise JSONDecodeError(f"{message} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JSONDecodeError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except JSONDecodeError:
        raise
    except ValueError as exc:  # int() beyond sys.get_int_max_str_digits()
        raise JSONDecodeError(str(exc).split(";")[0]) from None
    if (
        len(text) >= _DEEP_SIZE
        and (type(value) is dict or type(value) is list)
        and text.count("[") + text.count("{") > MAX_DEPTH
        and _too_deep(value)
    ):
        raise JSONDecodeError(f"nesting deeper than {MAX_DEPTH} levels")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and not _is_unicode(value):
        # NOTE: JSON lets "\ud800" stand alone (RFC 8259 8.2: behaviour
        # unpredictable), but it is no character: UTF-8 cannot encode it, so a
        # database driver, a log file or a JSON encoder would fail on it later,
        # a 500 far from the cause.  A valid pair is one character, and fine.
        raise JSONDecodeError("a \\u escape is a lone surrogate, not a character")
    return value


# A \u escape of a surrogate code point (U+D800 to U+DFFF).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _is_unicode(value: Any) -> bool:
    """Tell whether every string of a decoded *value*, keys too, is encodable text."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


# PERF: below this many bytes the standard library's scanner is as fast:
# orjson parses quicker, but the checks after it cost more than they save.
_ORJSON_LOADS_MIN = 128

# Digits to "0", every other byte to " ": a run of 19 zeros is a number of
# 19 digits or more (or digits in a string).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"0" * 19


def loads(data: bytes) -> Any:
    """Parse strict JSON from UTF-8 *data*.

    With orjson installed, a body of 128 bytes or more is parsed by it
    first.  Anything it refuses, and any number of 19 digits or more
    (orjson reads integers beyond 64 bits as floats), is parsed again by
    the standard library, whose value or error is the answer.

    :raises JSONDecodeError: for malformed JSON, a body that is not UTF-8,
        ``NaN``/``Infinity``, numbers that overflow, integers longer than
        Python's digit limit, or nesting deeper than :data:`MAX_DEPTH`.
    """
    if orjson is None or len(data) < _ORJSON_LOADS_MIN:
        return _loads_stdlib(data)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        # NOTE: also what the standard library accepts and orjson does not:
        # lone surrogate escapes ("\ud800"), nesting beyond 1024 (a 400 still).
        return _loads_stdlib(data)
    # PERF: translate + find: 0.7 µs per KB; walking the value for large
    # floats instead costs 3 µs per KB.
    if _LONG_NUMBER in data.translate(_DIGITS_ONLY):
        return _loads_stdlib(data)
    if (
        len(data) >= _DEEP_SIZE
        and (type(value) is dict or type(value) is list)
        and data.count(b"[") + data.count(b"{") > MAX_DEPTH
        and _too_deep(value)
    ):
        raise JSONDecodeError(f"nesting deeper than {MAX_DEPTH} levels")
    return value

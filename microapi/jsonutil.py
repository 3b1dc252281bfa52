"""JSON encoding and strict decoding for request and response bodies.

Encoding handles the types API handlers return every day (``datetime``,
``date``, ``time``, ``UUID``, ``Decimal``, dataclasses) and refuses anything
else with a :class:`TypeError` naming the type.  Decoding is strict: only
UTF-8, no ``NaN``/``Infinity``, no numbers that overflow, at most
:data:`MAX_DEPTH` nested containers.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import uuid
from decimal import Decimal
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring,
    encode_basestring_ascii,
)
from typing import Any

__all__ = ["MAX_DEPTH", "JSONDecodeError", "dumps", "loads"]

#: Deepest nesting of arrays and objects that :func:`loads` accepts.
MAX_DEPTH = 512


class JSONDecodeError(ValueError):
    """Raised by :func:`loads` for input that is not strict JSON.

    The message says what is wrong and is safe to show to the client.
    """


def _default(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        # NOTE: Decimal becomes a string so that no precision is lost.
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
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


def dumps(value: Any) -> bytes:
    """Serialize *value* to compact UTF-8 JSON bytes.

    :raises TypeError: for a value of a type JSON cannot represent.
    :raises ValueError: for ``NaN`` or infinite floats (not valid JSON).
    """
    try:
        return "".join(_encode(value, 0)).encode()
    except UnicodeEncodeError:
        # NOTE: lone surrogates (e.g. echoed from a client's "\ud800") cannot be
        # UTF-8; \u escapes keep the output valid JSON.
        return "".join(_encode_ascii(value, 0)).encode()


def _reject_constant(name: str) -> Any:
    raise JSONDecodeError(f"{name} is not valid JSON")


def _parse_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise JSONDecodeError(f"number {text[:20]} is too large")
    return number


def _depth_exceeds(value: Any, limit: int) -> bool:
    # Iterative, so that checking a deep document cannot itself overflow.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend(
                (child, depth + 1) for child in node.values() if isinstance(child, (dict, list))
            )
        else:
            stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return False


# PERF: one decoder for the process; json.loads with hooks builds a new
# JSONDecoder (and its scanner) on every call.  Shared like json's own
# default decoder: decoding keeps no state between calls.
_decode = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_parse_float).decode


def loads(data: bytes) -> Any:
    """Parse strict JSON from UTF-8 *data*.

    :raises JSONDecodeError: for malformed JSON, a body that is not UTF-8,
        ``NaN``/``Infinity``, numbers that overflow, integers longer than
        Python's digit limit, or nesting deeper than :data:`MAX_DEPTH`.
    """
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise JSONDecodeError(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        if text.startswith("\ufeff"):  # json.loads checks this; the decoder does not
            raise JSONDecodeError("Unexpected UTF-8 BOM at line 1 column 1")
        value = _decode(text)
    except json.JSONDecodeError as exc:
        raise JSONDecodeError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JSONDecodeError(f"nesting deeper than {MAX_DEPTH} levels") from None
    except JSONDecodeError:
        raise
    except ValueError as exc:  # int() beyond sys.get_int_max_str_digits()
        raise JSONDecodeError(str(exc).split(";")[0]) from None
    # PERF: a document with few brackets cannot be deep; skip the walk.
    if isinstance(value, (dict, list)) and (
        text.count("[") + text.count("{") > MAX_DEPTH and _depth_exceeds(value, MAX_DEPTH)
    ):
        raise JSONDecodeError(f"nesting deeper than {MAX_DEPTH} levels")
    return value

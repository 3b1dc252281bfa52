"""JSON: the encoder's extra types and the strict decoder.

Every test runs twice, once with orjson (when installed) and once with the
standard library path alone; tests named ``test_orjson_*`` compare the two
paths directly and run once.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import itertools
import json
import logging
import math
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields
from werkzeug.datastructures import MultiDict

from microapi import Api, jsonutil
from microapi.jsonutil import MAX_DEPTH, JSONDecodeError, dumps, loads
from microapi.testing import TestClient
from tests.helpers import assert_problem

ORJSON = jsonutil.orjson


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    modes = ["orjson"] if metafunc.function.__name__.startswith("test_orjson_") else None
    metafunc.parametrize("encoder", modes or ["orjson", "stdlib"], indirect=True, scope="module")


@pytest.fixture(scope="module", autouse=True)
def encoder(request: pytest.FixtureRequest) -> Iterator[str]:
    """Select the orjson path (for every body size) or the stdlib path alone."""
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "stdlib":
            patch.setattr(jsonutil, "orjson", None)
        elif ORJSON is None:
            pytest.skip("orjson is not installed")
        else:
            patch.setattr(jsonutil, "_ORJSON_LOADS_MIN", 0)
        yield request.param


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*')


def _float_spelling(match: re.Match[bytes]) -> bytes:
    token = match.group()
    if token.startswith(b'"') or not any(c in token for c in b".eE"):
        return token
    return repr(float(token)).encode()


def same_json(raw: bytes, expected: bytes) -> bool:
    """Whether *raw* is *expected* but for how floats are spelled."""
    if raw == expected:
        return True
    return _TOKEN.sub(_float_spelling, raw) == _TOKEN.sub(_float_spelling, expected)


def test_same_json_tells_float_spelling_from_other_differences() -> None:
    assert same_json(b'[1e-7,"1e-07",0.00001]', b'[1e-07,"1e-07",1e-05]')
    assert not same_json(b'["1e-7"]', b'["1e-07"]')
    assert not same_json(b"[1e-7]", b"[2e-07]")
    assert not same_json(b"[1]", b"[1.0]")
    assert not same_json(b'{"a":1,"b":2}', b'{"b":2,"a":1}')


# -- encoding -------------------------------------------------------------------------


def test_dumps_is_compact_utf8_bytes() -> None:
    assert dumps({"a": [1, 2.5, None, True, False], "b": {}}) == (
        b'{"a":[1,2.5,null,true,false],"b":{}}'
    )


def test_datetimes_are_iso_8601() -> None:
    utc = datetime.timezone.utc
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    value = [
        datetime.datetime(2026, 11, 25, 13, 5, 9),
        datetime.datetime(2026, 11, 25, 13, 5, 9, 123456, tzinfo=utc),
        datetime.date(2026, 1, 2),
        datetime.time(23, 59, 1, 5),
        datetime.time(8, 0, tzinfo=plus_two),
    ]
    assert json.loads(dumps(value)) == [
        "2026-11-25T13:05:09",
        "2026-11-25T13:05:09.123456+00:00",
        "2026-01-02",
        "23:59:01.000005",
        "08:00:00+02:00",
    ]


def test_uuid_is_a_string() -> None:
    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert dumps({"id": value}) == b'{"id":"12345678-1234-5678-1234-567812345678"}'


@pytest.mark.parametrize(
    "text",
    [
        "0.1",
        "1.10",
        "3.14159265358979323846264338327950288419716939937510",
        "-0",
        "1E+3",
        "123456789012345678901234567890.000000000000000000001",
        "NaN",
        "-Infinity",
    ],
)
def test_decimal_keeps_its_precision_as_a_string(text: str) -> None:
    assert dumps(Decimal(text)) == json.dumps(text).encode()
    assert Decimal(json.loads(dumps([Decimal(text)]))[0]).compare_total(Decimal(text)) == 0


@dataclasses.dataclass
class Point:
    x: int
    y: float


@dataclasses.dataclass(frozen=True)
class Shape:
    name: str
    points: list[Point]
    corners: tuple[Point, ...]
    created: datetime.date
    id: uuid.UUID
    price: Decimal
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


def test_nested_dataclasses_become_dicts() -> None:
    shape = Shape(
        name="tri",
        points=[Point(0, 0.5), Point(1, 2.0)],
        corners=(Point(3, 4.0),),
        created=datetime.date(2026, 11, 25),
        id=uuid.UUID(int=1),
        price=Decimal("9.990"),
        meta={"when": datetime.datetime(2026, 1, 1, 0, 0), "p": Point(5, 6.0)},
    )
    assert json.loads(dumps({"shape": shape})) == {
        "shape": {
            "name": "tri",
            "points": [{"x": 0, "y": 0.5}, {"x": 1, "y": 2.0}],
            "corners": [{"x": 3, "y": 4.0}],
            "created": "2026-11-25",
            "id": "00000000-0000-0000-0000-000000000001",
            "price": "9.990",
            "meta": {"when": "2026-01-01T00:00:00", "p": {"x": 5, "y": 6.0}},
        }
    }


def test_tuples_become_lists() -> None:
    assert dumps((1, ("a", (None,)), [()])) == b'[1,["a",[null]],[[]]]'


class Widget:
    pass


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (Widget(), "Widget"),
        ({1, 2}, "set"),
        (b"bytes", "bytes"),
        (object(), "object"),
        ([{"deep": [frozenset()]}], "frozenset"),
        (Point, "type"),  # a dataclass class is not an instance
        (1 + 2j, "complex"),
        (datetime.timedelta(seconds=1), "timedelta"),
    ],
)
def test_unknown_types_raise_type_error_naming_the_type(value: Any, type_name: str) -> None:
    with pytest.raises(TypeError, match=rf"\b{type_name}\b"):
        dumps(value)


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, [1.0, math.nan], {"a": {"b": math.inf}}, Point(1, math.nan)],
)
def test_nan_and_infinity_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="JSON"):
        dumps(value)


def test_non_ascii_output_is_utf8() -> None:
    text = "café ☃ 日本 \U0001f600 \x7f"
    assert dumps({text: text}) == f'{{"{text}":"{text}"}}'.encode()


def test_control_characters_are_escaped() -> None:
    assert dumps('\x00\n\t\x1f"\\') == b'"\\u0000\\n\\t\\u001f\\"\\\\"'


@pytest.mark.parametrize(
    "value",
    [
        "\ud800",
        "x\udfffy",
        {"\udc00": "café \ud83d"},
        ["ok", "日本", "\ud800\ud800"],
    ],
)
def test_lone_surrogates_become_escapes_and_stay_valid_json(value: Any) -> None:
    raw = dumps(value)
    text = raw.decode("utf-8")  # strict: valid UTF-8
    assert json.loads(text) == value


def test_circular_values_do_not_hang() -> None:
    value: list[Any] = []
    value.append(value)
    with pytest.raises((ValueError, RecursionError)):
        dumps(value)


# -- decoding -------------------------------------------------------------------------


def test_loads_parses_utf8_bytes() -> None:
    assert loads('{"é": ["☃", 1, 2.5, -0.0, null, true]}'.encode()) == {
        "é": ["☃", 1, 2.5, -0.0, None, True]
    }


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(JSONDecodeError, ValueError)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{", "line 1 column 2"),
        (b'{"a": 1,}', "line 1"),
        (b"[1,\n 2,,]", "line 2"),
        (b"", "Expecting value"),
        (b"NaN", "NaN"),
        (b"Infinity", "Infinity"),
        (b"-Infinity", "-Infinity"),
        (b'{"a": [NaN]}', "NaN"),
        (b"1e999", "too large"),
        (b"-1e999", "too large"),
        (b"[1, 2e400]", "too large"),
        (b"9" * 5000, "4300"),
        (b"-" + b"1" * 4301, "4300"),
        ('"café"'.encode("latin-1"), "UTF-8"),
        ("[1]".encode("utf-16"), "UTF-8"),
        ("[1]".encode("utf-16-le"), None),
        ("[1]".encode("utf-32"), "UTF-8"),
        (b'"\xed\xa0\x80"', "UTF-8"),
        (b'"\x00"', "Invalid control character"),
        (b"\xef\xbb\xbf[]", "BOM"),
        (b"[] []", "Extra data"),
    ],
)
def test_loads_is_strict(raw: bytes, message: str | None) -> None:
    with pytest.raises(JSONDecodeError) as info:
        loads(raw)
    if message is not None:
        assert message in str(info.value)


def test_loads_number_edge_cases() -> None:
    assert loads(b"[1e-999, 1.7976931348623157e308, -0]") == [0.0, 1.7976931348623157e308, 0]
    assert loads(b"7" * 4300) == int("7" * 4300)
    assert loads(b"-" + b"7" * 4300) == -int("7" * 4300)
    assert loads(b"0." + b"1" * 5000) == pytest.approx(0.1111111111111111)


def deep(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


def test_max_depth_is_512() -> None:
    assert MAX_DEPTH == 512


@pytest.mark.parametrize(("opener", "closer"), [(b"[", b"]"), (b'{"k":', b"}")])
def test_nesting_of_max_depth_passes(opener: bytes, closer: bytes) -> None:
    raw = opener * 511 + (b"[]" if opener == b"[" else b"{}") + closer * 511
    value = loads(raw)
    depth = 0
    while isinstance(value, (list, dict)):
        depth += 1
        value = (value[0] if value else None) if isinstance(value, list) else value.get("k")
    assert depth == 512


@pytest.mark.parametrize(("opener", "closer"), [(b"[", b"]"), (b'{"k":', b"}")])
def test_nesting_one_deeper_fails(opener: bytes, closer: bytes) -> None:
    with pytest.raises(JSONDecodeError, match="512"):
        loads(opener * 513 + b"0" + closer * 513)


def test_mixed_nesting_counts_both_kinds() -> None:
    ok = b'[{"a":' * 256 + b"1" + b"}]" * 256
    assert loads(ok) is not None
    with pytest.raises(JSONDecodeError):
        loads(b"[" + ok + b"]")


def test_depth_is_checked_in_every_branch() -> None:
    # Shallow first element, the deep one last: the walk must not stop early.
    raw = b"[[], {}, 1, " + deep(512) + b"]"
    with pytest.raises(JSONDecodeError):
        loads(raw)
    raw = b'{"a": [], "b": ' + deep(511) + b', "c": {}}'
    assert loads(raw)["c"] == {}


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, deep(100_000), b'{"a":' * 100_000, deep(1000), b'[{"a":' * 20_000],
)
def test_very_deep_input_is_a_decode_error_not_recursion_error(raw: bytes) -> None:
    with pytest.raises(JSONDecodeError):
        loads(raw)


def test_wide_documents_with_many_brackets_pass() -> None:
    raw = b"[" + b",".join([b"[[]]"] * 5000) + b"]"
    assert loads(raw) == [[[]]] * 5000
    assert loads(json.dumps("[{" * 5000).encode()) == "[{" * 5000


@pytest.mark.parametrize("raw", [b'["\\ud800"]', b'["\\udfff"]', b'{"\\udbff": 1}', b'"\\uDC00x"'])
def test_lone_surrogate_escapes_are_refused(raw: bytes) -> None:
    with pytest.raises(JSONDecodeError, match="lone surrogate"):
        loads(raw)


def test_surrogate_pairs_decode() -> None:
    assert loads(b'["\\ud83d\\ude00", "\\uD800\\uDC00"]') == ["\U0001f600", "\U00010000"]


def test_duplicate_keys_keep_the_last() -> None:
    assert loads(b'{"a": 1, "a": 2}') == {"a": 2}


# -- properties --------------------------------------------------------------------------


def _no_pair(text: str) -> bool:
    # "\ud800\udc00" as two Python code points is written as the JSON escape
    # pair, which every decoder reads back as one character (U+10000).
    return not any(
        "\ud800" <= high <= "\udbff" and "\udc00" <= low <= "\udfff"
        for high, low in itertools.pairwise(text)
    )


# Any text, and short text around the surrogate range (lone surrogates).
near_surrogates = st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010)
strings = st.text() | st.text(near_surrogates, max_size=6).filter(_no_pair)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | strings,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(strings, children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_round_trip(value: Any) -> None:
    raw = dumps(value)
    raw.decode("utf-8")
    if _is_text(value):
        assert loads(raw) == value
    else:  # written as JSON, but refused when read: no character (see jsonutil)
        with pytest.raises(JSONDecodeError, match="lone surrogate"):
            loads(raw)


def _is_text(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True


json_ish = st.lists(
    st.sampled_from(
        [
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            '"',
            "\\",
            "\\u",
            "d800",
            "0",
            "1",
            "-",
            ".",
            "e",
            "E",
            "+",
            "999",
            "9" * 40,
            "true",
            "false",
            "null",
            "NaN",
            "Infinity",
            " ",
            "\n",
            "a",
            "é",
            "\x00",
            "\ud800",
        ]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.binary(max_size=60), json_ish.map(lambda s: s.encode("utf-8", "surrogatepass")))
)
def test_loads_only_ever_raises_json_decode_error(raw: bytes) -> None:
    try:
        value = loads(raw)
    except JSONDecodeError:
        return
    # Whatever it accepts, it can send back.
    assert loads(dumps(value)) == value


def budget(examples: int) -> Any:
    """*examples* under ``make test``, twenty times more under ``make fuzz``."""
    return settings(max_examples=examples * settings().max_examples // 100)


@budget(100)
@given(json_values)
def test_output_is_what_the_standard_library_writes(value: Any) -> None:
    raw = dumps(value)
    # Read back by any JSON parser (here the standard library's, not ours).
    assert json.loads(raw) == value
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        assert same_json(raw, expected.encode())
    except UnicodeEncodeError:
        # Lone surrogates: the ASCII form, which escapes them.
        assert raw == json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


@dataclasses.dataclass
class Leaf:
    when: datetime.datetime
    amount: Decimal
    ident: uuid.UUID
    day: datetime.date
    notes: list[Any]


@dataclasses.dataclass
class Tree:
    name: str
    leaves: list[Leaf]
    extra: dict[str, Any]


aware = st.datetimes(timezones=st.timezones(no_cache=True) | st.just(datetime.timezone.utc))
decimals = st.decimals(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [Decimal("NaN"), Decimal("-Infinity"), Decimal("-0"), Decimal("1E+1000")]
)
rich_scalars = st.one_of(
    st.datetimes(),
    aware,
    st.dates(),
    st.times(),
    st.uuids(),
    decimals,
)
leaves = st.builds(
    Leaf,
    when=st.datetimes() | aware,
    amount=decimals,
    ident=st.uuids(),
    day=st.dates(),
    notes=st.lists(rich_scalars | st.integers() | st.text(max_size=3), max_size=3),
)
rich_values = st.recursive(
    rich_scalars | json_values | leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=4), children, max_size=3)
        | st.builds(
            Tree,
            name=st.text(max_size=4),
            leaves=st.lists(leaves, max_size=2),
            extra=st.dictionaries(st.text(max_size=3), children, max_size=2),
        )
    ),
    max_leaves=12,
)


def expected_json(value: Any) -> Any:
    """What the DESIGN.md rules turn *value* into, written out independently."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: expected_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [expected_json(item) for item in value]
    if isinstance(value, dict):
        return {key: expected_json(item) for key, item in value.items()}
    return value


@budget(100)
@given(rich_values)
def test_rich_values_follow_the_documented_rules(value: Any) -> None:
    assert json.loads(dumps(value)) == expected_json(value)


@budget(100)
@given(rich_scalars)
def test_rich_scalars_read_back_exactly(value: Any) -> None:
    text = json.loads(dumps(value))
    if isinstance(value, datetime.datetime):
        parsed = datetime.datetime.fromisoformat(text)
        # Wall time and offset: == would compare imaginary (DST gap) times oddly.
        assert parsed.replace(tzinfo=None) == value.replace(tzinfo=None)
        assert parsed.utcoffset() == value.utcoffset()
    elif isinstance(value, datetime.date):
        assert datetime.date.fromisoformat(text) == value
    elif isinstance(value, datetime.time):
        assert datetime.time.fromisoformat(text) == value
    elif isinstance(value, uuid.UUID):
        assert uuid.UUID(text) == value
    else:
        # No precision lost: the very same Decimal, exponent included.
        assert Decimal(text).as_tuple() == value.as_tuple()


class Opaque:
    pass


unsupported = st.one_of(
    st.sets(st.integers(), max_size=2),
    st.frozensets(st.integers(), max_size=2),
    st.binary(max_size=3),
    st.complex_numbers(allow_nan=False, allow_infinity=False),
    st.just(Opaque()),
    st.just(Tree),  # a dataclass *class* is not a dataclass value
    st.just(range(2)),
)


@budget(100)
@given(unsupported, st.sampled_from(["bare", "list", "dict", "dataclass"]))
def test_unsupported_values_raise_type_error_naming_the_type(value: Any, where: str) -> None:
    wrapped = {
        "bare": value,
        "list": [1, value],
        "dict": {"a": {"b": value}},
        "dataclass": Tree("t", [], {"x": value}),
    }[where]
    with pytest.raises(TypeError, match=type(value).__name__):
        dumps(wrapped)


# -- Enums, subclasses and what orjson refuses: the same bytes on both paths -----------


class Plain(enum.Enum):
    NAME = "name"
    NUMBER = 7
    RATIO = 0.25
    NOTHING = None
    PAIR = (1, "two")
    DAY = datetime.date(2026, 11, 25)
    MAPPING = {"k": [1.5, None]}  # noqa: RUF012 - an Enum value, never changed
    NOT_A_NUMBER = math.nan
    INFINITE = math.inf


class Mood(str, enum.Enum):
    HAPPY = "happy"
    QUOTED = 'say "hi"'


class Level(enum.IntEnum):
    LOW = 1
    HUGE = 2**70


class Scale(float, enum.Enum):
    HALF = 0.5
    INFINITE = math.inf


class Perm(enum.IntFlag):
    READ = 4
    WRITE = 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Plain.NAME, b'"name"'),
        ([Plain.NUMBER, Plain.RATIO, Plain.NOTHING], b"[7,0.25,null]"),
        ({"pair": Plain.PAIR, "day": Plain.DAY}, b'{"pair":[1,"two"],"day":"2026-11-25"}'),
        (Plain.MAPPING, b'{"k":[1.5,null]}'),
        ([Mood.HAPPY, Mood.QUOTED], b'["happy","say \\"hi\\""]'),
        ({"level": Level.LOW, "big": Level.HUGE}, b'{"level":1,"big":1180591620717411303424}'),
        (Scale.HALF, b"0.5"),
        (Perm.READ | Perm.WRITE, b"6"),
        (Point(1, 2.0), b'{"x":1,"y":2.0}'),
    ],
)
def test_enum_members_become_their_value(value: Any, expected: bytes) -> None:
    assert dumps(value) == expected


@pytest.mark.parametrize("value", [Plain.NOT_A_NUMBER, [None, Plain.INFINITE], Scale.INFINITE])
def test_enum_members_with_non_finite_values_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="JSON"):
        dumps(value)


class Name(str):
    def __str__(self) -> str:
        return "not this"


class Count(int):
    def __repr__(self) -> str:
        return "not this"

    __str__ = __repr__


class Ratio(float):
    def __repr__(self) -> str:
        return "not this"


class Bag(dict[Any, Any]):
    pass


class Backwards(dict[Any, Any]):
    """A dict whose ``items()`` lie about the storage: the C encoder asks them."""

    def items(self) -> Any:
        return list(reversed(list(super().items())))


class Row(list[Any]):
    def __iter__(self) -> Iterator[Any]:
        return iter(["not this"])


class Pair(NamedTuple):
    left: Any
    right: Any


class Loud(uuid.UUID):
    def __str__(self) -> str:
        return super().__str__().upper()


class Stamp(datetime.datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "stamp"


def _reordered() -> collections.OrderedDict[str, int]:
    ordered = collections.OrderedDict(a=1, b=2)
    ordered.move_to_end("a")
    return ordered


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Name("n"), b'"n"'),
        ({Name("k"): Count(3)}, b'{"k":3}'),
        ([Count(7), Ratio(0.5)], b"[7,0.5]"),
        (Bag(a=1), b'{"a":1}'),
        (Backwards(a=1, b=2), b'{"b":2,"a":1}'),
        (_reordered(), b'{"b":2,"a":1}'),
        (MultiDict([("a", 1), ("a", 2)]), b'{"a":1}'),
        (collections.defaultdict(list, a=[1]), b'{"a":[1]}'),
        (collections.Counter("aab"), b'{"a":2,"b":1}'),
        (Row([1, 2]), b'["not this"]'),  # the C encoder iterates a list subclass
        (Pair(1, (2, None)), b"[1,[2,null]]"),
        (Loud(int=10), b'"00000000-0000-0000-0000-00000000000A"'),
        (Stamp(2026, 1, 1), b'"stamp"'),
        (
            {"big": 2**64, "small": -(2**63) - 1},
            b'{"big":18446744073709551616,"small":-9223372036854775809}',
        ),
        ({1: "a", 2.5: "b", None: "d"}, b'{"1":"a","2.5":"b","null":"d"}'),
        ({False: "c"}, b'{"false":"c"}'),
        ({Mood.HAPPY: 1, Level.LOW: 2}, b'{"happy":1,"1":2}'),
        ("\x7f\u2028\u2029\ufeff", '"\x7f\u2028\u2029\ufeff"'.encode()),
        ("".join(map(chr, range(32))), json.dumps("".join(map(chr, range(32)))).encode()),
        (-0.0, b"-0.0"),
        (
            [1e16, 1.5e300, 5e-324, 1e-4, 123456789.125],
            b"[1e+16,1.5e+300,5e-324,0.0001,123456789.125]",
        ),
    ],
)
def test_values_orjson_would_write_differently_are_written_like_the_c_encoder(
    value: Any, expected: bytes
) -> None:
    assert dumps(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        [None, "null", math.nan],
        {"a": None, "b": [1.5, {"c": -math.inf}]},
        [None, (None, math.inf)],
        [None, Point(1, math.nan)],
        {"n": None, "leaf": Tree("t", [], {"deep": [Point(0, math.nan)]})},
    ],
)
def test_nan_next_to_none_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="JSON"):
        dumps(value)


def test_none_and_the_word_null_pass() -> None:
    value = {"a": None, "null": "null", "p": Point(1, 0.5), "m": Plain.MAPPING, "t": (None,)}
    assert (
        dumps(value)
        == b'{"a":null,"null":"null","p":{"x":1,"y":0.5},"m":{"k":[1.5,null]},"t":[null]}'
    )
    # Values of subclasses that orjson hands to _default.
    assert dumps([None, Loud(int=10), Stamp(2026, 1, 1)]) == (
        b'[null,"00000000-0000-0000-0000-00000000000A","stamp"]'
    )


def test_small_floats_may_be_spelled_differently() -> None:
    raw = dumps([1e-7, 0.00001, 1.5e-9])
    assert same_json(raw, b"[1e-07,1e-05,1.5e-09]")
    assert json.loads(raw) == [1e-7, 0.00001, 1.5e-9]


def test_nesting_deeper_than_orjson_allows_is_written() -> None:
    value: list[Any] = [None]
    for _ in range(300):
        value = [value]
    assert dumps(value) == b"[" * 301 + b"null" + b"]" * 301


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, {2}], "Object of type set is not JSON serializable; convert it"),
        ({"a": [Point(1, 2.0), b"x"]}, "Object of type bytes is not JSON serializable"),
        ({(1, 2): 3}, "keys must be str, int, float, bool or None, not tuple"),
        ({Plain.NAME: 1}, "keys must be str, int, float, bool or None, not Plain"),
        ([None, Widget()], "Object of type Widget is not JSON serializable"),
    ],
)
def test_type_errors_are_the_c_encoder_s(value: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        dumps(value)
    assert str(info.value).startswith(message)


# -- decoding: what orjson reads differently ------------------------------------------


def test_big_integers_decode_exactly() -> None:
    raw = b"[18446744073709551616, -9223372036854775809, 123456789012345678901234567890]"
    value = loads(raw + b" " * 200)
    assert value == [2**64, -(2**63) - 1, 123456789012345678901234567890]
    assert all(type(item) is int for item in value)
    assert loads(b'{"a": [9223372036854775807, -9223372036854775808, 18446744073709551615]}') == {
        "a": [2**63 - 1, -(2**63), 2**64 - 1]
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": "\\ud800", "pad": "' + b"x" * 200 + b'"}', "a \\u escape is a lone surrogate"),
        (b'{"a": "\\ud83d\\ude00", "pad": "' + b"x" * 200 + b'"}', None),
        (b'["' + b"x" * 200 + b'", 1e999]', "number 1e999 is too large"),
        (b'["' + b"x" * 200 + b'", NaN]', "NaN is not valid JSON"),
        (b'["' + b"x" * 200 + b'", 1,]', "Expecting value at line 1 column 208"),
        (b'["' + b"x" * 200 + b'\xff"]', "body is not valid UTF-8 (byte 202)"),
        (b"\xef\xbb\xbf[" + b"1, " * 100 + b"1]", "Unexpected UTF-8 BOM at line 1 column 1"),
        (b"[" * 1100 + b"]" * 1100, "nesting deeper than 512 levels"),
        (b"[" * 600 + b"]" * 600, "nesting deeper than 512 levels"),
        (b"[" + b"1" * 4301 + b"]", "Exceeds the limit (4300 digits)"),
    ],
)
def test_long_bodies_give_the_standard_library_s_answers(raw: bytes, message: str | None) -> None:
    if message is None:
        assert loads(raw)["a"] == "\U0001f600"
        return
    with pytest.raises(JSONDecodeError) as info:
        loads(raw)
    assert str(info.value).startswith(message)


def test_leading_and_trailing_whitespace() -> None:
    assert loads(b" \t\r\n[1] \n") == [1]
    assert loads(b"  {}") == {}
    for raw, column in [(b"   ", 4), (b" \x0c[1]", 2), (b"[1] x", 5), (b" \xc2\xa0[1]", 2)]:
        with pytest.raises(JSONDecodeError, match=f"column {column}$"):
            loads(raw)


# -- the orjson path against the standard library's (run once) ---------------------------


def outcome(function: Callable[[Any], Any], value: Any) -> tuple[str, Any]:
    """What *function* makes of *value*: its result, or its error's type and message."""
    try:
        return ("value", function(value))
    except Exception as exc:
        return (type(exc).__name__, str(exc))


@dataclasses.dataclass
class Box:
    value: Any
    label: Any = None


@dataclasses.dataclass(frozen=True)
class Tag:
    name: str
    weight: float


keys = st.one_of(
    strings,
    st.text(st.characters(max_codepoint=0x7F), max_size=3),
    st.integers(),
    st.floats(),
    st.booleans(),
    st.none(),
    st.builds(Name, st.text(max_size=3)),
    st.sampled_from(Mood),
    st.sampled_from([Plain.NAME, Level.LOW, (1, 2)]),
)
boundaries = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1])
anything_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.integers() | boundaries,
    st.floats(),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e-3, max_value=1e-3),
    strings,
    st.text(st.characters(max_codepoint=0x7F)),
    st.sampled_from(["null", "NaN", "Infinity", "\u2028", "\x7f", '"\\', "\ud83d\ude00"]),
    rich_scalars,
    st.sampled_from(list(Plain) + list(Mood) + list(Level) + list(Scale) + [Perm(6)]),
    st.builds(Name, st.text(max_size=3)),
    st.builds(Count, st.integers()),
    st.builds(Ratio, st.floats()),
    st.uuids().map(lambda value: Loud(int=value.int)),
    st.builds(Tag, st.text(max_size=3), st.floats()),
    unsupported,
)


def _ordered(items: dict[Any, Any]) -> collections.OrderedDict[Any, Any]:
    ordered = collections.OrderedDict(items)
    for key in list(ordered)[:1]:
        ordered.move_to_end(key)
    return ordered


anything = st.recursive(
    anything_scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=4), children, max_size=4),
        st.dictionaries(keys, children, max_size=3),
        st.tuples(children, children),
        st.builds(Pair, children, children),
        st.builds(Box, children, children),
        st.builds(Row, st.lists(children, max_size=3)),
        st.builds(Bag, st.dictionaries(st.text(max_size=3), children, max_size=3)),
        st.builds(Backwards, st.dictionaries(st.text(max_size=3), children, max_size=3)),
        st.dictionaries(st.text(max_size=3), children, max_size=3).map(_ordered),
        st.lists(st.tuples(st.text(max_size=2), children), max_size=3).map(MultiDict),
    ),
    max_leaves=20,
)


# What orjson writes itself (no fallback), NaN next to None included.
accepted = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**64 - 1),
        st.floats(),
        st.text(),
        st.text(st.characters(max_codepoint=0x7F)),
        st.sampled_from(["null", "NaN", "\u2028", "\x7f", '"\\']),
        rich_scalars,
        st.sampled_from([*Plain, *Mood, Level.LOW, *Scale, Perm(6)]),
        st.builds(Tag, st.text(max_size=3), st.floats()),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=4), children, max_size=4),
        st.tuples(children, children),
        st.builds(Box, children, children),
    ),
    max_leaves=20,
)


@budget(400)
@given(accepted | anything)
def test_orjson_dumps_agrees_with_the_standard_library(value: Any) -> None:
    fast = outcome(dumps, value)
    slow = outcome(jsonutil._dumps_stdlib, value)
    if fast[0] == slow[0] == "value":
        assert same_json(fast[1], slow[1]), (fast[1], slow[1])
    else:
        assert fast == slow


@budget(200)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_orjson_floats_differ_only_in_spelling_below_1e_4(number: float) -> None:
    fast, slow = dumps(number), jsonutil._dumps_stdlib(number)
    assert float(fast) == number
    if abs(number) >= 1e-4 or number == 0:
        assert fast == slow
    else:
        assert same_json(fast, slow)


def test_orjson_circular_values_fail_as_with_the_standard_library() -> None:
    value: list[Any] = []
    value.append(value)
    box = Box(None)
    box.value = [box]
    for circular in (value, {"a": value}, box):
        assert outcome(dumps, circular)[0] == outcome(jsonutil._dumps_stdlib, circular)[0]


def test_orjson_a_failing_walk_leaves_it_to_the_standard_library(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def deep_stack(values: Any) -> bool:
        raise RecursionError

    monkeypatch.setattr(jsonutil, "_has_nonfinite", deep_stack)
    assert dumps([None, 1.5]) == b"[null,1.5]"
    with pytest.raises(ValueError, match="JSON"):
        dumps([None, math.nan])


def decoded(function: Callable[[bytes], Any], raw: bytes) -> tuple[str, str]:
    """The value *function* reads from *raw*, exactly (repr), or its error."""
    try:
        return ("value", repr(function(raw)))  # repr: types, -0.0, key order
    except JSONDecodeError as exc:
        return ("error", str(exc))


number_texts = st.one_of(
    st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,30})?([eE][-+]?[0-9]{1,3})?\Z"),
    st.floats().map(repr),
    st.floats().map(lambda number: f"{number:.17e}"),
    st.floats().map(lambda number: f"{number:.30g}"),
    (st.integers() | boundaries).map(str),
)
whitespace = st.text(st.sampled_from(" \t\r\n\x0b\x0c\x00\xa0\u2028\ufeff"), max_size=3)
valid_documents = st.builds(
    lambda value, ascii, separators: json.dumps(value, ensure_ascii=ascii, separators=separators),
    json_values,
    st.booleans(),
    st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")]),
)


def _corrupt(text: str, position: int, insert: str) -> str:
    position %= len(text) + 1
    return text[:position] + insert + text[position:]


hostile = st.one_of(
    st.binary(max_size=80),
    json_ish.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda ws1, number, ws2: f"{ws1}[{number}]{ws2}".encode(),
        whitespace,
        number_texts,
        whitespace,
    ),
    st.lists(number_texts, max_size=6).map(lambda numbers: f"[{', '.join(numbers)}]".encode()),
    valid_documents.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.builds(
        lambda text, position, insert: _corrupt(text, position, insert).encode(
            "utf-8", "surrogatepass"
        ),
        valid_documents,
        st.integers(min_value=0),
        st.sampled_from(
            [
                "\\ud800",
                "\\udc00\\ud800",
                "\\ud800\\u0041",
                "\ufeff",
                "\x00",
                "\\",
                '"',
                ",",
                "]",
                "1e999",
                "-",
                " ",
                "\ud800",
            ]
        ),
    ),
    strings.map(lambda text: json.dumps(text).encode()),
    strings.map(
        lambda text: json.dumps({"k": [text, text]}, ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        )
    ),
    st.text(max_size=40).map(lambda text: text.encode()),
)


@budget(600)
@given(hostile)
def test_orjson_loads_agrees_with_the_standard_library(raw: bytes) -> None:
    assert decoded(loads, raw) == decoded(jsonutil._loads_stdlib, raw)


@budget(200)
@given(st.lists(number_texts, min_size=1, max_size=4))
def test_orjson_numbers_read_exactly_as_python_reads_them(numbers: list[str]) -> None:
    raw = f"[{', '.join(numbers)}]".encode()
    assert decoded(loads, raw) == decoded(jsonutil._loads_stdlib, raw)


def test_orjson_short_bodies_skip_it(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    class Spy:
        JSONDecodeError = ORJSON.JSONDecodeError  # type: ignore[union-attr]

        @staticmethod
        def loads(data: bytes) -> Any:
            calls.append(data)
            return ORJSON.loads(data)  # type: ignore[union-attr]

    monkeypatch.setattr(jsonutil, "orjson", Spy)
    monkeypatch.setattr(jsonutil, "_ORJSON_LOADS_MIN", 128)
    short, long = b'{"title": "Write the benchmarks"}', b"[" + b"1, " * 50 + b"1]"
    assert loads(short) == {"title": "Write the benchmarks"}
    assert loads(long) == [1] * 51
    assert calls == [long]


def test_orjson_missing_means_the_standard_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "orjson", None)
    assert jsonutil._import_orjson() is None


# -- through the app: the mode chosen by the module's fixture ---------------------------

_PAD = b" " * 200  # past the 128-byte threshold of the orjson path


class _TodoBody(Schema):
    title = fields.Str(required=True)


def test_control_characters_are_named_once_in_the_message() -> None:
    with pytest.raises(JSONDecodeError) as info:
        loads(b'["\x01"]')
    assert str(info.value) == "Invalid control character at line 1 column 3"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"title": NaN}',
        b'{"title": "x", "n": 1e999}',
        b'{"title": "x", "n": -Infinity}',
        b'{"title": "x", "n": 1' + b"0" * 5000 + b"}",
        b"[" * 513 + b"]" * 513,
        b'{"title": "\xff"}',
        b'\xef\xbb\xbf{"title": "x"}',
        b'{"title": "x"} x',
        b'{"title": "x",}',
    ],
)
def test_malformed_json_bodies_are_a_400(raw: bytes) -> None:
    api = Api()
    api.add_route("/todo", lambda req, res: req.body, methods=["POST"], body=_TodoBody)
    response = TestClient(api).post("/todo", data=raw + _PAD, content_type="application/json")
    assert_problem(response, 400)


class _NaNRatio(float, enum.Enum):
    BAD = float("nan")


@pytest.mark.parametrize(
    "value",
    [
        {"a": None, "b": float("nan")},
        [None, (1.0, float("inf"))],
        Point(None, [float("-inf")]),  # type: ignore[arg-type]
        {"r": _NaNRatio.BAD, "n": None},
    ],
)
def test_non_finite_values_are_a_logged_500_never_null(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    api = Api()
    api.add_route("/v", lambda req, res: value)
    with caplog.at_level(logging.ERROR, logger="microapi.error"):
        response = TestClient(api).get("/v")
    assert_problem(response, 500)
    assert b"null" not in response.data
    assert any(record.levelno == logging.ERROR for record in caplog.records)


class _Out(Schema):
    ratio = fields.Float()
    label = fields.Str(allow_none=True)


def test_a_response_schema_dumping_nan_is_a_500() -> None:
    api = Api()
    api.add_route("/r", lambda req, res: {"ratio": float("nan"), "label": None}, response=_Out)
    assert_problem(TestClient(api).get("/r"), 500)

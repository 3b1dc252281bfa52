"""JSON: the encoder's extra types and the strict decoder."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microapi.jsonutil import MAX_DEPTH, JSONDecodeError, dumps, loads

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


def test_lone_surrogate_escapes_decode() -> None:
    assert loads(b'["\\ud800", "\\udfff", "\\ud83d\\ude00"]') == ["\ud800", "\udfff", "\U0001f600"]


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
    assert loads(raw) == value


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
        assert raw == expected.encode()
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

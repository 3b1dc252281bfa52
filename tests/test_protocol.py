"""HTTP's own definitions: the token grammar and the method sets."""

from __future__ import annotations

import string

import pytest

from microapi.protocol import (
    BODILESS_METHODS,
    HTTP_METHODS,
    HTTP_TOKEN,
    ROUTE_METHODS,
    SAFE_METHODS,
    STANDARD_METHODS,
    loggable_path,
)

#: RFC 9110 section 5.6.2: tchar.
TCHAR = set("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)


def test_a_token_is_one_or_more_tchars_and_nothing_else() -> None:
    for code in range(256):
        char = chr(code)
        assert bool(HTTP_TOKEN.fullmatch(char)) == (char in TCHAR), repr(char)
    assert HTTP_TOKEN.fullmatch("X-Request-ID")
    assert HTTP_TOKEN.fullmatch("M-SEARCH")


@pytest.mark.parametrize(
    "text", ["", "G E T", "a=b", "sid; Domain=evil.example", "x\r\n", "naïve", "(x)", '"q"']
)
def test_separators_spaces_controls_and_non_ascii_are_not_tokens(text: str) -> None:
    assert HTTP_TOKEN.fullmatch(text) is None


def test_the_method_sets_nest_as_rfc_9110_says() -> None:
    assert frozenset(ROUTE_METHODS) == HTTP_METHODS
    assert len(ROUTE_METHODS) == len(HTTP_METHODS)  # listed once each
    assert HTTP_METHODS | {"TRACE", "CONNECT"} == STANDARD_METHODS
    assert {"GET", "HEAD", "OPTIONS", "TRACE"} == SAFE_METHODS
    assert BODILESS_METHODS < SAFE_METHODS
    assert "POST" not in BODILESS_METHODS
    assert all(HTTP_TOKEN.fullmatch(method) for method in STANDARD_METHODS)


def test_a_loggable_path_holds_no_line_break_or_control() -> None:
    assert loggable_path("/a/b;c=d@e:f") == "/a/b;c=d@e:f"  # what paths show plainly
    for char in "\r\n\t\x00\x1b\x7f \u2028":
        assert char not in loggable_path(f"/x{char}y")
    assert loggable_path("/x\ny") == "/x%0Ay"
    assert loggable_path("/café") == "/caf%C3%A9"

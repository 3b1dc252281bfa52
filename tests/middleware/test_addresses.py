"""Client addresses: one spelling per IP address, an IPv6 client's network."""

from __future__ import annotations

import pytest

from microapi.middleware.addresses import address_key, normalise_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9\t", "203.0.113.9"),
        ("203.0.113.9:65535", "203.0.113.9"),
        ("[2001:db8::1]:8080", "2001:db8::1"),
        ("2001:0DB8:0000::0001", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::ffff:cb00:7109", "203.0.113.9"),
        ("fe80::1%25eth0", "fe80::1"),
        ("", None),
        ("[]", None),
        ("[::1]:", None),
        ("203.0.113.9:", None),
        ("203.0.113.9:0x50", None),
        ("203.0.113.9:٣", None),  # a digit, but not ASCII
        ("203.0.113.256", None),
        ("1", None),
        ("::1::2", None),
        ("localhost", None),
        ("unknown", None),
    ],
)
def test_normalise_address(text: str, expected: str | None) -> None:
    assert normalise_address(text) == expected
    assert normalise_address(text) == expected  # cached, the same


def test_the_caches_are_bounded() -> None:
    from microapi.middleware import addresses

    for n in range(addresses._CACHE_SIZE + 10):
        normalise_address(f"10.0.{n // 256}.{n % 256}")
        address_key(f"2001:db8:{n:x}::1", 64)
    assert len(addresses._normalised) <= addresses._CACHE_SIZE
    assert len(addresses._networks) <= addresses._CACHE_SIZE


@pytest.mark.parametrize(
    ("address", "prefix", "key"),
    [
        ("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2:3:4:5:6", 1, "::/1"),
        ("2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"),
        ("::ffff:10.0.0.1", 64, "10.0.0.1"),
        ("10.0.0.1", 64, "10.0.0.1"),
        ("unknown", 64, "unknown"),
        ("not:an:address", 64, "not:an:address"),
    ],
)
def test_address_key(address: str, prefix: int, key: str) -> None:
    assert address_key(address, prefix) == key

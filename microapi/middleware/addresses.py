"""Client addresses: the one spelling of an IP address, and its network.

``proxy_fix`` takes an ``X-Forwarded-For`` entry only through
:func:`normalise_address`, and ``rate_limit``'s default key counts an IPv6
client by its network (:func:`address_key`): otherwise one client has as
many spellings (``1.2.3.4:5678``, ``::ffff:1.2.3.4``, ``[2001:db8::1]``,
``2001:DB8:0::1``), and an IPv6 client as many addresses (a /64 holds
2**64), as it likes, each with its own rate-limit counter.
"""

from __future__ import annotations

import ipaddress

__all__ = ["address_key", "normalise_address"]

# Normalised addresses and networks already computed. PERF: a client's
# requests repeat them, and ipaddress costs a few µs; bounded, since the
# texts come from clients.
_CACHE_SIZE = 4096
_normalised: dict[str, str | None] = {}
_networks: dict[tuple[str, int], str] = {}


def normalise_address(text: str) -> str | None:
    """The IP address *text* names, in its one spelling; ``None`` if it names none.

    A port (``1.2.3.4:80``, ``[2001:db8::1]:80``), brackets and an IPv6
    zone (``%eth0``) go, an IPv4-mapped IPv6 address becomes the IPv4
    one, and IPv6 is compressed and lowercased (RFC 5952).  Anything else
    (``unknown``, an obfuscated node name of RFC 7239, a host name) is
    ``None``.
    """
    cached = _normalised.get(text, "")
    if cached != "":
        return cached
    result = _normalise(text)
    if len(_normalised) >= _CACHE_SIZE:
        _normalised.clear()  # PERF: simpler than an LRU, and as good for this
    _normalised[text] = result
    return result


def _normalise(text: str) -> str | None:
    host = text.strip(" \t")
    if host.startswith("["):
        host, bracket, port = host[1:].partition("]")
        if not bracket or (port and not (port[0] == ":" and _is_port(port[1:]))):
            return None
    elif host.count(":") == 1:  # IPv4 and a port: IPv6 has at least two colons
        host, _, port = host.partition(":")
        if not _is_port(port):
            return None
    host = host.partition("%")[0]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 5


def address_key(address: str, ipv6_prefix: int) -> str:
    """The rate-limit key of *address*: itself for IPv4, its network for IPv6.

    ``address_key("2001:db8:1:2:3:4:5:6", 64)`` is ``"2001:db8:1:2::/64"``;
    with *ipv6_prefix* 128 an IPv6 address is its own key.  Text that is no
    IPv6 address is returned as it is.
    """
    if ":" not in address:
        return address  # PERF: IPv4 (or "unknown"): no parsing
    cache_key = (address, ipv6_prefix)
    key = _networks.get(cache_key)
    if key is None:
        normalised = normalise_address(address)
        if normalised is None or ":" not in normalised:
            key = normalised or address  # an IPv4-mapped address is its IPv4 one
        elif ipv6_prefix == 128:
            key = normalised
        else:
            key = str(ipaddress.IPv6Network(f"{normalised}/{ipv6_prefix}", strict=False))
        if len(_networks) >= _CACHE_SIZE:
            _networks.clear()
        _networks[cache_key] = key
    return key

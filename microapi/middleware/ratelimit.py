"""``rate_limit``: fixed-window request limits, exact under concurrency.

::

    api.middleware(rate_limit("100/minute"))                       # per client IP
    api.middleware(rate_limit("5/minute", key=user_key,
                              store=SQLiteStore("var/ratelimit.db")),
                   match="/api/contact")

Every counted response carries ``RateLimit-Limit``, ``RateLimit-Remaining``
and ``RateLimit-Reset`` (seconds); a request over the limit gets a 429
problem with ``Retry-After``.  Counters live in a store
(:mod:`microapi.middleware.stores`) under ``scope`` plus the key.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable
from math import ceil
from typing import Any

from ..chain import before_only
from ..errors import HTTPError
from ..request import Request
from ..response import Res
from ..securitydoc import declare_responses
from ..types import Middleware, Next
from .addresses import address_key
from .stores import MemoryStore, Store, StoreUnavailable

__all__ = ["client_ip", "client_ip_key", "parse_limit", "rate_limit", "user_key"]

log = logging.getLogger("microapi.ratelimit")

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_LIMIT = re.compile(
    r"\s*([0-9]{1,18})\s*/\s*(?:([0-9]{1,9})\s*)?(second|minute|hour|day)s?\s*", re.IGNORECASE
)
_FORMS = (
    '"N/second", "N/minute", "N/hour", "N/day", or "N/K seconds" (minutes, hours, days), '
    'e.g. "100/minute" or "10/15 minutes"'
)

#: The longest key stored as given; longer or unusual keys are hashed.
MAX_KEY_LENGTH = 200

#: ``Retry-After`` (seconds) of the 503 answered while the store is down
#: and ``fail_open=False``.
OUTAGE_RETRY_AFTER = 1

_HEADER_NAMES = frozenset({"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"})


def parse_limit(limit: str) -> tuple[int, int]:
    """Parse ``"100/minute"`` into ``(100, 60)``: requests and seconds.

    :raises ValueError: naming the accepted forms.
    """
    if not isinstance(limit, str):
        raise TypeError(f"the limit must be a string such as '100/minute', not {limit!r}")
    match = _LIMIT.fullmatch(limit)
    if match is None:
        raise ValueError(f"invalid rate limit {limit!r}: use {_FORMS}")
    count, multiple, unit = match.groups()
    period = int(multiple or 1) * _UNITS[unit.lower()]
    if int(count) < 1 or period < 1:
        raise ValueError(f"invalid rate limit {limit!r}: the count and period must be at least 1")
    return int(count), period


#: The IPv6 network :func:`client_ip` counts as one client: a /64 is what
#: one subscriber line or host gets (RFC 6177), and picks addresses from.
IPV6_PREFIX = 64


def client_ip(req: Request) -> str:
    """Key requests by the client's address (``req.remote_addr``), IPv6 by its /64.

    ``X-Forwarded-For`` is ignored unless :func:`~microapi.middleware.proxy_fix`
    is installed (it rewrites the address from trusted proxies' headers);
    requests without an address share the key ``"unknown"``.  An IPv6
    client is counted by its network (``2001:db8:1:2::/64``): it has 2**64
    addresses to pick from; :func:`client_ip_key` counts another prefix.
    """
    # PERF: the environ, where req.remote_addr comes from (and which
    # proxy_fix rewrites), without the lazy attribute's two calls.
    return address_key(req.environ.get("REMOTE_ADDR") or "unknown", IPV6_PREFIX)


def client_ip_key(*, ipv6_prefix: int = IPV6_PREFIX) -> Callable[[Request], str]:
    """Return a key like :func:`client_ip` that counts IPv6 by *ipv6_prefix*.

    ``rate_limit("100/minute", key=client_ip_key(ipv6_prefix=56))`` counts
    a /56 (what some providers give a subscriber) as one client; ``128``
    counts every IPv6 address apart.

    :raises ValueError: for a prefix that is not an int from 1 to 128.
    """
    if type(ipv6_prefix) is not int or not 1 <= ipv6_prefix <= 128:
        raise ValueError(f"ipv6_prefix must be an int from 1 to 128, not {ipv6_prefix!r}")

    def client_network(req: Request) -> str:
        return address_key(req.environ.get("REMOTE_ADDR") or "unknown", ipv6_prefix)

    client_network.__qualname__ = f"client_ip_key(ipv6_prefix={ipv6_prefix})"
    return client_network


def user_key(req: Request) -> str:
    """Key requests by user: ``"user:<id>"``, else ``"ip:<address>"``.

    The id is ``req.user.id``, else ``req.user["id"]``, else
    ``str(req.user)``; anonymous requests (``req.user is None``) fall back
    to :func:`client_ip`.  The prefixes keep a user id from ever sharing a
    counter with an IP address.  Register it after the authentication
    middleware that sets ``req.user``.
    """
    user = req.user
    if user is None:
        return "ip:" + client_ip(req)
    ident = getattr(user, "id", None)
    if ident is None:
        try:
            ident = user["id"]
        except (LookupError, TypeError):
            ident = None
    return "user:" + str(user if ident is None else ident)


def _full_key(key: object, req: Request, prefix: str, hashed_prefix: str) -> str:
    # Off the usual path: keys that are not short printable strings.
    if key is None:
        key = "ip:" + client_ip(req)
    text = key if isinstance(key, str) else str(key)
    if len(text) <= MAX_KEY_LENGTH and text.isprintable():
        return prefix + text
    # NOTE: huge or unprintable keys (a lone surrogate cannot even be
    # encoded) become a fixed-size digest, as "scope#digest": no key kept
    # as is ("scope:key") can collide with it.
    return hashed_prefix + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def rate_limit(
    limit: str,
    *,
    key: Callable[[Request], Any] = client_ip,
    store: Store | None = None,
    fail_open: bool = True,
    scope: str | None = None,
) -> Middleware:
    """Limit requests per key to *limit* per fixed window; 429 beyond.

    ``rate_limit("100/minute")`` admits 100 requests per client IP in each
    window, which starts at a key's first request and lasts the period.
    Counted responses carry ``RateLimit-Limit``, ``RateLimit-Remaining``
    and ``RateLimit-Reset`` (seconds until the window resets), errors
    included; a request over the limit gets a 429 problem with
    ``Retry-After``.  When several limits apply to one request, the
    headers of the one with the fewest requests remaining are kept.

    :param limit: ``"N/second"``, ``"N/minute"``, ``"N/hour"``, ``"N/day"``
        or ``"N/K seconds"`` (``minutes``, ``hours``, ``days``).
    :param key: ``key(req)`` names the counter: :func:`client_ip` (the
        default), :func:`user_key` or any callable.  Non-strings are made
        strings; ``None`` falls back to ``"ip:<address>"``; keys longer than
        :data:`MAX_KEY_LENGTH` or not printable ASCII are hashed.
    :param store: where counters live: a new :class:`MemoryStore` (this
        process only) by default; :class:`SQLiteStore` shares them between
        the processes of one host, :class:`RedisStore` between hosts.
    :param fail_open: when the store is unavailable, admit requests
        (``True``, without ``RateLimit-*`` headers) or answer 503 with
        ``Retry-After`` (``False``).  Either way a WARNING is logged on
        ``microapi.ratelimit`` once per outage, and an INFO on recovery.
    :param scope: the counters' namespace; defaults to *limit* (plus the
        key function's module and name for keys other than
        :func:`client_ip` and :func:`user_key`), so that limits with the
        same settings share counters across workers and hosts.  Give two
        limits different scopes to count them apart.
    :raises ValueError: for a malformed *limit*.
    """
    allowed, period = parse_limit(limit)
    if store is None:
        store = MemoryStore()
    elif not isinstance(store, Store):
        raise TypeError(f"store must be a microapi.middleware.Store, not {store!r}")
    if not callable(key):
        raise TypeError(f"key must be a callable taking req, not {key!r}")
    if scope is None:
        scope = limit
        if key is not client_ip and key is not user_key:
            # NOTE: a custom key's values may be anything a client sends (an
            # API key header, say): named by the function, they cannot land
            # on the counters of a client_ip limit with the same settings.
            name = getattr(key, "__qualname__", type(key).__name__)
            scope += f"|{getattr(key, '__module__', '')}.{name}"
    elif not isinstance(scope, str):
        raise TypeError(f"scope must be a string, not {scope!r}")
    prefix = scope + ":"
    hashed_prefix = scope + "#"
    hit = store.hit
    describe = f"rate limit {limit!r} (scope {scope!r}) on {store!r}"
    # PERF: header pairs built once; a counted request only picks them.
    limit_header = ("RateLimit-Limit", str(allowed))
    remaining_headers = [("RateLimit-Remaining", str(n)) for n in range(min(allowed, 1000) + 1)]
    exceeded = f"too many requests: the limit is {limit.strip()}; retry in "
    down = False  # whether the store's last answer was a failure
    lock = threading.Lock()

    def store_failed(exc: StoreUnavailable) -> None:
        nonlocal down
        with lock:
            if down:
                return
            down = True
        action = "admitting requests unlimited" if fail_open else "answering 503"
        log.warning("%s is unavailable, %s until it recovers: %s", describe, action, exc)

    def store_recovered() -> None:
        nonlocal down
        with lock:
            if not down:
                return
            down = False
        log.info("%s is available again", describe)

    def rate_limit_middleware(req: Request, res: Res, next: Next) -> Any:
        name = key(req)
        if name.__class__ is str and len(name) <= MAX_KEY_LENGTH and name.isprintable():
            name = prefix + name
        else:
            name = _full_key(name, req, prefix, hashed_prefix)
        # A success only ends an outage if it began after the outage did: a
        # slow hit sent before the store went down proves nothing.
        was_down = down
        try:
            count, reset = hit(name, period)
        except StoreUnavailable as exc:
            store_failed(exc)
            if fail_open:
                return next()
            raise HTTPError(
                503,
                "the rate limit cannot be checked right now; retry later",
                headers={"Retry-After": str(OUTAGE_RETRY_AFTER)},
            ) from None
        if was_down:
            store_recovered()
        remaining = allowed - count
        seconds = ceil(reset)
        if seconds < 1:
            seconds = 1
        reset_header = ("RateLimit-Reset", str(seconds))
        if remaining < 0:
            _set_headers(res, limit_header, remaining_headers[0], reset_header, 0, True)
            raise HTTPError(
                429, f"{exceeded}{seconds} seconds", headers={"Retry-After": reset_header[1]}
            )
        remaining_header = (
            remaining_headers[remaining]
            if remaining < len(remaining_headers)
            else ("RateLimit-Remaining", str(remaining))
        )
        headers = res._headers
        if headers:
            _set_headers(res, limit_header, remaining_header, reset_header, remaining, False)
        else:
            # PERF: nothing to replace: skip set_header's checks (the names
            # and values are known to be valid).
            headers.extend((limit_header, remaining_header, reset_header))
        return next()

    rate_limit_middleware.__qualname__ = f"rate_limit({limit!r})"
    answered = {429: "Too many requests: retry after Retry-After seconds."}
    if not fail_open:
        answered[503] = "The rate-limit store is unavailable: retry after Retry-After seconds."
    return declare_responses(before_only(rate_limit_middleware), answered)


def _set_headers(
    res: Res,
    limit: tuple[str, str],
    remaining: tuple[str, str],
    reset: tuple[str, str],
    left: int,
    rejecting: bool,
) -> None:
    # Another limit already set its headers on this response: keep the
    # most restrictive (fewest remaining; the rejecting one on a 429).
    headers = res._headers
    for name, value in headers:
        if name == "RateLimit-Remaining":
            if not rejecting and int(value) <= left:
                return
            headers[:] = [header for header in headers if header[0] not in _HEADER_NAMES]
            break
    headers.extend((limit, remaining, reset))

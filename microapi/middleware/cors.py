"""``cors``: Cross-Origin Resource Sharing for an allow-list of origins.

::

    api.middleware(cors(origins=["https://app.example.com", "https://*.example.com"]))

Register it first, so that it wraps everything else: the CORS headers are
set on ``res`` *before* ``next()``, and headers set before an error stay on
the error response, so the browser can read a 404, 405, 413, 422, 429 or
500 from an allowed origin too.

Every response gets ``Vary: Origin``.  A preflight (``OPTIONS`` with
``Origin`` and ``Access-Control-Request-Method``) from an allowed origin is
answered ``204`` here, for any path, without calling ``next()``.  Anything
else goes on to the route; an origin that is not allowed gets no CORS
headers at all, so the browser withholds the response from its page.

All parsing happens in :func:`cors`; a request costs a dict lookup, a set
lookup and a few list appends.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import HTTPError
from ..protocol import HTTP_TOKEN
from ..request import Request
from ..response import Res
from ..types import Middleware, Next

__all__ = ["DEFAULT_METHODS", "cors"]

#: Methods allowed to preflighted requests when ``methods`` is ``None``.
DEFAULT_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

_ALLOW_ORIGIN = "Access-Control-Allow-Origin"
_VARY_ORIGIN = ("Vary", "Origin")
_VARY_PREFLIGHT = (
    "Vary",
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
)
# A configured origin: scheme://host[:port], nothing else (no userinfo,
# path, query or fragment).  The host is checked label by label below.
_ORIGIN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://"
    r"(?P<host>\[[0-9a-f:.]+\]|[^\s:/?#@\[\]\\]+)"
    r"(?::(?P<port>[0-9]{1,5}|\*))?"
)
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
# What one "*" stands for: exactly one DNS label as browsers serialize it
# (lowercase, punycode), or a port.
_GLOB_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_GLOB_PORT = r"[0-9]{1,5}"
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# Verdicts on glob and pattern origins remembered, and their longest origin.
_CACHE_SIZE = 1024
_CACHED_LENGTH = 256


def cors(
    origins: Iterable[str | re.Pattern[str]],
    *,
    credentials: bool = False,
    methods: Iterable[str] | None = None,
    headers: Iterable[str] | None = None,
    expose: Iterable[str] | None = None,
    max_age: int = 600,
) -> Middleware:
    """Return middleware answering CORS for the allowed *origins*.

    An origin is an exact string (``"https://app.example.com"``), a glob
    where ``*`` is one whole DNS label or the port
    (``"https://*.example.com"``, ``"http://localhost:*"``), a compiled
    :class:`re.Pattern` (matched with ``fullmatch``), or ``"*"`` for any
    origin.  ``"null"`` (sandboxed frames, ``file:``) is allowed only when
    listed as exactly ``"null"``.

    :param origins: the allowed origins.
    :param credentials: send ``Access-Control-Allow-Credentials: true``, so
        that pages may send cookies and read the answer; the origin is then
        always echoed, never ``*``.
    :param methods: the methods preflights may ask for (default
        :data:`DEFAULT_METHODS`).  Routing still answers 405 to others.
    :param headers: the request headers preflights may ask for; ``None``
        allows the ones asked for, once checked to be header names.
    :param expose: response headers the page's JavaScript may read beyond
        the CORS-safelisted ones (``Content-Type``, ``Content-Length``...).
    :param max_age: seconds the browser may cache a preflight answer
        (browsers cap it: Chromium at 7200).
    :raises ValueError: for a malformed origin, method or header name, a
        negative *max_age*, or ``"*"`` together with *credentials*.
    :raises TypeError: for a string where a list is expected, or an
        origin that is neither a string nor a pattern.
    """
    exact, any_origin, globs, patterns = _parse_origins(origins)
    if credentials and any_origin:
        raise ValueError(
            'cors(origins=["*"], credentials=True) would let every site read '
            "responses with its visitors' cookies; list the allowed origins instead"
        )
    allow_methods = ", ".join(
        DEFAULT_METHODS if methods is None else _names("methods", methods, credentials, upper=True)
    )
    allow_headers = None if headers is None else ", ".join(_names("headers", headers, credentials))
    expose_value = None if expose is None else ", ".join(_names("expose", expose, credentials))
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise ValueError(f"cors(max_age=...) takes seconds as an int >= 0, not {max_age!r}")

    # Constant headers, built once; only Access-Control-Allow-Origin may
    # depend on the request (the echoed origin).
    common = [("Access-Control-Allow-Credentials", "true")] if credentials else []
    actual_tail = tuple(
        common + ([("Access-Control-Expose-Headers", expose_value)] if expose_value else [])
    )
    preflight_tail = [*common, ("Access-Control-Allow-Methods", allow_methods)]
    if allow_headers:
        preflight_tail.append(("Access-Control-Allow-Headers", allow_headers))
    preflight_tail.append(("Access-Control-Max-Age", str(max_age)))
    preflight_headers = tuple(preflight_tail)
    allowed = _slow_matcher(any_origin, globs, patterns)
    star = (_ALLOW_ORIGIN, "*") if any_origin else None
    echo_headers = allow_headers is None

    def cors_middleware(req: Request, res: Res, next: Next) -> None:
        environ = req.environ
        origin = environ.get("HTTP_ORIGIN")
        # PERF: appending prebuilt tuples to the builder's list skips
        # set_header's checks (done once above) and its scan for old values.
        out = res._headers
        if origin is None or (origin not in exact and (allowed is None or not allowed(origin))):
            out.append(_VARY_ORIGIN)
            next()
            _keep_vary(res)
            return
        allow_origin = star or (_ALLOW_ORIGIN, origin)
        if req.method == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            out.append(_VARY_PREFLIGHT)
            requested = _check_preflight(environ)
            out.append(allow_origin)
            out.extend(preflight_headers)
            if echo_headers and requested:
                out.append(("Access-Control-Allow-Headers", requested))
            res.status(204).end()
            return
        out.append(_VARY_ORIGIN)
        out.append(allow_origin)
        if actual_tail:
            out.extend(actual_tail)
        next()
        _keep_vary(res)

    return cors_middleware


def _keep_vary(res: Res) -> None:
    # NOTE: a handler's res.set_header("Vary", ...) (or res.headers["Vary"]
    # = ...) replaces every Vary line, ours included; put it back.  The
    # store is read again, not the one held before next(): a handler that
    # read res.headers made that view the store.  The usual case is one
    # identity comparison.
    out = res._headers
    if _VARY_ORIGIN not in out:
        out.append(_VARY_ORIGIN)


def _check_preflight(environ: dict[str, Any]) -> str:
    """Check a preflight's requests; return the header names it asks for.

    The answer to a preflight is the policy, and the browser compares its
    request with it; the requested header names are the only thing ever
    reflected, and only once each is checked to be a token.

    :raises HTTPError: 400 for a malformed method or header list.
    """
    method = environ["HTTP_ACCESS_CONTROL_REQUEST_METHOD"]
    if not HTTP_TOKEN.fullmatch(method):
        raise HTTPError(400, "Access-Control-Request-Method must be a method name")
    requested = environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS")
    if not requested:
        return ""
    names = [name.strip(" \t").lower() for name in requested.split(",")]
    names = [name for name in names if name]  # empty list elements are allowed
    if not all(HTTP_TOKEN.fullmatch(name) for name in names):
        raise HTTPError(400, "Access-Control-Request-Headers must be a list of header names")
    return ", ".join(names)


def _slow_matcher(
    any_origin: bool, globs: list[str], patterns: list[re.Pattern[str]]
) -> Callable[[str], bool] | None:
    """The check for origins not listed exactly, or ``None`` if there is none."""
    if any_origin:
        return lambda origin: origin not in ("", "null")
    checks = [pattern.fullmatch for pattern in patterns]
    if globs:
        checks.insert(0, re.compile("|".join(f"(?:{glob})" for glob in globs)).fullmatch)
    if not checks:
        return None
    # PERF: a page sends the same Origin on every request; remembering the
    # verdict saves the regexes (~0.6 µs).  Bounded against forged origins:
    # only short ones are kept, and a full cache starts again.
    verdicts: dict[str, bool] = {}

    def allowed(origin: str) -> bool:
        verdict = verdicts.get(origin)
        if verdict is None:
            verdict = origin != "null" and any(check(origin) for check in checks)
            if len(origin) <= _CACHED_LENGTH:
                if len(verdicts) >= _CACHE_SIZE:
                    verdicts.clear()
                verdicts[origin] = verdict
        return verdict

    return allowed


def _parse_origins(
    origins: Iterable[str | re.Pattern[str]],
) -> tuple[frozenset[str], bool, list[str], list[re.Pattern[str]]]:
    """Sort *origins* into exact ones, ``*``, glob regexes and patterns."""
    if isinstance(origins, (str, re.Pattern)):
        raise TypeError(f"cors(origins=...) takes a list, e.g. [{origins!r}]")
    exact: set[str] = set()
    any_origin = False
    globs: list[str] = []
    patterns: list[re.Pattern[str]] = []
    for origin in origins:
        if isinstance(origin, re.Pattern):
            if not isinstance(origin.pattern, str):
                raise TypeError(f"cors origin pattern {origin!r} must be a str pattern")
            patterns.append(origin)
        elif not isinstance(origin, str):
            raise TypeError(f"a cors origin is a str or re.Pattern, not {type(origin).__name__}")
        elif origin == "*":
            any_origin = True
        elif origin == "null":
            exact.add(origin)
        elif "*" in origin:
            globs.append(_glob_regex(origin))
        else:
            exact.add(_normalise(origin))
    return frozenset(exact), any_origin, globs, patterns


def _split(origin: str) -> tuple[str, list[str], str | None]:
    """Return the scheme, host labels and port of a configured *origin*."""
    if origin.endswith("/") and "://" in origin and origin.count("/") == 3:
        raise ValueError(f"cors origin {origin!r} must not end with '/': write {origin[:-1]!r}")
    match = _ORIGIN.fullmatch(origin.lower())
    if match is None:
        raise ValueError(
            f"cors origin {origin!r} is not scheme://host[:port] "
            "(an origin has no path, query, user or trailing '/')"
        )
    scheme, host, port = match["scheme"], match["host"], match["port"]
    if port == _DEFAULT_PORTS.get(scheme):
        port = None  # browsers leave the default port out of Origin
    if port not in (None, "*") and int(port) > 65535:
        raise ValueError(f"cors origin {origin!r}: port out of range")
    if host.startswith("["):
        return scheme, [host], port  # an IPv6 literal, taken as written
    labels = []
    for label in host.split("."):
        if label != "*" and not label.isascii():
            try:
                label = label.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError(f"cors origin {origin!r}: invalid host label {label!r}") from None
        if label != "*" and not _LABEL.fullmatch(label):
            raise ValueError(
                f"cors origin {origin!r}: {label!r} is not a host label "
                "(a '*' must be a whole label, as in 'https://*.example.com')"
            )
        labels.append(label)
    return scheme, labels, port


def _normalise(origin: str) -> str:
    """An exact origin as browsers send it: lowercase, punycode, no default port."""
    scheme, labels, port = _split(origin)
    return f"{scheme}://{'.'.join(labels)}" + (f":{port}" if port else "")


def _glob_regex(origin: str) -> str:
    """The regex source matching glob *origin*, one label per ``*``."""
    scheme, labels, port = _split(origin)
    if labels[0].startswith("["):
        raise ValueError(f"cors origin {origin!r}: an IPv6 address takes no '*'")
    if labels[-1] == "*":
        raise ValueError(
            f"cors origin {origin!r}: a '*' may stand for a subdomain label or the "
            "port, not the last label of the host; use '*' alone to allow every origin"
        )
    if "*" in labels and len(labels) - 1 - max(i for i, x in enumerate(labels) if x == "*") < 2:
        # NOTE: "https://*.com" would allow every .com site, with credentials too.
        raise ValueError(
            f"cors origin {origin!r}: a '*' must be followed by at least two labels "
            "(a domain you own, as in 'https://*.example.com')"
        )
    host = r"\.".join(_GLOB_LABEL if label == "*" else re.escape(label) for label in labels)
    if port is None:
        return f"{re.escape(scheme)}://{host}"
    return f"{re.escape(scheme)}://{host}:{_GLOB_PORT if port == '*' else port}"


def _names(
    option: str, names: Iterable[str], credentials: bool, *, upper: bool = False
) -> list[str]:
    """Check method or header *names* (tokens) and return them de-duplicated."""
    if isinstance(names, str):
        raise TypeError(f"cors({option}=...) takes a list, e.g. [{names!r}]")
    result: list[str] = []
    for name in names:
        if not isinstance(name, str) or not HTTP_TOKEN.fullmatch(name):
            raise ValueError(f"cors({option}=...): {name!r} is not a valid name")
        if name == "*" and credentials:
            raise ValueError(
                f"cors({option}=['*']) is not a wildcard when credentials=True "
                "(browsers take it literally); list the names"
            )
        name = name.upper() if upper else name
        if name not in result:
            result.append(name)
    return result

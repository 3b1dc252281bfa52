"""``security_headers`` and ``request_id``: headers on every response.

Both add their headers *before* calling ``next()``, so the headers are on
every response the chain produces, errors included (404, 405, 500, and the
4xx of middleware registered after them).  They are defaults: a handler or
an inner middleware that sets the same header replaces them (the Swagger UI
page of ``Api(docs=True)`` sets its own ``Content-Security-Policy``), and a
value set by an outer middleware is kept.

The one response they never reach is the 400 for a ``Host`` outside
``Api(trusted_hosts=...)``: it is answered before any middleware runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..chain import before_only
from ..request import Request
from ..response import HeaderStore, Res, header_value
from ..types import Middleware, Next

__all__ = [
    "DEFAULT_CSP",
    "HSTS_PRELOAD_MIN_AGE",
    "MAX_REQUEST_ID_LENGTH",
    "request_id",
    "security_headers",
]

#: The default ``Content-Security-Policy``: an API response loads nothing
#: and is framed by nobody.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'"

#: The shortest ``max-age`` the HSTS preload list accepts (one year).
HSTS_PRELOAD_MIN_AGE = 31_536_000

#: The longest incoming request id that ``request_id(trust_header=True)`` keeps.
MAX_REQUEST_ID_LENGTH = 128

# 1 to 128 visible ASCII characters: no space, control, DEL or non-ASCII
# (WSGI hands header values over as latin-1 strings, so "é" is "\xe9").
# NOTE: nor a comma: servers join a repeated header with commas (gunicorn:
# "a,b"), and no id scheme in use has one.
_VALID_ID = re.compile(rf"[\x21-\x2b\x2d-\x7e]{{1,{MAX_REQUEST_ID_LENGTH}}}")

# NOTE: these middleware add to the builder's header list directly (see
# PERF below), bypassing what set_header notes about headers that describe
# the body; so they refuse to set those.
_BODY_HEADERS = frozenset({"content-type", "content-length", "etag"})

# The keyword that owns each header, to refuse it in extra=.
_OWNED = {
    "x-content-type-options": "content_type_options",
    "x-frame-options": "frame_options",
    "referrer-policy": "referrer_policy",
    "content-security-policy": "content_security_policy",
    "cross-origin-opener-policy": "cross_origin_opener_policy",
    "cross-origin-resource-policy": "cross_origin_resource_policy",
    "strict-transport-security": "hsts_max_age",
}


def _checked(name: str, value: object, option: str) -> tuple[str, str]:
    # Construction-time validation, so the hot path never validates.
    if not isinstance(value, str):
        raise TypeError(f"{option}: the value of {name} must be a str or None, not {value!r}")
    if not value.strip():
        raise ValueError(f"{option}: the value of {name} is empty; pass None to drop the header")
    if not value.isascii():
        # WSGI servers send latin-1 at best; a value they cannot would be a
        # 500 on every response.
        raise ValueError(f"{option}: the value of {name} must be ASCII")
    if name.lower() in _BODY_HEADERS:
        raise ValueError(f"{option}: {name} describes the body; set it in the handler")
    return name, header_value(name, value)


def _hsts_value(max_age: int, include_subdomains: bool, preload: bool) -> str:
    if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0:
        raise ValueError(f"hsts_max_age must be an int ≥ 0 (seconds) or None, not {max_age!r}")
    if preload and (not include_subdomains or max_age < HSTS_PRELOAD_MIN_AGE):
        raise ValueError(
            "hsts_preload=True needs hsts_include_subdomains=True and "
            f"hsts_max_age ≥ {HSTS_PRELOAD_MIN_AGE} (the preload list refuses less)"
        )
    value = f"max-age={max_age}"
    if include_subdomains:
        value += "; includeSubDomains"
    if preload:
        value += "; preload"
    return value


def _is_https(req: Request) -> bool:
    # PERF: req.scheme, without computing the lazy attribute (~0.15 µs): its
    # value when read or set, else the environ key it comes from (which
    # proxy_fix rewrites).
    scheme = req.__dict__.get("scheme") or req.environ.get("wsgi.url_scheme")
    return scheme == "https"


def security_headers(
    *,
    content_type_options: str | None = "nosniff",
    frame_options: str | None = "DENY",
    referrer_policy: str | None = "no-referrer",
    content_security_policy: str | None = DEFAULT_CSP,
    cross_origin_opener_policy: str | None = "same-origin",
    cross_origin_resource_policy: str | None = "same-origin",
    hsts_max_age: int | None = HSTS_PRELOAD_MIN_AGE,
    hsts_include_subdomains: bool = True,
    hsts_preload: bool = False,
    extra: Mapping[str, str] | None = None,
) -> Middleware:
    """Return middleware adding security headers to every response.

    Defaults fit a JSON API: nothing may sniff, frame, embed or load from
    its responses, and no URL of it leaks in a ``Referer``.  Each header is
    a default: a handler (or an inner middleware) that sets the same header
    wins.  Every keyword taking a string drops its header when ``None``.
    Register it after :func:`~microapi.middleware.proxy_fix`, so that HSTS
    follows the forwarded scheme.

    :param content_type_options: ``X-Content-Type-Options``.
    :param frame_options: ``X-Frame-Options``.
    :param referrer_policy: ``Referrer-Policy``.
    :param content_security_policy: ``Content-Security-Policy``
        (:data:`DEFAULT_CSP`).
    :param cross_origin_opener_policy: ``Cross-Origin-Opener-Policy``.
    :param cross_origin_resource_policy: ``Cross-Origin-Resource-Policy``;
        ``same-origin`` stops other sites embedding responses with
        ``<script>``/``<img>``, never a CORS ``fetch``.  Use
        ``"cross-origin"`` for public images or files.
    :param hsts_max_age: the ``max-age`` of ``Strict-Transport-Security``,
        sent on https requests only (a year by default); ``None`` drops it.
    :param hsts_include_subdomains: add ``includeSubDomains``.
    :param hsts_preload: add ``preload`` (needs ``includeSubDomains`` and a
        ``max-age`` of a year or more).
    :param extra: more headers to add, e.g. ``{"Permissions-Policy": "..."}``.
    :raises ValueError: for an empty or non-ASCII value, a value with a
        newline, a header that describes the body, or an ``extra`` header that a
        keyword above owns.
    :raises TypeError: for a value that is not a string.
    """
    options = {
        "content_type_options": ("X-Content-Type-Options", content_type_options),
        "frame_options": ("X-Frame-Options", frame_options),
        "referrer_policy": ("Referrer-Policy", referrer_policy),
        "content_security_policy": ("Content-Security-Policy", content_security_policy),
        "cross_origin_opener_policy": ("Cross-Origin-Opener-Policy", cross_origin_opener_policy),
        "cross_origin_resource_policy": (
            "Cross-Origin-Resource-Policy",
            cross_origin_resource_policy,
        ),
    }
    pairs = [
        _checked(name, value, option)
        for option, (name, value) in options.items()
        if value is not None
    ]
    for name, value in (extra or {}).items():
        owner = _OWNED.get(name.lower())
        if owner is not None:
            raise ValueError(f"extra: set {name} with {owner}=, not extra=")
        if any(name.lower() == known.lower() for known, _ in pairs):
            raise ValueError(f"extra: {name} is given twice")
        pairs.append(_checked(name, value, "extra"))
    hsts = None
    if hsts_max_age is not None:
        hsts = (
            "Strict-Transport-Security",
            _hsts_value(hsts_max_age, hsts_include_subdomains, hsts_preload),
        )
    defaults = tuple(pairs)
    named = tuple((name.lower(), name, value) for name, value in defaults)
    ours = frozenset(lower for lower, _, _ in named) | {"strict-transport-security"}

    def merge(req: Request, headers: HeaderStore) -> None:
        # An outer middleware set some of these headers: its values stay.
        present = {name.lower() for name, _ in headers}
        headers.extend([(name, value) for lower, name, value in named if lower not in present])
        if hsts is not None and "strict-transport-security" not in present and _is_https(req):
            headers.append(hsts)

    def security_headers_middleware(req: Request, res: Res, next: Next) -> None:
        # PERF: one list extend of prebuilt, prevalidated pairs instead of
        # a set_header call (regex + list rebuild) per header.
        headers = res._headers
        for name, _ in headers:  # usually none, or request_id's
            if name.lower() in ours:
                merge(req, headers)
                break
        else:
            headers.extend(defaults)
            if hsts is not None and _is_https(req):
                headers.append(hsts)
        next()

    return before_only(security_headers_middleware)


def request_id(*, trust_header: bool = False, header: str = "X-Request-ID") -> Middleware:
    """Return middleware giving each request an id, echoed in *header*.

    Sets ``req.id`` (which error and access log lines name) and adds it to
    every response, errors included.  The id is 32 random hex digits
    (``req.id``'s default) unless the header is trusted and the request
    carries a valid one.

    :param trust_header: use the id in the incoming *header* when it is 1
        to :data:`MAX_REQUEST_ID_LENGTH` visible ASCII characters (no space,
        comma, control or non-ASCII character); any other value is replaced
        by a new id.  Trust it only behind a proxy that sets or strips it:
        clients choose what they send.
    :param header: the request and response header carrying the id.
    :raises ValueError: for a header name that is not an HTTP token or
        that describes the body.
    """
    name, _ = _checked(header, "-", "header")
    # NOTE: WSGI environ key of the header; a client cannot reach it with
    # "X_Request_ID" through gunicorn, which drops names with underscores.
    key = "HTTP_" + name.upper().replace("-", "_")
    valid = _VALID_ID.fullmatch

    if not trust_header:

        def request_id_middleware(req: Request, res: Res, next: Next) -> None:
            # PERF: appended, not set_header; a handler's set_header replaces it.
            res._headers.append((name, req.id))
            next()

        return before_only(request_id_middleware)

    def trusting_request_id_middleware(req: Request, res: Res, next: Next) -> None:
        incoming = req.environ.get(key)
        if incoming is not None and valid(incoming):
            req.id = incoming  # what req.id returns from now on
        res._headers.append((name, req.id))
        next()

    return before_only(trusting_request_id_middleware)

"""``proxy_fix``: trust ``X-Forwarded-*`` from a known number of proxies.

Behind a reverse proxy the server sees the proxy's address and scheme; the
proxy tells the client's in ``X-Forwarded-For``/``-Proto``/``-Host``/
``-Port``/``-Prefix``.  Those headers are only as trustworthy as the
proxies that set them: a client can send them too.  So, as in werkzeug's
:class:`~werkzeug.middleware.proxy_fix.ProxyFix`, each header is trusted
for a number of proxies: with ``x_for=1`` the *last* value of
``X-Forwarded-For`` (the one the nearest proxy appended) is the client;
values a client prepended are ignored, and so is a header with fewer
values than proxies configured.  Without ``proxy_fix`` the headers change
nothing.  The client's entry counts only if it is an IP address,
normalised (:func:`~.addresses.normalise_address`: no port, no brackets,
IPv4-mapped unmapped, IPv6 compressed); anything else (``unknown``, a
host name, garbage) leaves the peer's address.

Headers without a ``"`` (what proxies send) are applied by this module's
own code, which follows ``ProxyFix`` rule for rule and leaves exactly the
environ it would (``werkzeug.proxy_fix.orig`` included; a property test
compares the two on generated headers).  When a configured header has a
``"`` (a quoted list item, with its escapes), a stock ``ProxyFix`` does
the work, with werkzeug's parser for quoting.

Register it first (``api.middleware(proxy_fix())`` before anything
else): it rewrites ``req.environ`` and forgets what ``req`` had computed
from it, but middleware that ran before it saw the proxy's values.

NOTE: gunicorn applies ``X-Forwarded-Proto`` itself (``wsgi.url_scheme``)
when the peer is in its ``--forwarded-allow-ips`` (127.0.0.1 by default),
with or without ``proxy_fix``; it never touches ``REMOTE_ADDR``.

It is middleware rather than a WSGI wrapper so that a ``Host`` forwarded
with ``x_host`` is still checked against ``Api(trusted_hosts=...)`` and
answered 400 when not trusted.  Wrapping the app the werkzeug way
(``api.wsgi_app = ProxyFix(api.wsgi_app, ...)``) works too, and then the
forwarded host is checked before routing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from ..chain import before_only
from ..errors import HTTPError
from ..request import Request
from ..response import Res
from ..types import Middleware, Next
from .addresses import normalise_address

__all__ = ["proxy_fix"]

# What req computes from the environ keys ProxyFix rewrites (REMOTE_ADDR,
# wsgi.url_scheme, HTTP_HOST, SERVER_NAME, SERVER_PORT, SCRIPT_NAME):
# microapi's lazy attributes and werkzeug's cached properties, both stored
# in req.__dict__ once read.
_DERIVED = frozenset(
    {
        "remote_addr",
        "scheme",
        "server",
        "root_path",
        "host",
        "url",
        "base_url",
        "root_url",
        "host_url",
        "url_root",
        "access_route",
    }
)


# The environ keys of the headers, by ProxyFix's keyword.
_KEYS = {
    "x_for": "HTTP_X_FORWARDED_FOR",
    "x_proto": "HTTP_X_FORWARDED_PROTO",
    "x_host": "HTTP_X_FORWARDED_HOST",
    "x_port": "HTTP_X_FORWARDED_PORT",
    "x_prefix": "HTTP_X_FORWARDED_PREFIX",
}


def _trusted_item(count: int, value: str | None) -> str | None:
    """The *count*-th item from the end of an unquoted list header, or ``None``.

    What ``ProxyFix`` takes from a header without ``"``: werkzeug's
    ``parse_list_header`` splits such a value at every ``,``, strips spaces
    and tabs from each item and drops the empty ones; there are no quotes to
    undo.  ``None`` for a count of 0, an absent or empty header, or fewer
    items than *count*.
    """
    if not (count and value):
        return None
    if "," not in value:
        # PERF: one item (one proxy, one hop), the common case: ~85 ns,
        # against ~1.2 µs for parse_list_header("203.0.113.7").
        item = value.strip(" \t")
        return item if item and count == 1 else None
    # The count-th non-empty item from the end: proxies append.
    for part in reversed(value.split(",")):
        item = part.strip(" \t")
        if item:
            count -= 1
            if not count:
                return item
    return None


def _apply_unquoted(
    environ: dict[str, Any], x_for: int, x_proto: int, x_host: int, x_port: int, x_prefix: int
) -> None:
    """Rewrite *environ* as ``ProxyFix(app, x_for=..., ...)`` would, for unquoted headers.

    Step for step werkzeug's ``ProxyFix.__call__``, but with
    :func:`_trusted_item` for ``parse_list_header``: the same
    ``werkzeug.proxy_fix.orig`` dict, the same keys set in the same order.
    Only for headers without ``"``: ``test_the_fast_path_leaves_werkzeugs_environ``
    holds the two to the same result.

    NOTE: the parsing is that of werkzeug 3.1.7 and later, which drop
    empty items and strip only spaces and tabs (3.1.0 to 3.1.6 kept empty
    items: ``"a,,b"`` had three).
    """
    get = environ.get
    environ["werkzeug.proxy_fix.orig"] = {
        "REMOTE_ADDR": get("REMOTE_ADDR"),
        "wsgi.url_scheme": get("wsgi.url_scheme"),
        "HTTP_HOST": get("HTTP_HOST"),
        "SERVER_NAME": get("SERVER_NAME"),
        "SERVER_PORT": get("SERVER_PORT"),
        "SCRIPT_NAME": get("SCRIPT_NAME"),
    }
    forwarded_for = _trusted_item(x_for, get("HTTP_X_FORWARDED_FOR"))
    if forwarded_for:
        environ["REMOTE_ADDR"] = forwarded_for
    forwarded_proto = _trusted_item(x_proto, get("HTTP_X_FORWARDED_PROTO"))
    if forwarded_proto:
        environ["wsgi.url_scheme"] = forwarded_proto
    forwarded_host = _trusted_item(x_host, get("HTTP_X_FORWARDED_HOST"))
    if forwarded_host:
        environ["HTTP_HOST"] = environ["SERVER_NAME"] = forwarded_host
        # A ":" not in a bracketed IPv6 address ("[::1]") starts a port;
        # an unbracketed IPv6 address is split at its last ":", as werkzeug does.
        if ":" in forwarded_host and not forwarded_host.endswith("]"):
            environ["SERVER_NAME"], environ["SERVER_PORT"] = forwarded_host.rsplit(":", 1)
    forwarded_port = _trusted_item(x_port, get("HTTP_X_FORWARDED_PORT"))
    if forwarded_port:
        host = get("HTTP_HOST")
        if host:
            if ":" in host and not host.endswith("]"):
                host = host.rsplit(":", 1)[0]
            environ["HTTP_HOST"] = f"{host}:{forwarded_port}"
        environ["SERVER_PORT"] = forwarded_port
    forwarded_prefix = _trusted_item(x_prefix, get("HTTP_X_FORWARDED_PREFIX"))
    if forwarded_prefix:
        environ["SCRIPT_NAME"] = forwarded_prefix


def _capture(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    # ProxyFix rewrites the environ in place and calls its app: this one.
    return ()


def _no_start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None, /
) -> Callable[[bytes], object]:  # pragma: no cover - never called
    raise AssertionError("proxy_fix's inner app does not respond")


def proxy_fix(
    *, x_for: int = 1, x_proto: int = 1, x_host: int = 0, x_port: int = 0, x_prefix: int = 0
) -> Middleware:
    """Return middleware applying ``X-Forwarded-*`` headers from proxies.

    Each number is how many proxies in front of the app set that header
    (werkzeug's defaults: one for ``-For`` and ``-Proto``); ``0`` ignores
    the header.  Afterwards ``req.remote_addr``, ``req.scheme`` (and with
    it ``Secure`` cookies and HSTS), ``req.host``, ``req.url`` and
    ``req.root_path`` are the client's.

    :param x_for: proxies setting ``X-Forwarded-For`` (``req.remote_addr``);
        only an IP address is taken, normalised.
    :param x_proto: proxies setting ``X-Forwarded-Proto`` (``req.scheme``);
        only ``http`` and ``https`` (any case) are taken.
    :param x_host: proxies setting ``X-Forwarded-Host`` (``req.host``),
        checked against ``Api(trusted_hosts=...)``: 400 when not trusted.
    :param x_port: proxies setting ``X-Forwarded-Port``.
    :param x_prefix: proxies setting ``X-Forwarded-Prefix``
        (``SCRIPT_NAME``, so ``req.root_path`` and ``req.url_for``); made
        to start with exactly one ``/``.
    :raises ValueError: for a count that is not an int ≥ 0.
    """
    counts = {
        "x_for": x_for,
        "x_proto": x_proto,
        "x_host": x_host,
        "x_port": x_port,
        "x_prefix": x_prefix,
    }
    for option, count in counts.items():
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"{option} must be an int ≥ 0 (a number of proxies), not {count!r}")
    # PERF: one ProxyFix for every request; it keeps no per-request state.
    fix = ProxyFix(_capture, **counts)
    keys = tuple(_KEYS[option] for option, count in counts.items() if count)
    host_changes = bool(x_host or x_port)

    def proxy_fix_middleware(req: Request, res: Res, next: Next) -> None:
        environ = req.environ
        for key in keys:
            if key in environ:
                break
        else:
            # PERF: no forwarded header (a health check, a direct request):
            # nothing would change.
            next()
            return
        for key in keys:
            if '"' in environ.get(key, ""):
                # Quoting: werkzeug's parser, for its exact reading of it.
                fix(environ, _no_start_response)
                break
        else:
            # PERF: with X-Forwarded-For and -Proto the middleware costs
            # ~2.1 µs this way, ~4.6 µs through ProxyFix, whose
            # parse_list_header reads each value character by character.
            _apply_unquoted(environ, x_for, x_proto, x_host, x_port, x_prefix)
        original = environ["werkzeug.proxy_fix.orig"]
        address = environ.get("REMOTE_ADDR")
        if address is not None and address != original["REMOTE_ADDR"]:
            # NOTE: werkzeug takes any text: "not-an-ip" or "1.2.3.4:5678"
            # would each be a client of its own (and a rate-limit key).
            environ["REMOTE_ADDR"] = normalise_address(address) or original["REMOTE_ADDR"]
        scheme = environ.get("wsgi.url_scheme")
        if scheme is not None and scheme != original["wsgi.url_scheme"]:
            # NOTE: werkzeug takes any word; anything but http/https would
            # make URLs like "javascript://..." and is ignored.
            scheme = scheme.lower()
            environ["wsgi.url_scheme"] = (
                scheme if scheme in ("http", "https") else original["wsgi.url_scheme"]
            )
        if x_prefix:
            prefix = environ.get("SCRIPT_NAME", "")
            if prefix != original["SCRIPT_NAME"]:
                # NOTE: "//evil.example" as a prefix would turn the
                # trailing-slash redirect into a redirect to another host.
                prefix = prefix.strip("/")
                environ["SCRIPT_NAME"] = f"/{prefix}" if prefix else ""
        cached = req.__dict__
        if not cached.keys().isdisjoint(_DERIVED):
            for name in _DERIVED:
                cached.pop(name, None)
        if host_changes and req.trusted_hosts:
            try:
                req.host  # noqa: B018 - werkzeug checks it against trusted_hosts
            except SecurityError:
                # NOTE: a fixed detail, as for the Host header itself:
                # werkzeug's repeats the attacker's value in the body.
                raise HTTPError(400, "the forwarded host is not trusted") from None
        next()

    return before_only(proxy_fix_middleware)

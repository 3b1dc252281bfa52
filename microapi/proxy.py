"""Forward a request to an upstream HTTP API: the Next.js "indirect proxy".

A route that adds a server-side secret and streams the upstream's answer
back, the client never seeing the key::

    from microapi.proxy import forward

    @api.route("/api/weather")
    def weather(req, res):
        return forward(req, res, WEATHER_URL, params={"appid": os.environ["WEATHER_KEY"]})

Secure by default: only the request headers in :data:`FORWARDED_HEADERS`
go upstream (never the client's ``Cookie``, ``Authorization`` or
``Host`` unless listed), only the response headers in
:data:`RESPONSE_HEADERS` come back, hop-by-hop headers never cross in
either direction, redirects are not followed, nothing is retried, and no
error response or log line names the upstream or the secret.

Built on urllib3 (``pip install "microapi-wsgi[proxy]"``), imported on first use.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import suppress
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, unquote_plus, urlencode, urlsplit, urlunsplit

from .errors import HTTPError
from .extras import install_hint
from .protocol import loggable_path
from .response import header_value

if TYPE_CHECKING:
    import urllib3

    from .request import Request
    from .response import Res

__all__ = [
    "FORWARDED_HEADERS",
    "HOP_BY_HOP",
    "RESPONSE_HEADERS",
    "UpstreamBodyError",
    "close_pool",
    "forward",
    "get_pool",
]

log = logging.getLogger("microapi.proxy")

#: Headers that describe one connection, never forwarded either way
#: (RFC 9110 §7.6.1), plus the headers a ``Connection`` header lists.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",  # non-standard, still sent by some clients
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

#: Client request headers forwarded by default: content negotiation,
#: conditional requests and the body's own description.  Not ``Cookie``,
#: ``Authorization``, ``Host``, ``User-Agent`` or ``X-Forwarded-*``.
FORWARDED_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "content-encoding",
        "content-language",
        "content-type",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "range",
    }
)

#: Upstream response headers passed back by default.  Not ``Set-Cookie``
#: (it would set cookies on your domain), ``Location`` or ``Link`` (they
#: name the upstream), CORS headers (your policy decides) or ``Server``.
RESPONSE_HEADERS = frozenset(
    {
        "accept-ranges",
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-language",
        "content-range",
        "content-type",
        "etag",
        "expires",
        "last-modified",
        "retry-after",
        "vary",
    }
)

# Framing headers: forward() and the WSGI server decide them.
_FRAMING = frozenset({"content-length"})
# Headers describing the client's body: dropped when forward() is given
# another body.
_BODY_DESCRIPTION = frozenset({"content-type", "content-encoding", "content-language"})
# The 502s' details: they never name the upstream.
_UNAVAILABLE = "the upstream service is unavailable"
_INVALID = "the upstream service sent an invalid response"
#: Largest piece read from either body at once.
CHUNK_SIZE = 64 * 1024
# RFC 3986 query characters kept as they are in the client's query; ";"
# is escaped because some upstreams still split parameters on it.
_QUERY_SAFE = "/?:@!$'()*,=%+"

# One PoolManager per process, keyed by pid: after a fork the child must
# not share the parent's sockets.  NOTE: dict.setdefault is atomic, so two
# threads racing at start-up agree on one pool without a lock (a lock held
# by another thread at fork time would stay locked in the child forever).
_pools: dict[int, urllib3.PoolManager] = {}


class UpstreamBodyError(Exception):
    """The upstream's body broke off after the response had started.

    Raised from the body iterator, so that the WSGI server closes the
    connection: the status and headers are already sent and cannot turn
    into a 502, and the client sees a truncated response instead of one
    that looks complete.  The message names the route, never the upstream.
    """


def get_pool() -> urllib3.PoolManager:
    """Return this process's shared :class:`urllib3.PoolManager`.

    Created on first use, and again in a forked child (gunicorn workers
    fork after the app is imported).  It keeps up to 32 idle connections
    for each of up to 32 upstream hosts; it neither retries nor follows
    redirects.

    :raises ImportError: when urllib3 (2.3 or later) is not installed.
    """
    pid = os.getpid()
    pool = _pools.get(pid)
    if pool is not None:
        return pool
    try:
        import urllib3  # NOTE: optional (the proxy extra), hence imported when first used
    except ImportError:
        raise ImportError(
            f"microapi.proxy needs urllib3 2.3 or later: {install_hint('proxy')}"
        ) from None
    if not hasattr(urllib3.HTTPResponse, "read1"):  # added in urllib3 2.3
        raise ImportError("microapi.proxy needs urllib3 2.3 or later: pip install -U urllib3")
    pool = _pools.setdefault(pid, urllib3.PoolManager(num_pools=32, maxsize=32, retries=False))
    # A copy: another thread may add or drop a pool meanwhile.
    for other in [key for key in list(_pools) if key != pid]:
        # Inherited from the parent: closing the child's copies of its
        # sockets leaves the parent's connections open.
        stale = _pools.pop(other, None)
        if stale is not None:
            stale.clear()
    return pool


def close_pool() -> None:
    """Close this process's shared pool and its idle connections.

    For shutdown hooks and tests; the next :func:`forward` makes a new one.
    """
    pool = _pools.pop(os.getpid(), None)
    if pool is not None:
        pool.clear()


def forward(
    req: Request,
    res: Res,
    url: str,
    *,
    method: str | None = None,
    params: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
    forward_query: bool = True,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | Iterable[bytes] | None = None,
    forward_headers: Collection[str] = FORWARDED_HEADERS,
    response_headers: Collection[str] = RESPONSE_HEADERS,
    timeout: float | urllib3.Timeout = 5.0,
    pool: urllib3.PoolManager | None = None,
) -> Res:
    """Send *req* to the upstream *url* and stream its answer into *res*.

    The upstream's status, its :data:`RESPONSE_HEADERS` and its body (byte
    for byte: nothing is decompressed) become the response; 4xx and 5xx
    answers pass through as they are.  Returns *res*, so a handler may
    ``return forward(...)``.

    :param req: the request to forward.
    :param res: the response to fill; nothing may have been sent yet.
    :param url: the absolute ``http(s)://`` URL to call, chosen by the
        server (never built from client input).  Its own query parameters
        are kept and cannot be overridden by the client.
    :param method: the upstream method; ``req.method`` by default.
    :param params: query parameters to add, e.g. an API key (a mapping, or
        pairs to repeat a name).  They replace any client parameter of the
        same name, compared without case.
    :param forward_query: whether the client's query string goes upstream.
    :param headers: request headers to add or replace, e.g.
        ``{"Authorization": f"Bearer {key}"}``; trusted as given.
    :param body: a body to send instead of the client's (``b""`` for
        none; an iterable is sent chunked).  The client's ``Content-Type``,
        ``-Encoding`` and ``-Language`` then stay behind: give the new
        body's in *headers*.  By default the client's body is forwarded:
        streamed from ``req.stream`` on ``body_parser=False`` routes, else
        ``req.get_data()``; either way within the route's body limit (413
        beyond it, before the upstream is contacted when the length is known).
    :param forward_headers: names of the client headers to forward.  Add
        ``"authorization"``, ``"cookie"`` or ``"host"`` here to forward them.
    :param response_headers: names of the upstream headers to pass back.
    :param timeout: seconds allowed to connect, and for each read from the
        upstream; or a :class:`urllib3.Timeout`.
    :param pool: the :class:`urllib3.PoolManager` to use; the process's
        shared one (:func:`get_pool`) by default.
    :raises HTTPError: 504 when the upstream does not connect or answer
        within *timeout*, 502 when it cannot be reached or its answer is
        broken (its head, or its body from the first byte: the response
        starts once the body's first bytes have arrived).  The detail never
        names the upstream.
    :raises ValueError: for a URL that is not absolute http(s), a
        hop-by-hop name in *forward_headers* or *response_headers*, or a
        header value with a newline; the message never shows the value.
    :raises RuntimeError: when *res* was already sent, or the handler read
        part of ``req.stream`` (pass what it read as *body*).

    .. versionadded:: 0.1
    """
    if res.sent:
        raise RuntimeError("forward() needs a response that was not sent yet")
    scheme, netloc, path, url_query, _ = urlsplit(url)
    if scheme not in ("http", "https") or not netloc:
        # NOTE: never echo the URL: it may carry a key.
        raise ValueError("forward() needs an absolute http:// or https:// URL")
    forwarded = _names(forward_headers, FORWARDED_HEADERS, "forward_headers")
    passed = _names(response_headers, RESPONSE_HEADERS, "response_headers")

    if pool is None:
        pool = get_pool()
    # Case-insensitive by key: the pool's defaults, then the client's
    # headers, then the server's, each replacing the one before.
    out = {name.lower(): (name, value) for name, value in pool.headers.items()}
    out.update(_request_headers(req, forwarded, replacing_body=body is not None))
    for name, value in (headers or {}).items():
        if "\n" in value or "\r" in value or "\0" in value:
            # The value is likely a secret (read from a file with its
            # trailing newline): name the header, never show the value.
            raise ValueError(f"forward(): header {name!r} has a newline or NUL in its value")
        out[name.lower()] = (name, value)

    extra = list(params.items() if isinstance(params, Mapping) else params or ())
    query = _query(url_query, req.environ.get("QUERY_STRING", ""), extra, forward_query)
    target = urlunsplit((scheme, netloc, path or "/", query, ""))
    payload, length = _body(req, body)
    if length is not None:
        out["content-length"] = ("Content-Length", str(length))

    import urllib3  # NOTE: optional; present by now (_pool checked it)

    if not isinstance(timeout, urllib3.Timeout):
        timeout = urllib3.Timeout(connect=timeout, read=timeout)
    where = _where(req)
    try:
        response = pool.urlopen(
            method or req.method,
            target,
            body=payload,
            headers=dict(out.values()),
            retries=False,
            redirect=False,
            preload_content=False,
            decode_content=False,
            timeout=timeout,
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _failed(exc, "unavailable", _UNAVAILABLE, where, req.id) from None
    try:
        return _respond(res, response, passed, where, req.id)
    except BaseException:
        response.close()
        response.release_conn()
        raise


def _names(names: Collection[str], default: frozenset[str], what: str) -> frozenset[str]:
    if names is default:  # PERF: the usual case, already checked
        return default
    lowered = frozenset(name.lower() for name in names)
    refused = lowered & (HOP_BY_HOP | _FRAMING)
    if refused:
        raise ValueError(
            f"forward(): {what} lists {', '.join(sorted(refused))}; hop-by-hop and "
            "framing headers are never forwarded (forward() sets them itself)"
        )
    return lowered


def _connection_listed(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    return frozenset(token.strip().lower() for token in value.split(",") if token.strip())


def _request_headers(
    req: Request, forwarded: frozenset[str], replacing_body: bool
) -> dict[str, tuple[str, str]]:
    """The client headers to forward, keyed by lowercased name."""
    dropped = _connection_listed(req.headers.get("Connection"))
    out: dict[str, tuple[str, str]] = {}
    for name, value in req.headers.items():
        lower = name.lower()
        if lower not in forwarded or lower in dropped:
            continue
        if replacing_body and lower in _BODY_DESCRIPTION:
            continue
        out[lower] = (name, value)
    return out


def _field_name(field: str) -> str:
    return unquote_plus(field.partition("=")[0], errors="replace").casefold()


def _query(url_query: str, client_query: str, extra: list[tuple[str, str]], client: bool) -> str:
    """Merge the URL's query, the client's and *extra*; the server's win."""
    overridden = {name.casefold() for name, _ in extra}
    fields = [f for f in url_query.split("&") if f and _field_name(f) not in overridden]
    if client and client_query:
        # A client must not override, or repeat, a parameter the server
        # sets: an upstream might read the client's copy of an API key.
        fixed = overridden | {_field_name(f) for f in fields}
        # NOTE: QUERY_STRING holds the raw bytes as latin-1 (PEP 3333);
        # quoting them first makes names compare as UTF-8.
        quoted = (quote(f.encode("latin-1"), safe=_QUERY_SAFE) for f in client_query.split("&"))
        fields += [f for f in quoted if f and _field_name(f) not in fixed]
    if extra:
        fields.append(urlencode(extra, quote_via=quote))
    return "&".join(fields)


def _body(req: Request, body: bytes | str | Iterable[bytes] | None) -> tuple[Any, int | None]:
    """What to send upstream, and its length when forward() must state it."""
    if body is not None:
        if isinstance(body, str):
            body = body.encode()
        return (body or None) if isinstance(body, bytes) else body, None
    length = req.content_length
    chunked = "chunked" in req.headers.get("Transfer-Encoding", "").lower()
    if length is None and not chunked:
        return None, None
    # NOTE: req.get_data()'s cache: a body the handler already read (to
    # verify a signature, say) is no longer in the stream.
    cached = req._data
    route = req.route
    if cached is None and (route is None or route.body_parser):
        cached = req.get_data()  # bounded by the body limit, and req.body still works
    if cached is not None:
        return cached, len(cached)
    stream = req.stream  # raises 413 (Content-Length over the limit) or 411 now
    tell = getattr(stream, "tell", None)
    if tell is not None and tell() > 0:
        raise RuntimeError(
            "forward(): the request body was partly read from req.stream; "
            "pass the bytes to forward with body=..."
        )
    return _read_client(stream), length


def _read_client(stream: IO[bytes]) -> Iterator[bytes]:
    # NOTE: req.stream is a werkzeug LimitedStream: a client that goes away
    # raises ClientDisconnected (400), which urllib3 lets through, rather
    # than an OSError that it would blame on the upstream (502).
    while chunk := stream.read(CHUNK_SIZE):
        yield chunk


def _is_timeout(exc: BaseException) -> bool:
    import urllib3.exceptions as errors  # NOTE: optional; present once a request was sent

    if isinstance(exc, errors.NewConnectionError):
        return False  # urllib3 2 derives it from ConnectTimeoutError
    if isinstance(exc, (errors.TimeoutError, TimeoutError)):
        return True
    # A timeout while sending the body arrives wrapped.
    return any(isinstance(arg, TimeoutError) for arg in exc.args)


def _failed(exc: BaseException, what: str, detail: str, where: str, rid: str) -> HTTPError:
    """Log an upstream failure in one line; the 504, or the 502 with *detail*."""
    # NOTE: urllib3's messages name the host (and, in URLs, the query with
    # its key): log the class only; callers raise without the cause.
    timed_out = _is_timeout(exc)
    log.warning(
        "upstream %s (%s) in %s",
        "timed out" if timed_out else what,
        type(exc).__name__,
        where,
        extra={"request_id": rid},
    )
    if timed_out:
        return HTTPError(504, "the upstream service did not answer in time")
    return HTTPError(502, detail)


def _where(req: Request) -> str:
    route = req.route.name if req.route is not None else None
    return f"{req.method} {loggable_path(req.path)} (route {route}) [request_id={req.id}]"


def _respond(
    res: Res, response: urllib3.BaseHTTPResponse, passed: frozenset[str], where: str, rid: str
) -> Res:
    status = response.status
    if not 200 <= status <= 599:
        log.warning("upstream sent status %d in %s", status, where, extra={"request_id": rid})
        raise HTTPError(502, _INVALID)
    import urllib3  # NOTE: optional; present once a request was sent

    try:
        # The body's first piece is read before the response starts: a body
        # broken from its first byte (bad framing) is then a 502.  Once the
        # response has started, a server can only close the connection; and
        # from inside the body, before any byte, it would answer 500.
        first = response.read1(CHUNK_SIZE, decode_content=False)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _failed(exc, "sent a broken body", _INVALID, where, rid) from None
    dropped = _connection_listed(response.headers.get("Connection"))
    content_type = "application/octet-stream"
    replaced: set[str] = set()
    for name, value in response.headers.items():
        lower = name.lower()
        if lower not in passed or lower in dropped or lower in HOP_BY_HOP or lower in _FRAMING:
            continue
        if lower == "content-type":
            with suppress(ValueError):  # one microapi refuses to send: the default
                content_type = header_value(name, value)
            continue
        try:
            # Vary adds to what middleware set (CORS's Vary: Origin); the
            # rest replaces it, then repeats append.
            if lower == "vary" or lower in replaced:
                res.append_header(name, value)
            else:
                res.set_header(name, value)
                replaced.add(lower)
        except ValueError:
            continue  # a value microapi refuses to send (NUL): drop it
    # NOTE: the upstream's Content-Length is not copied: res.stream lets the
    # server frame the body (chunked on HTTP/1.1), and a body that breaks
    # off is then signalled by closing the connection.
    body = _UpstreamBody(response, first, where, rid)
    res.status(status).stream(body, content_type=content_type)
    return res


class _UpstreamBody:
    """The upstream's body as a WSGI iterable that gives its connection back."""

    __slots__ = ("_done", "_first", "_response", "_rid", "_where")

    def __init__(
        self, response: urllib3.BaseHTTPResponse, first: bytes, where: str, rid: str
    ) -> None:
        self._response = response
        self._first = first
        self._where = where
        self._rid = rid
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        import urllib3  # NOTE: optional; present once a request was sent

        response = self._response
        chunk = self._first  # empty: so is the body
        sent = 0
        try:
            while chunk:
                sent += len(chunk)
                yield chunk
                # read1: whatever has arrived, so server-sent events and
                # other slow streams reach the client as they come.
                chunk = response.read1(CHUNK_SIZE, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.warning(
                "upstream body broke off after %d bytes (%s) in %s; closing the connection",
                sent,
                type(exc).__name__,
                self._where,
                extra={"request_id": self._rid},
            )
            self.close()
            raise UpstreamBodyError(
                f"upstream body broke off after {sent} bytes ({type(exc).__name__}) "
                f"in {self._where}"
            ) from None
        self._done = True
        response.release_conn()

    def close(self) -> None:
        """Give the connection back to the pool, or close it if mid-body."""
        response = self._response
        if not self._done:
            self._done = True
            if response.length_remaining == 0:
                # HEAD, 204, 304 or a body read to its end: nothing is left
                # on the wire, so the connection can be reused.
                response.drain_conn()
            else:
                # Unread bytes would corrupt the next request: discard it.
                log.debug("client stopped reading in %s", self._where)
                response.close()
        response.release_conn()

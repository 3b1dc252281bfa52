"""``res``: the chainable response builder, emitted straight to WSGI.

Handlers call ``res.status(201).json({...})`` as in Next.js.  Nothing is
written until the whole middleware chain has returned, so middleware can
still set headers after ``next()``.  The builder then hands the status
line, a header list and the body to the WSGI server directly; a werkzeug
``Response`` is made only for files and for handlers that return one.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable, Iterator
from os import PathLike
from typing import IO, TYPE_CHECKING, Any, TypeAlias
from zlib import crc32

from werkzeug.datastructures import Headers
from werkzeug.exceptions import NotFound
from werkzeug.http import (
    HTTP_STATUS_CODES,
    dump_cookie,
    dump_options_header,
    parse_etags,
    unquote_etag,
)
from werkzeug.security import safe_join
from werkzeug.urls import iri_to_uri
from werkzeug.utils import send_file, send_from_directory
from werkzeug.wrappers import Response as WerkzeugResponse

from .jsonutil import dumps
from .protocol import HTTP_TOKEN
from .types import describe

if TYPE_CHECKING:
    from .request import Request

__all__ = ["Res"]

#: ``"200 OK"`` and friends, built once.
STATUS_LINES = {
    code: f"{code} {HTTP_STATUS_CODES.get(code, 'Unknown')}" for code in range(100, 600)
}

#: An RFC 9110 token: what header names and methods are made of.
# Headers that describe a body; an error response replaces the body, so
# they go (Location too, outside redirects).
_BODY_HEADERS = frozenset(
    {
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "content-disposition",
        "content-encoding",
        "content-range",
        "location",
    }
)
# Headers whose presence changes what emission adds.
_WATCHED = frozenset({"content-type", "content-length", "etag"})
_NO_BODY_STATUSES = frozenset({204, 304})


# Header names already checked, lowercased; PERF: a dict lookup instead
# of a regex and str.lower (-0.3 µs per header).  Bounded: names may come
# from data.
_CHECKED_NAMES: dict[str, str] = {}
_MAX_CHECKED_NAMES = 1024
# What RFC 9110 allows in a field value: visible ASCII, space, HTAB and
# obs-text (0x80-0xFF); WSGI headers are Latin-1, so nothing beyond it.
_NOT_IN_VALUE = re.compile(r"[^\t\x20-\x7e\x80-\xff]")
# What ends a cookie attribute's value early (RFC 6265 av-octet): ";" and controls.
_NOT_IN_ATTRIBUTE = re.compile(r"[;\x00-\x1f\x7f]")


def header_value(name: str, value: object) -> str:
    """Check a header *name* and *value* (made a string) and return the value.

    :raises ValueError: for a name that is not a token, or a value RFC
        9110 forbids: a newline, NUL or other control but HTAB, DEL, or a
        character beyond Latin-1 (header injection, or a 500 from the server).
    """
    if name not in _CHECKED_NAMES:
        if not isinstance(name, str) or not HTTP_TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        if len(_CHECKED_NAMES) < _MAX_CHECKED_NAMES:
            _CHECKED_NAMES[name] = name.lower()
    text = value if isinstance(value, str) else str(value)
    # PERF: printable ASCII, the usual value, is two C calls, no regex.
    if not (text.isascii() and text.isprintable()) and _NOT_IN_VALUE.search(text):
        raise ValueError(
            f"header {name!r}: value {text!r} must not contain newlines, NUL, other "
            "controls but tab, DEL, or characters beyond Latin-1 (encode them, e.g. "
            "percent-encoding or RFC 8187)"
        )
    return text


class _CheckedHeaders(Headers):
    """The werkzeug ``Headers`` view :attr:`Res.headers` returns: writes are checked.

    werkzeug's ``Headers`` refuses newlines only.  All its writers
    (``[]=``, ``add``, ``set``, ``setdefault``, ``setlist``, ``extend``,
    ``update``) go through :meth:`add`, :meth:`set` and ``__setitem__``, so
    checking there holds every value to :func:`header_value`, as
    ``set_header`` does.

    Once read, the view is the builder's header store (see
    :data:`HeaderStore`), so it also has the two list operations the
    builder and the bundled middleware use on that store and ``Headers``
    lacks: :meth:`append` of a pair (through :meth:`add`: checked) and
    ``(name, value) in``.
    """

    @classmethod
    def holding(cls, pairs: list[tuple[str, str]]) -> _CheckedHeaders:
        """A view holding a copy of *pairs*, the builder's list of headers so far."""
        view = cls()
        if pairs:
            # PERF: werkzeug's own slice assignment (its newline check only),
            # not this class's checks: the list holds what the setters checked
            # and the bundled middleware's pairs, which the hot path hands the
            # server unchecked anyway.  For the 12 headers of request_id,
            # security_headers, cors and rate_limit: 2.8 µs, not 8.3 µs.
            Headers.__setitem__(view, slice(None), pairs)
        return view

    def append(self, item: tuple[str, str], /) -> None:
        """Add the ``(name, value)`` pair *item*, as ``list.append`` does."""
        self.add(item[0], item[1])

    def __contains__(self, key: str | tuple[str, str]) -> bool:
        # A header name, as werkzeug's; a (name, value) pair, as a list's.
        if isinstance(key, tuple):
            # PERF: the C scan of the pairs' own iterator: 0.3 µs for 12
            # pairs, against 0.6 µs for any() over them.
            return key in iter(self)
        return super().__contains__(key)

    def add(self, key: str, value: Any, /, **kwargs: Any) -> None:
        """Add a value for header *key* (see werkzeug's ``Headers.add``)."""
        super().add(key, _view_value(key, value, kwargs))

    def set(self, key: str, value: Any, /, **kwargs: Any) -> None:
        """Set header *key*, replacing its values (see werkzeug's ``Headers.set``)."""
        super().set(key, _view_value(key, value, kwargs))

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, str):
            self.set(key, value)
        elif isinstance(key, slice):
            super().__setitem__(key, [(name, header_value(name, text)) for name, text in value])
        else:
            super().__setitem__(key, (value[0], header_value(value[0], value[1])))


#: What ``Res._headers`` holds: the plain list of ``(name, value)`` pairs
#: the setters and the bundled middleware append to, or, from the first
#: read of :attr:`Res.headers` on, that view.  Code writing to it uses what
#: both have: ``append``, ``extend`` and ``[:] =`` (never ``+=``: ``Headers``
#: has none, and mypy cannot check ``+=`` on a union; on a list ``extend``
#: costs the same, 47 ns for six pairs); it reads it by
#: iteration, ``len`` and ``(name, value) in``.  PERF: a list, not a
#: ``Headers``, for every request that never reads ``res.headers``, so the
#: hot path appends tuples and hands the server that very list.
HeaderStore: TypeAlias = list[tuple[str, str]] | _CheckedHeaders


def _view_value(key: str, value: Any, options: dict[str, Any]) -> str:
    # As werkzeug renders keyword options (``add("Content-Disposition",
    # "attachment", filename="a.txt")``), then checked.
    if options:
        value = dump_options_header(value, {k.replace("_", "-"): v for k, v in options.items()})
    return header_value(key, value)


def _check_inside(root: str | PathLike[str], name: str | PathLike[str]) -> None:
    """Raise :exc:`NotFound` if *name* under *root* resolves outside *root*.

    NOTE: as Starlette's ``StaticFiles``: ``safe_join`` refuses ``..`` in
    the name, not a symlink under *root* that leads elsewhere (a user's
    upload, a checked-out repository...).  Symlinks that stay inside are
    fine, and so is a *root* that is itself a symlink.
    """
    joined = safe_join(os.fspath(root), os.fspath(name))
    if joined is None:
        return  # send_from_directory answers it: 404
    real_root = os.path.realpath(root)
    if os.path.commonpath([os.path.realpath(joined), real_root]) != real_root:
        raise NotFound()


class _StreamBody:
    """A streamed body: encodes ``str`` chunks and closes its source."""

    __slots__ = ("_source",)

    def __init__(self, source: Iterable[bytes | str]) -> None:
        self._source = source

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._source:
            yield chunk.encode() if isinstance(chunk, str) else chunk

    def close(self) -> None:
        close = getattr(self._source, "close", None)
        if close is not None:
            close()


class Res:
    """The response builder handlers receive as ``res``.

    Every setter returns the builder, so calls chain:
    ``res.status(201).set_header("Location", url).json(todo)``.  One body
    is sent per request (``json``, ``send``, ``redirect``, ``stream``,
    ``file`` or ``end``); sending a second raises :class:`RuntimeError`.
    Status and headers may change until the response is emitted.
    """

    # PERF: defaults live on the class, so a new builder sets two attributes.
    _status = 200
    _body = b""
    _content_type: str | None = None
    _sent: str | None = None  # the method that sent the body
    _etag = False  # whether the body may get an automatic ETag
    _stream: _StreamBody | None = None
    _werkzeug: WerkzeugResponse | None = None
    # The route's response= schema's dump, applied to 2xx JSON bodies (set
    # per request by microapi.validation; None: bodies go out as given).
    _dump: Callable[[Any], Any] | None = None
    # Whether emission must look closer: _headers may hold Content-Type,
    # -Length or ETag, or the body is a stream or a werkzeug Response.
    _watched = False

    def __init__(self, req: Request) -> None:
        self._req = req
        self._headers: HeaderStore = []

    # -- status and headers ---------------------------------------------------

    def status(self, code: int) -> Res:
        """Set the status code (100-599) and return the builder."""
        if not isinstance(code, int) or not 100 <= code <= 599:
            raise ValueError(f"status must be an int from 100 to 599, got {code!r}")
        self._status = code
        return self

    @property
    def status_code(self) -> int:
        """The status code set so far (200 by default; a file's own, e.g. 206)."""
        return self._status if self._werkzeug is None else self._werkzeug.status_code

    def set_header(self, name: str, value: object) -> Res:
        """Set header *name*, replacing any value it had.

        :raises ValueError: for an invalid name, or a value RFC 9110 forbids
            (see :func:`header_value`).
        """
        lower = _CHECKED_NAMES.get(name)
        if (
            lower is None
            or value.__class__ is not str
            or not value.isascii()
            or not value.isprintable()
        ):
            text = header_value(name, value)
            lower = name.lower()
        else:
            text = value  # PERF: header_value inlined
        headers = self._headers
        if headers:
            # In place: once res.headers was read, the store is that view,
            # and it must stay the one object.
            headers[:] = [h for h in headers if h[0].lower() != lower]
        headers.append((name, text))
        if lower in _WATCHED:
            self._watched = True
        return self

    def append_header(self, name: str, value: object) -> Res:
        """Add a value for header *name*, keeping those it had.

        :raises ValueError: as :meth:`set_header`.
        """
        self._headers.append((name, header_value(name, value)))
        if name.lower() in _WATCHED:
            self._watched = True
        return self

    def get_header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header *name*, or *default*."""
        lower = name.lower()
        for key, value in self._headers:
            if key.lower() == lower:
                return value
        return default

    @property
    def headers(self) -> Headers:
        """The response headers as a werkzeug ``Headers`` (a live view).

        Every read returns the same object, and it stays live for the rest
        of the request: headers set through it are sent, and headers set
        later by :meth:`set_header`, :meth:`append_header`, :meth:`cookie`
        or middleware show in it.  Values written through it are checked as
        :meth:`set_header` checks them (:exc:`ValueError`).
        """
        headers = self._headers
        if isinstance(headers, list):
            # The first read: a copy of the list becomes the store, so there
            # is one set of headers whichever way they are written (werkzeug
            # has no public way to wrap a list).  Whatever held the old list
            # must read res._headers again (cors does, after next()).  The
            # view sends emission down the slow path, which hands the server
            # a list made of it (_custom_headers).
            headers = self._headers = _CheckedHeaders.holding(headers)
            self._watched = True
        return headers

    def cookie(
        self,
        name: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: Any = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool | None = None,
        httponly: bool = True,
        samesite: str | None = "Lax",
    ) -> Res:
        """Set a cookie (werkzeug's ``dump_cookie``).

        Safe by default: ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` when
        the request came over https (``secure=None``).

        :raises ValueError: for a *name* that is not an RFC 6265 token, or a
            *domain*, *path* or *expires* text holding ``;`` or a control
            (attribute injection: ``domain="example.com; SameSite=None"``).
        """
        if not isinstance(name, str) or not HTTP_TOKEN.fullmatch(name):
            raise ValueError(
                f"invalid cookie name {name!r}: a name is a token (letters, digits and "
                "!#$%&'*+-.^_`|~; no spaces, '=', ';' or quotes)"
            )
        for attribute, text in (("domain", domain), ("path", path), ("expires", expires)):
            if isinstance(text, str) and _NOT_IN_ATTRIBUTE.search(text):
                raise ValueError(
                    f"cookie {name!r}: {attribute} {text!r} must not contain ';' or controls"
                )
        if secure is None:
            secure = self._req.scheme == "https"
        self._headers.append(
            (
                "Set-Cookie",
                # dump_cookie quotes the value, not the name or the domain.
                header_value(
                    "Set-Cookie",
                    dump_cookie(
                        name,
                        value,
                        max_age=max_age,
                        expires=expires,
                        path=path,
                        domain=domain,
                        secure=secure,
                        httponly=httponly,
                        samesite=samesite,
                    ),
                ),
            )
        )
        return self

    def clear_cookie(self, name: str, *, path: str | None = "/", domain: str | None = None) -> Res:
        """Tell the client to delete cookie *name*."""
        return self.cookie(name, "", max_age=0, expires=0, path=path, domain=domain)

    # -- bodies ---------------------------------------------------------------

    @property
    def sent(self) -> bool:
        """Whether a body was sent."""
        return self._sent is not None

    def _mark_sent(self, how: str) -> None:
        if self._sent is not None:
            raise RuntimeError(
                f"res.{how}() called after the response was already sent with "
                f"res.{self._sent}(); a request gets one response"
            )
        self._sent = how

    def json(self, value: Any) -> Res:
        """Send *value* as ``application/json``.

        Serializes dict/list/str/int/float/bool/None, ``datetime``, ``date``,
        ``UUID``, ``Decimal``, dataclasses and ``Enum`` members (their value);
        see :func:`microapi.jsonutil.dumps`.
        """
        if self._dump is not None and 200 <= self._status < 300:
            value = self._dump(value)
        body = dumps(value)  # first: a value that fails leaves nothing sent
        if self._sent is not None:  # PERF: _mark_sent's test inlined
            self._mark_sent("json")
        self._sent = "json"
        self._body = body
        self._content_type = "application/json"
        self._etag = True
        return self

    def send(self, body: object) -> Res:
        """Send *body*: ``str`` as text, ``bytes`` as binary, dict/list as JSON.

        ``str`` is ``text/plain; charset=utf-8`` and ``bytes``
        ``application/octet-stream`` unless a ``Content-Type`` was set.
        """
        if isinstance(body, (dict, list)):
            return self.json(body)
        self._mark_sent("send")
        if isinstance(body, str):
            self._body = body.encode()
            self._content_type = "text/plain; charset=utf-8"
        elif isinstance(body, (bytes, bytearray, memoryview)):
            self._body = bytes(body)
            self._content_type = "application/octet-stream"
        elif body is None:
            self._body = b""
        else:
            self._sent = None
            raise TypeError(f"res.send() takes str, bytes, dict or list, not {type(body).__name__}")
        self._etag = True
        return self

    def end(self, body: str | bytes | None = None) -> Res:
        """End the response, with an optional raw body and no content type."""
        self._mark_sent("end")
        self._body = body.encode() if isinstance(body, str) else bytes(body or b"")
        return self

    def redirect(self, status_or_url: int | str, url: str | None = None) -> Res:
        """Redirect: ``res.redirect(url)`` (307) or ``res.redirect(308, url)``."""
        status, location = (307, status_or_url) if url is None else (status_or_url, url)
        if not isinstance(status, int) or not 300 <= status <= 308:
            raise ValueError(f"redirect status must be from 300 to 308, got {status!r}")
        if not isinstance(location, str):
            raise TypeError("res.redirect() needs the URL as a string")
        location = header_value(
            "Location", location if location.isascii() else iri_to_uri(location)
        )
        self._mark_sent("redirect")
        self._status = status
        self.set_header("Location", location)
        return self

    def stream(
        self, iterable: Iterable[bytes | str], content_type: str = "application/octet-stream"
    ) -> Res:
        """Stream *iterable* (bytes or str chunks) as the body.

        The body is sent chunk by chunk as the server iterates it, after
        the status and headers; an error while streaming can no longer
        change them (the connection is closed instead).

        :raises ValueError: for a *content_type* :meth:`set_header` refuses.
        """
        if isinstance(iterable, (str, bytes, bytearray)) or hasattr(iterable, "__aiter__"):
            raise TypeError("res.stream() takes an iterable of chunks; use res.send() for one body")
        content_type = header_value("Content-Type", content_type)
        self._mark_sent("stream")
        self._stream = _StreamBody(iterable)
        self._watched = True
        self._content_type = content_type
        return self

    def file(
        self,
        path_or_file: str | PathLike[str] | IO[bytes],
        *,
        root: str | PathLike[str] | None = None,
        mimetype: str | None = None,
        as_attachment: bool = False,
        download_name: str | None = None,
        conditional: bool = True,
        max_age: int | None = None,
        follow_symlink: bool = False,
    ) -> Res:
        """Send a file with werkzeug's ``send_file`` (ranges, ``ETag``, 304).

        :param root: when given, *path_or_file* is a path joined safely
            under *root* (werkzeug's ``safe_join``); a path that escapes it,
            also through a symlink, or does not exist is a 404.
        :param follow_symlink: with *root*, serve symlinks under *root*
            wherever they lead (as Starlette's ``StaticFiles``); only for a
            *root* whose every symlink you trust.
        """
        options: dict[str, Any] = {
            "mimetype": mimetype,
            "as_attachment": as_attachment,
            "download_name": download_name,
            "conditional": conditional,
            "max_age": max_age,
        }
        if self._sent is not None:
            self._mark_sent("file")  # raises before a file is opened
        environ = self._req.environ
        if root is not None:
            if not isinstance(path_or_file, (str, PathLike)):
                raise TypeError("res.file(..., root=...) takes a path, not a file object")
            if not follow_symlink:
                _check_inside(root, path_or_file)
            response = send_from_directory(root, path_or_file, environ, **options)
        else:
            response = send_file(path_or_file, environ, **options)
        self._mark_sent("file")
        self._werkzeug = response
        self._watched = True
        return self

    def _use_response(self, response: WerkzeugResponse) -> None:
        self._mark_sent("return")
        self._werkzeug = response
        self._watched = True

    # -- return values and errors -----------------------------------------------

    def _finish(self, value: Any, source: Callable[..., Any], *, handler: bool = False) -> None:
        """Send what *source* (a handler, middleware or error handler) returned.

        The one place a return value becomes the response: ``None`` or the
        builder itself means "sent already" (for a *handler*, one that sent
        nothing is a mistake), anything else is sent as its type says.  The
        chain inlines the two usual cases (see ``microapi.chain``).

        :raises RuntimeError: for a handler that returned nothing and sent nothing.
        :raises TypeError: for a value that is no response.
        """
        if value is None or value is self:
            if handler and self._sent is None:
                raise RuntimeError(
                    f"handler {describe(source)} returned without sending a response; "
                    "call res.json()/res.send()/res.end() or return a value"
                )
            return
        if value.__class__ is dict:  # PERF: the usual return value, first
            self.json(value)
            return
        if isinstance(value, tuple) and 2 <= len(value) <= 3:
            if len(value) == 3:
                headers = value[2]
                for name, header in headers.items() if hasattr(headers, "items") else headers:
                    self.set_header(name, header)
            self.status(value[1])
            value = value[0]
            if isinstance(value, WerkzeugResponse):
                value.status_code = self._status  # (Response, 201) means 201
        if isinstance(value, WerkzeugResponse):
            self._use_response(value)
        elif isinstance(value, (dict, list)):
            self.json(value)
        elif isinstance(value, (str, bytes)):
            self.send(value)
        elif inspect.iscoroutine(value):
            value.close()  # never awaited: close it quietly
            name = getattr(source, "__qualname__", repr(source))
            raise TypeError(
                f"{name} returned a coroutine: an async function behind a sync wrapper "
                "(a decorator?) is called but never awaited; make the wrapper 'async def'"
            )
        else:
            name = getattr(source, "__qualname__", repr(source))
            raise TypeError(
                f"{name} returned {type(value).__name__}; return a dict, list, str, bytes, "
                "(body, status[, headers]) or a werkzeug Response, or call res.json()/res.send()"
            )

    def _reset_for_error(self, status: int) -> None:
        """Drop the body (and headers describing it) before an error response."""
        if self._headers:
            self._headers[:] = [h for h in self._headers if h[0].lower() not in _BODY_HEADERS]
        self._status = status
        if self._sent is None:
            # PERF: nothing was sent, so the body attributes are as new.
            return
        if self._stream is not None:
            self._stream.close()
        if self._werkzeug is not None:
            self._werkzeug.close()  # a file from res.file() or a returned Response
        self._body = b""
        self._content_type = None
        self._sent = None
        self._etag = False
        self._stream = None
        self._werkzeug = None

    # -- emission -------------------------------------------------------------

    def _emit(self, start_response: Callable[..., Any], etag: bool) -> Iterable[bytes]:
        """Start the WSGI response and return its body iterable."""
        status = self._status
        if self._watched or (status != 200 and (status < 200 or status in _NO_BODY_STATUSES)):
            return self._emit_other(start_response, etag)
        # PERF: the usual response (a body from json/send/end, no header
        # emission must look at) in one straight line: -0.3 µs on hello.
        req = self._req
        body = self._body
        length = str(len(body))
        content_type = self._content_type
        method = req.method
        if etag and self._etag and status == 200 and (method == "GET" or method == "HEAD"):
            # PERF: crc32 and the length, in decimal (a format spec costs
            # 0.1 µs more); a weak tag only promises equal meaning.
            tag = f'W/"{length}-{crc32(body)}"'
            match = req.environ.get("HTTP_IF_NONE_MATCH")
            if match is not None and _etag_matches(match, tag):
                start_response(STATUS_LINES[304], [("ETag", tag), *self._headers])
                return []
            if content_type is None:
                out = [("Content-Length", length), ("ETag", tag), *self._headers]
            else:
                out = [
                    ("Content-Length", length),
                    ("Content-Type", content_type),
                    ("ETag", tag),
                    *self._headers,
                ]
        elif content_type is None:
            out = [("Content-Length", length), *self._headers]
        else:
            out = [("Content-Length", length), ("Content-Type", content_type), *self._headers]
        start_response(STATUS_LINES[status], out)
        # NOTE: routing takes "head" for HEAD (req.method is uppercased), but
        # servers frame the response by the method as sent: the body goes
        # unless it is exactly HEAD, as werkzeug does, so that it always
        # matches Content-Length.  PERF: the environ is read only for HEAD.
        if method == "HEAD" and req.environ.get("REQUEST_METHOD") == "HEAD":
            return []
        return [body]

    def _emit_other(self, start_response: Callable[..., Any], etag: bool) -> Iterable[bytes]:
        # Files and returned Responses, streams, bodiless statuses, and
        # headers set by the handler that emission must look at.
        req = self._req
        if self._werkzeug is not None:
            return self._emit_werkzeug(self._werkzeug, start_response)
        status = self._status
        headers = self._headers
        content_type = self._content_type
        if self._watched:
            # Also what makes the res.headers view a list for the server:
            # reading the view sets _watched.
            content_type, headers = self._custom_headers(content_type)
        if status in _NO_BODY_STATUSES or status < 200:
            if self._stream is not None:
                self._stream.close()
            start_response(STATUS_LINES[status], headers)
            return []
        if self._stream is not None:
            if content_type is not None:
                headers = [("Content-Type", content_type), *headers]
            start_response(STATUS_LINES[status], headers)
            if req.environ.get("REQUEST_METHOD") == "HEAD":  # exactly: see _emit
                self._stream.close()
                return []
            return self._stream
        body = self._body
        length = str(len(body))
        out = [("Content-Length", length)]
        if content_type is not None:
            out.append(("Content-Type", content_type))
        if etag and self._etag and status == 200 and req.method in ("GET", "HEAD"):
            tag = self.get_header("ETag")
            if tag is None:
                tag = f'W/"{length}-{crc32(body)}"'
                out.append(("ETag", tag))
            match = req.environ.get("HTTP_IF_NONE_MATCH")
            if match is not None and _etag_matches(match, tag):
                start_response(
                    STATUS_LINES[304],
                    [h for h in (*out, *headers) if h[0] not in ("Content-Length", "Content-Type")],
                )
                return []
        out += headers
        start_response(STATUS_LINES[status], out)
        return [] if req.environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _custom_headers(self, content_type: str | None) -> tuple[str | None, list[tuple[str, str]]]:
        # The handler set some of the headers emission computes: its
        # Content-Type wins, its Content-Length never (the body decides).
        headers = []
        for name, value in self._headers:
            lower = name.lower()
            if lower == "content-type":
                content_type = value
            elif lower != "content-length":
                headers.append((name, value))
        return content_type, headers

    def _emit_werkzeug(
        self, response: WerkzeugResponse, start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        own = response.headers
        for name, value in self._headers:
            lower = name.lower()
            if lower == "set-cookie" or name not in own:
                own.add(name, value)
            elif lower == "vary":
                # Both vary: the Response's own fields and those set on res
                # (cors's Origin, the session's Cookie).
                own["Vary"] = _merge_vary(own.getlist("Vary"), value)
        return response(self._req.environ, start_response)


def _merge_vary(values: list[str], more: str) -> str:
    """Join ``Vary`` *values* and *more*, each field name once."""
    fields: dict[str, str] = {}
    for value in (*values, more):
        for field in value.split(","):
            field = field.strip()
            if field:
                fields.setdefault(field.lower(), field)
    return "*" if "*" in fields else ", ".join(fields.values())


def _etag_matches(header: str, tag: str) -> bool:
    if header == tag or header.strip() == "*":
        return True
    return parse_etags(header).contains_weak(unquote_etag(tag)[0])

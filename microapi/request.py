"""``req``: werkzeug's :class:`~werkzeug.wrappers.Request`, lazier, plus API routes' extras.

Everything werkzeug offers is here (``method``, ``path``, ``headers``,
``args``, ``form``, ``files``, ``cookies``, ``get_data()``...), plus
``params``, ``query``, ``body``, ``state``, ``route``, ``user``, ``id``,
``session`` and ``csrf_token``.
Nothing is read, parsed or computed until it is first asked for.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from io import BytesIO
from types import SimpleNamespace
from typing import IO, TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, overload
from urllib.parse import quote

from werkzeug.datastructures import EnvironHeaders, FileStorage, ImmutableMultiDict
from werkzeug.exceptions import (
    BadRequest,
    ClientDisconnected,
    HTTPException,
    LengthRequired,
    RequestEntityTooLarge,
)
from werkzeug.utils import cached_property
from werkzeug.wrappers import Request as _WerkzeugRequest
from werkzeug.wsgi import LimitedStream

from .bodies import StrictFormDataParser, parse_body, parse_query
from .keys import CSRF_SESSION_KEY as CSRF_SESSION_KEY

if TYPE_CHECKING:
    from .app import Api
    from .routing import Route
    from .routing.table import Miss
    from .sessions import Session

__all__ = ["Request"]

T = TypeVar("T")

#: Default largest request body, in bytes (1 MiB, as in Next.js).
DEFAULT_BODY_LIMIT = 1024 * 1024

#: The 400's detail when reading the body fails (a broken connection or framing).
UNREADABLE_BODY = "the request body could not be read: the connection or its framing broke"


class _lazy(Generic[T]):
    """Compute an attribute on first access and store it on the instance.

    PERF: a non-data descriptor, so later reads are plain instance-dict hits
    and assignment simply overrides; werkzeug's ``cached_property`` is a
    data descriptor that costs a Python call on every read.  The value is
    stored with setattr, not through ``obj.__dict__``: reading ``__dict__``
    makes CPython build the instance's dict, which it otherwise keeps
    inline (~0.1 µs a request).
    """

    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value]
        value = self.func(obj)
        setattr(obj, self.name, value)
        return value


class _BodyStream(LimitedStream):
    """``wsgi.input`` limited to the body, whatever its reads raise: 400.

    NOTE: werkzeug turns only ``OSError`` and ``ValueError`` into
    :exc:`~werkzeug.exceptions.ClientDisconnected`; servers raise their own
    (gunicorn's ``InvalidChunkSize``, ``ChunkMissingTerminator`` and
    ``NoMoreData`` are ``ParseException`` subclasses), which would be a 500 with a
    traceback.  Whatever breaks while the body is read is the client's or
    the connection's fault.
    """

    def readinto(self, b: bytearray) -> int | None:  # type: ignore[override]
        try:
            return super().readinto(b)
        except HTTPException:
            raise
        except Exception:
            raise ClientDisconnected(UNREADABLE_BODY) from None


class _CountedStream(_BodyStream):
    """A body of unknown length, counted while read: past *limit* is 413.

    NOTE: werkzeug's ``LimitedStream(..., is_max=True)`` stops at the limit
    and raises only on a later read, so a single ``read()`` of a chunked
    body one byte too long returns it silently truncated.  Allowing one byte
    more than the limit tells "exactly the limit" from "over it".
    """

    def __init__(self, stream: IO[bytes], limit: int | None) -> None:
        super().__init__(stream, sys.maxsize if limit is None else limit + 1, is_max=True)

    def readinto(self, b: bytearray) -> int | None:  # type: ignore[override]
        size = super().readinto(b)
        if self.tell() >= self.limit:
            raise _too_large(self.limit - 1)
        return size


def _too_large(limit: int) -> RequestEntityTooLarge:
    """The 413 for a body over *limit* bytes, saying the limit (the client can act on it)."""
    return RequestEntityTooLarge(f"the request body is larger than the limit of {limit} bytes")


def decode_wsgi(value: str) -> str:
    """Decode a WSGI path string (raw bytes as latin-1) as werkzeug does."""
    return value if value.isascii() else value.encode("latin-1").decode(errors="replace")


# -- attributes made on first use, without werkzeug's detours -----------------
# req.headers, req.state and req.query are read by most middleware and
# handlers: each is a descriptor that computes its value once and stores it in
# the instance (a _lazy with its function inlined), and the values answer the
# usual questions (a header, the first value of a parameter) in one step.
# What they return is werkzeug's: EnvironHeaders and ImmutableMultiDict
# subclasses whose get agrees with werkzeug's (tests/test_request checks it
# on generated input).

_ABSENT: Any = object()
_BODY_KEYS = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})
# Header names → their environ keys ("X-Token" → "HTTP_X_TOKEN"), as
# EnvironHeaders computes them; bounded, since names may come from data.
_ENVIRON_KEYS: dict[str, str] = {}
_MAX_ENVIRON_KEYS = 1024


class _Headers(EnvironHeaders):
    """werkzeug's ``EnvironHeaders`` with a quicker :meth:`get`."""

    def __init__(self, environ: dict[str, Any]) -> None:
        # PERF: EnvironHeaders.__init__ without its call to Headers.__init__,
        # whose list an EnvironHeaders never reads (-0.05 µs); every read
        # goes to the environ, and writing raises.
        self.environ = environ

    def get(self, key: str, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]
        """Header *key*'s value, or *default*; see werkzeug's ``Headers.get``."""
        # PERF: werkzeug's get goes through _get_key and a KeyError for a
        # missing header (-0.07 µs); tests/test_request checks they agree.
        if type is not None or key.__class__ is not str:
            return super().get(key, default, type)
        environ_key = _ENVIRON_KEYS.get(key)
        if environ_key is None:
            name = key.upper().replace("-", "_")
            environ_key = name if name in _BODY_KEYS else "HTTP_" + name
            if len(_ENVIRON_KEYS) < _MAX_ENVIRON_KEYS:
                _ENVIRON_KEYS[key] = environ_key
        value = self.environ.get(environ_key, _ABSENT)
        return default if value is _ABSENT else value


class _HeadersAttribute:
    """``req.headers``: the request headers, made on first use.

    PERF: a ``_lazy`` with its function inlined; middleware reads headers
    on most requests (-0.05 µs).
    """

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        headers = obj.headers = _Headers(obj.environ)
        return headers


class _StateAttribute:
    """``req.state``: a namespace for middleware to hand things to handlers.

    PERF: a ``_lazy`` with its function inlined, like ``req.headers``.
    """

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _StateAttribute: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> SimpleNamespace: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        state = obj.state = SimpleNamespace()
        return state


class _SessionAttribute:
    """``req.session``: the session, a dict kept in a signed cookie (:mod:`microapi.sessions`).

    Loaded on first read; written back when the request is done if it was
    read or set, and only if modified.  A data descriptor holding the value
    in ``req._session``, so that the dispatcher can tell in one lookup
    whether there is a session to save.

    :raises RuntimeError: when the app has no secret key.
    """

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _SessionAttribute: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Session: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        session = obj._session
        if session is None:
            from .sessions import load_session  # NOTE: lazy, ~1 ms: most apps never read it

            session = obj._session = load_session(obj)
        return session

    def __set__(self, obj: Any, value: Session) -> None:
        obj._session = value

    def __delete__(self, obj: Any) -> None:
        obj._session = None  # the next read loads it from the cookie again


class _Args(ImmutableMultiDict[str, str]):
    """``req.args``: werkzeug's ``ImmutableMultiDict`` with a quicker ``get``."""

    def get(self, key: str, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]
        """The first value of *key*, or *default*; see werkzeug's ``MultiDict.get``."""
        # PERF: werkzeug's get goes through __getitem__ and a KeyError for a
        # missing key (-0.15 µs); tests/test_request checks they agree.
        if type is None:
            values = _dict_get(self, key)
            return values[0] if values else default
        return super().get(key, default, type)


_dict_get = dict.get


def _parse_args(environ: dict[str, Any]) -> ImmutableMultiDict[str, str]:
    args = parse_query(environ.get("QUERY_STRING", ""))
    if args.__class__ is ImmutableMultiDict:
        args.__class__ = _Args  # the same dict, with the quicker get
    return args


class _QueryAttribute:
    """``req.query``: ``req.args``, or the ``query=`` schema's result.

    PERF: a ``_lazy`` with its function inlined (-0.08 µs).
    """

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        args = obj.query = obj.args
        return args


def _server_address(environ: dict[str, Any]) -> tuple[str, int | None] | None:
    """The server's ``(host, port)`` from *environ*, as werkzeug's ``Request.server``.

    ``None`` without ``SERVER_NAME``; the port is ``None`` when it is not a
    number (a Unix socket).  NOTE: werkzeug's helper for this is private
    (``werkzeug.wsgi._get_server``).
    """
    name = environ.get("SERVER_NAME")
    if name is None:
        return None
    try:
        port: int | None = int(environ.get("SERVER_PORT"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        port = None
    return name, port


class Request(_WerkzeugRequest):
    """The request object handlers receive as ``req``.

    A werkzeug :class:`~werkzeug.wrappers.Request` whose attributes are
    computed on first use (werkzeug computes eight of them up front), so a
    handler pays only for what it reads.  Unlike werkzeug's, it does not put
    itself in ``environ["werkzeug.request"]`` unless asked to.
    """

    #: The authenticated user; set by authentication middleware.
    user: Any = None
    #: The matched :class:`~microapi.routing.Route`, or ``None`` (404, 405).
    route: Route | None = None
    #: The :class:`~microapi.Api` dispatching the request, or ``None``.
    api: Api | None = None
    # Why no route matched; read by the answer at the chain's end.
    _miss: Miss | None = None
    #: Form limits (werkzeug's defaults, enforced for urlencoded bodies too).
    max_form_memory_size: int | None = 500_000
    max_form_parts = 1000
    form_data_parser_class = StrictFormDataParser
    # PERF: a class default, so that the dispatcher may skip __init__.
    shallow = False
    # The body, once get_data() has read it.
    _data: bytes | None = None
    # The session, once read or set (see _SessionAttribute).
    _session: Session | None = None
    # Whether _parse_form has set stream, form and files.
    _form_parsed = False

    def __init__(
        self,
        environ: dict[str, Any],
        populate_request: bool = True,
        shallow: bool = False,
    ) -> None:
        # PERF: werkzeug's __init__ computes method, scheme, server, paths,
        # headers and remote_addr eagerly (~1.2 µs); here they are lazy.
        self.environ = environ
        if shallow:
            self.shallow = True  # PERF: False is the class's default
        elif populate_request:
            environ["werkzeug.request"] = self

    if not TYPE_CHECKING:

        @_lazy
        def method(self) -> str:
            """The request method, uppercased."""
            return self.environ.get("REQUEST_METHOD", "GET").upper()

        @_lazy
        def scheme(self) -> str:
            """The URL scheme: ``http`` or ``https``."""
            return self.environ.get("wsgi.url_scheme", "http")

        @_lazy
        def server(self) -> tuple[str, int | None] | None:
            """The server's ``(host, port)``, or ``None``."""
            return _server_address(self.environ)

        @_lazy
        def root_path(self) -> str:
            """The mount prefix (``SCRIPT_NAME``), without a trailing slash."""
            return decode_wsgi(self.environ.get("SCRIPT_NAME") or "").rstrip("/")

        @_lazy
        def path(self) -> str:
            """The path below the mount prefix, always starting with ``/``."""
            return "/" + decode_wsgi(self.environ.get("PATH_INFO") or "").lstrip("/")

        @_lazy
        def query_string(self) -> bytes:
            """The raw query string, as bytes."""
            return self.environ.get("QUERY_STRING", "").encode("latin1")

        headers = _HeadersAttribute()

        @_lazy
        def remote_addr(self) -> str | None:
            """The client's address, as the server saw it."""
            return self.environ.get("REMOTE_ADDR")

        @_lazy
        def mimetype(self) -> str:
            """The content type without parameters, lowercased."""
            # PERF: werkzeug parses the whole header on every read (body=
            # routes read it twice, -0.5 µs); the type is what precedes ";",
            # stripped of spaces and tabs, exactly as parse_options_header.
            return self.environ.get("CONTENT_TYPE", "").partition(";")[0].strip(" \t").lower()

    @_lazy
    def params(self) -> dict[str, Any]:
        """Path parameters, converted: ``{"id": 42}``; lists for catch-alls."""
        return {}

    @_lazy
    def args(self) -> ImmutableMultiDict[str, str]:
        """The query string as a ``MultiDict``, parsed as werkzeug does.

        :raises BadRequest: when the query string is not UTF-8 (400).
        """
        return _parse_args(self.environ)

    @_lazy
    def full_path(self) -> str:
        """The path and the query string, like werkzeug's.

        :raises BadRequest: when the query string is not UTF-8 (werkzeug
            would raise :class:`UnicodeDecodeError`, a 500).
        """
        try:
            query = self.query_string.decode()
        except UnicodeDecodeError:
            raise BadRequest("the query string is not valid UTF-8") from None
        return f"{self.path}?{query}"

    query = _QueryAttribute()

    @_lazy
    def body(self) -> Any:
        """The body parsed by content type; ``None`` when empty.

        JSON → value, urlencoded/multipart → ``MultiDict`` (files in
        ``req.files``), ``text/*`` → ``str``, anything else → ``bytes``.

        :raises RuntimeError: on a route declared with ``body_parser=False``.
        """
        if self.route is not None and not self.route.body_parser:
            raise RuntimeError(
                f"route {self.route.path!r} has body_parser=False: read req.stream "
                "or req.get_data() instead of req.body"
            )
        return parse_body(self)

    state = _StateAttribute()

    session = _SessionAttribute()

    @_lazy
    def csrf_token(self) -> str:
        """The CSRF token of this session, for HTML forms' hidden field.

        Starts a session secret if there is none (the session is then written).

        :raises RuntimeError: when the app has no secret key.
        """
        from .security import session_csrf_token  # NOTE: itsdangerous, ~3 ms at import time

        session = self.session
        assert self.api is not None  # the session needed it
        return session_csrf_token(self.api.keys, session)

    @_lazy
    def id(self) -> str:
        """The request id: 32 random hex digits unless middleware set one."""
        return os.urandom(16).hex()

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        """The body limit: the route's ``body_limit``, else the ``Api``'s."""
        route = self.route
        if route is not None and route.body_limit is not None:
            return route.body_limit
        return self.api.body_limit if self.api is not None else DEFAULT_BODY_LIMIT

    @cached_property
    def stream(self) -> IO[bytes]:
        """The body stream, limited to :attr:`max_content_length`.

        A body of unknown length (chunked) is counted while read, and reading
        past the limit raises :exc:`~werkzeug.exceptions.RequestEntityTooLarge`;
        a body shorter than its ``Content-Length`` raises
        :exc:`~werkzeug.exceptions.ClientDisconnected` (400).

        :raises LengthRequired: for a chunked body the server does not
            terminate (werkzeug would return an empty stream).
        """
        if self.shallow:
            raise RuntimeError("this request was created with shallow=True")
        if self._data is not None:
            # get_data() read the body without a stream (_read_body): what
            # is left of it is nothing, as with werkzeug's exhausted stream.
            return BytesIO()
        environ = self.environ
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower() and not environ.get(
            "wsgi.input_terminated"
        ):
            raise LengthRequired("chunked bodies are not supported by this server")
        # NOTE: werkzeug's get_input_stream, but reading a terminated input
        # (gunicorn and granian mark every request so) by Content-Length
        # when there is one: werkzeug reads it up to the limit, so a body cut
        # short by a disconnect would pass as complete, and a chunked one
        # over the limit would be truncated.
        limit = self.max_content_length
        length = self.content_length
        if length is not None and limit is not None and length > limit:
            raise _too_large(limit)
        stream = environ["wsgi.input"]
        if length is not None:
            return cast(IO[bytes], _BodyStream(stream, length))
        if "wsgi.input_terminated" in environ:
            return cast(IO[bytes], _CountedStream(stream, limit))
        return BytesIO()  # no length, no terminated input: no body to read safely

    @overload
    def get_data(
        self, cache: bool = True, as_text: Literal[False] = False, parse_form_data: bool = False
    ) -> bytes: ...
    @overload
    def get_data(
        self, cache: bool = True, as_text: Literal[True] = ..., parse_form_data: bool = False
    ) -> str: ...
    def get_data(
        self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False
    ) -> bytes | str:
        """The body as bytes (or text), read once and cached; see werkzeug's.

        As werkzeug's: with *parse_form_data* a form body is parsed first
        (into ``req.form``/``req.files``) and what is returned is what the
        form left, nothing (``req.data``).
        """
        data = self._data
        if data is None:
            if parse_form_data:
                self._parse_form()
            elif cache and "stream" not in self.__dict__:
                data = self._read_body()
            if data is None:
                data = self.stream.read()
            if cache:
                self._data = data
        return data.decode(errors="replace") if as_text else data

    def _read_body(self) -> bytes | None:
        """Read a body of known length straight from ``wsgi.input``.

        PERF: werkzeug's stream stack (get_input_stream, LimitedStream and
        its 64 KiB readinto loop) costs ~2.3 µs more for a small body (4 µs
        on the post_valid benchmark, a third of Falcon's cost).  This
        reads exactly what ``req.stream.read()`` would read, with the same
        errors (413 over the limit, 400 when the client sends less than its
        ``Content-Length``); ``tests/test_request`` checks that against the
        stream on generated bodies, lengths, limits and short reads.

        :returns: ``None`` when the body is not a plain ``Content-Length``
            one (chunked, no or odd length, shallow): use the stream.
        """
        environ = self.environ
        header = environ.get("CONTENT_LENGTH")
        if (
            header is None
            or self.shallow
            or "HTTP_TRANSFER_ENCODING" in environ
            or not (header.isdigit() and header.isascii())
        ):
            return None
        length = int(header)
        limit = self.max_content_length
        if limit is None:
            if "wsgi.input_terminated" in environ:
                return None  # werkzeug reads such a stream to its end
        elif length > limit:
            raise _too_large(limit)
        if not length:
            return b""
        stream = environ["wsgi.input"]
        chunks = []
        remaining = length
        while remaining > 0:
            try:
                # 64 KiB at most per read, as werkzeug: a lying Content-Length
                # must not size a buffer.
                chunk = stream.read(min(remaining, 65536))
            except Exception:  # whatever the server raises: see _BodyStream
                raise ClientDisconnected(UNREADABLE_BODY) from None
            if not chunk:
                raise ClientDisconnected(UNREADABLE_BODY)
            chunks.append(chunk)
            remaining -= len(chunk)
        data = chunks[0]
        return data if len(chunks) == 1 and type(data) is bytes else b"".join(chunks)

    def _parse_form(self) -> None:
        """Parse a form body into ``req.form`` and ``req.files``, as werkzeug does.

        From the cached body (read first), so that ``req.get_data()`` still
        returns the raw bytes afterwards.  NOTE: werkzeug's own version
        (``Request._load_form_data``) and its body cache are private.
        """
        if self._form_parsed:
            return
        if self.want_form_data_parsed:
            stream, form, files = self.make_form_data_parser().parse(
                BytesIO(self.get_data()), self.mimetype, self.content_length, self.mimetype_params
            )
        else:
            storage = self.parameter_storage_class
            stream, form, files = self.stream, storage(), storage()
        # NOTE: the parser's storage is parameter_storage_class (immutable),
        # whatever its annotation says.
        self.stream = stream
        self.form = cast("ImmutableMultiDict[str, str]", form)
        self.files = cast("ImmutableMultiDict[str, FileStorage]", files)
        self._form_parsed = True

    if not TYPE_CHECKING:

        @_lazy
        def form(self) -> ImmutableMultiDict[str, str]:
            """The form fields of a urlencoded or multipart body; see werkzeug's."""
            self._parse_form()
            return self.form

        @_lazy
        def files(self) -> ImmutableMultiDict[str, FileStorage]:
            """The files of a multipart body; see werkzeug's."""
            self._parse_form()
            return self.files

    def url_for(self, name: str, **params: Any) -> str:
        """Build the path of route *name*, including the mount prefix.

        ``req.url_for("todo", id=1)`` is ``/api/todos/1`` when the app is
        mounted at ``/api``.
        """
        if self.api is None:
            raise RuntimeError("req.url_for needs a request dispatched by an Api")
        return quote(self.root_path) + self.api.url_for(name, **params)

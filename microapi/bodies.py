"""Request bodies and query strings: parsed strictly, within limits.

Bad input is a 4xx here, never an exception that becomes a 500:
malformed or non-UTF-8 JSON and text are 400, text in an unknown or
non-text ``charset``, or one that is no ASCII superset (UTF-7, UTF-16,
EBCDIC...), is 415, too many form fields are 413, a malformed
multipart body is 400 (werkzeug would quietly return an empty form), a
chunked body the server does not terminate is 411.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from werkzeug.datastructures import Headers, ImmutableMultiDict, MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.formparser import FormDataParser, MultiPartParser

from .jsonutil import JSONDecodeError, loads

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from .request import Request

__all__ = [
    "FORM_MIMETYPES",
    "StrictFormDataParser",
    "is_json",
    "load_json",
    "parse_body",
    "parse_query",
]

#: Media types parsed into ``req.form`` / ``req.files``.
FORM_MIMETYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

_URLENCODED = "application/x-www-form-urlencoded"

#: Python codecs that are not charsets.  No client means them, some always
#: fail, and punycode decodes in quadratic time: a 1 MiB body declared
#: ``charset=punycode`` would hold a worker for over a minute.
_NOT_CHARSETS = frozenset({"idna", "punycode", "raw-unicode-escape", "undefined", "unicode-escape"})

_ASCII = bytes(range(128))
# Whether each codec (by its canonical name) is an ASCII superset, as found.
_ascii_supersets: dict[str, bool] = {"utf-8": True}


def _is_ascii_superset(name: str) -> bool:
    # NOTE: only such charsets are decoded: in UTF-7 "+ADw-" is "<" (a known
    # XSS vector past filters that look for "<"), in UTF-16 or EBCDIC
    # ASCII text is something else, and ISO-2022 escapes switch meaning.
    # Computed once per codec rather than listed: every byte below 0x80,
    # alone and in a row, must decode to itself.
    known = _ascii_supersets.get(name)
    if known is None:
        try:
            known = _ASCII.decode(name) == _ASCII.decode("ascii") and all(
                bytes([byte]).decode(name) == chr(byte) for byte in range(128)
            )
        except (UnicodeError, LookupError, TypeError, ValueError):
            known = False
        _ascii_supersets[name] = known
    return known


def is_json(mimetype: str) -> bool:
    """Whether *mimetype* is ``application/json`` or ``application/*+json``."""
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def load_json(data: bytes) -> Any:
    """Parse a JSON body strictly (see :func:`microapi.jsonutil.loads`).

    :raises BadRequest: for anything :func:`~microapi.jsonutil.loads`
        refuses, with its reason.
    """
    try:
        return loads(data)
    except JSONDecodeError as exc:
        message = f"malformed JSON: {exc}"
    # PERF: raised outside the except block: no context to chain.
    raise BadRequest(message)


def _pairs(
    text: str, max_fields: int | None, errors: str = "werkzeug.url_quote"
) -> list[tuple[str, str]]:
    # NOTE: not parse_qsl's max_num_fields, which counts separators: it
    # would refuse 1000 fields followed by a trailing "&".
    if (
        max_fields is not None
        and text.count("&") >= max_fields
        and sum(1 for field in text.split("&") if field) > max_fields
    ):
        raise RequestEntityTooLarge(f"more than {max_fields} form fields")
    return parse_qsl(text, keep_blank_values=True, errors=errors)


# The dict methods under ImmutableMultiDict's refusals, for parse_query.
_new_multidict = ImmutableMultiDict.__new__
_dict_setitem: Callable[[Any, str, list[str]], None] = dict.__setitem__
_dict_update = dict.update


def parse_query(query_string: str) -> ImmutableMultiDict[str, str]:
    """Parse a WSGI ``QUERY_STRING`` exactly as werkzeug's ``req.args`` does.

    :raises BadRequest: when the raw bytes are not UTF-8 (werkzeug would
        raise :class:`UnicodeDecodeError`, a 500).
    """
    if not query_string.isascii():
        try:
            query_string = query_string.encode("latin-1").decode()
        except UnicodeError:
            raise BadRequest("the query string is not valid UTF-8") from None
    if "%" in query_string or "+" in query_string:
        return ImmutableMultiDict(_pairs(query_string, None))
    # PERF: nothing to unquote, so a split gives what parse_qsl gives, and
    # filling the MultiDict's underlying dict of lists directly skips its
    # Python __init__ and per-pair loop.
    result: ImmutableMultiDict[str, str] = _new_multidict(ImmutableMultiDict)
    if "&" not in query_string:
        # PERF: no query or a single field, the usual case: no split, no
        # loop, no intermediate dict (-0.15 µs).
        if query_string:
            name, _, value = query_string.partition("=")
            _dict_setitem(result, name, [value])
        return result
    values: dict[str, list[str]] = {}
    for field in query_string.split("&"):
        if field:
            name, _, value = field.partition("=")
            if name in values:
                values[name].append(value)
            else:
                values[name] = [value]
    _dict_update(result, values)
    return result


# A codec: UTF-8 that is strict whatever error handler its caller names.
_STRICT_UTF8 = "microapi_strict_utf_8"


def _find_strict_utf8(name: str) -> codecs.CodecInfo | None:
    if name != _STRICT_UTF8:
        return None

    def decode(data: Buffer, errors: str = "strict", /) -> tuple[str, int]:
        return codecs.utf_8_decode(data, "strict", True)

    return codecs.CodecInfo(codecs.utf_8_encode, decode, name=_STRICT_UTF8)


codecs.register(_find_strict_utf8)


class _StrictMultiPartParser(MultiPartParser):
    """werkzeug's multipart parser, with values that are UTF-8 or an error.

    NOTE: werkzeug decodes each field with ``errors="replace"``, so bytes
    that are not UTF-8 reach the handler as U+FFFD; its charset names a
    codec that ignores the handler asked for, and the UnicodeDecodeError
    (a ValueError) is a 400 in :meth:`StrictFormDataParser._parse_strict`.
    A part declared ``charset=iso-8859-1`` is Latin-1, as in werkzeug.
    """

    def get_part_charset(self, headers: Headers) -> str:
        """UTF-8, strictly, unless the part is declared ISO-8859-1."""
        charset = super().get_part_charset(headers)
        return charset if charset == "iso-8859-1" else _STRICT_UTF8


class StrictFormDataParser(FormDataParser):
    """werkzeug's form parser, made strict.

    Malformed multipart bodies raise instead of yielding an empty form, and
    field values (urlencoded, raw or percent-encoded, and multipart) must be
    UTF-8, and urlencoded bodies have at most ``max_form_parts`` fields.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["silent"] = False
        super().__init__(*args, **kwargs)

    def parse(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str] | None = None,
    ) -> tuple[IO[bytes], MultiDict[str, str], MultiDict[str, Any]]:
        """Parse *stream*; see :meth:`werkzeug.formparser.FormDataParser.parse`."""
        if mimetype != _URLENCODED:
            return self._parse_strict(stream, mimetype, content_length, options)
        try:
            # NOTE: strict, unlike the query string (werkzeug's req.args keeps
            # "%FF" as the text "%FF"): a form value is UTF-8 or a 400.
            pairs = _pairs(stream.read().decode(), self.max_form_parts, "strict")
        except UnicodeDecodeError:
            raise BadRequest("the form body is not valid UTF-8 (raw or percent-encoded)") from None
        return stream, self.cls(pairs), self.cls()

    def _strict_multipart(
        self,
        stream: IO[bytes],
        content_length: int | None,
        options: dict[str, str],
    ) -> tuple[IO[bytes], MultiDict[str, str], MultiDict[str, Any]]:
        # werkzeug's FormDataParser._parse_multipart, with _StrictMultiPartParser
        # (called here, not overridden: werkzeug's private names may change).
        parser = _StrictMultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        form, files = parser.parse(stream, boundary, content_length)
        return stream, form, files

    def _parse_strict(
        self,
        stream: IO[bytes],
        mimetype: str,
        content_length: int | None,
        options: dict[str, str] | None,
    ) -> tuple[IO[bytes], MultiDict[str, str], MultiDict[str, Any]]:
        # NOTE: when a multipart body fails half-way (malformed, too many
        # parts), werkzeug drops the files it already made without closing
        # them: temporary files left to the garbage collector, each with a
        # ResourceWarning.  Track them and close them on failure.
        factory = self.stream_factory
        created: list[IO[bytes]] = []

        def tracked(
            total_content_length: int | None,
            content_type: str | None,
            filename: str | None,
            content_length: int | None = None,
        ) -> IO[bytes]:
            file = factory(total_content_length, content_type, filename, content_length)
            created.append(file)
            return file

        self.stream_factory = tracked
        try:
            if mimetype != "multipart/form-data":
                return stream, self.cls(), self.cls()  # as werkzeug: not a form
            return self._strict_multipart(stream, content_length, options or {})
        except Exception as exc:
            for file in created:
                file.close()
            if isinstance(exc, UnicodeDecodeError):
                raise BadRequest("a form value is not valid UTF-8") from None
            if isinstance(exc, ValueError):
                raise BadRequest(f"malformed form body: {exc}") from None
            raise
        finally:
            self.stream_factory = factory


def _decode_text(data: bytes, charset: str) -> str:
    try:
        # ValueError: a NUL in the name.
        name: str | None = codecs.lookup(charset).name
    except (LookupError, ValueError):
        name = None
    if name is None or name in _NOT_CHARSETS:
        raise UnsupportedMediaType(f"unknown or non-text charset {charset!r}")
    if not _is_ascii_superset(name):
        raise UnsupportedMediaType(
            f"charset {charset!r} is not an ASCII superset: send text in UTF-8"
        )
    try:
        return data.decode(name)
    except LookupError:  # a bytes-to-bytes codec such as base64
        raise UnsupportedMediaType(f"unknown or non-text charset {charset!r}") from None
    except UnicodeError:
        raise BadRequest(f"the body is not valid {charset}") from None


def parse_body(req: Request) -> Any:
    """Parse the body of *req* by its content type (what ``req.body`` is).

    JSON → Python value, urlencoded/multipart → ``req.form``, ``text/*`` →
    ``str`` (by its ``charset``, UTF-8 by default), anything else → ``bytes``;
    ``None`` for an empty body.  ``req.get_data()`` keeps the raw bytes.
    """
    data = req.get_data()
    if not data:
        return None
    mimetype = req.mimetype
    if mimetype in FORM_MIMETYPES:
        return req.form
    if is_json(mimetype):
        return load_json(data)
    if mimetype.startswith("text/"):
        return _decode_text(data, req.mimetype_params.get("charset", "utf-8"))
    return data

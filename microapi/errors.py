"""One error type, and the one renderer that turns any error into problem+json.

Every error response microapi generates is an RFC 9457 problem document::

    {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "..."}

:class:`HTTPError` is a werkzeug :class:`~werkzeug.exceptions.HTTPException`,
so any werkzeug exception raised from a handler is rendered the same way.
"""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from .response import header_value

__all__ = ["PROBLEM_CONTENT_TYPE", "HTTPError", "to_problem"]

#: The media type of every error body the framework generates.
PROBLEM_CONTENT_TYPE = "application/problem+json"


class HTTPError(HTTPException):
    """An HTTP error to raise from handlers and middleware.

    ``raise HTTPError(404, "todo not found")`` answers with a 404
    problem+json body.  Keyword arguments become extension members of the
    problem document (``errors={"title": ["required"]}`` for a 422)::

        raise HTTPError(409, "title already taken", errors={"title": ["taken"]})

    :param status: the HTTP status, 400 to 599.
    :param detail: a human-readable explanation of this occurrence.
    :param title: a short summary; defaults to the status phrase.
    :param type: a URI identifying the problem type; ``"about:blank"``
        by default.
    :param headers: extra response headers (``Retry-After``,
        ``WWW-Authenticate``, ...).
    :param extensions: extra members of the problem document.
    """

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        type: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ValueError(f"HTTPError status must be an int from 400 to 599, got {status!r}")
        # PERF: werkzeug's HTTPException.__init__ inlined (-0.25 µs a raise,
        # which every 4xx a handler raises pays): it only sets these two (a
        # subclass's class-level description stays the default).
        # Exception.__init__ is skipped too, so args keeps the positional
        # arguments.
        if detail is not None:
            self.description = detail
        self.response = None
        #: The HTTP status code.
        self.code = status
        #: The problem's ``title``; ``None`` means the status phrase.
        self.title = title
        #: The problem's ``type`` URI.
        self.type = type
        #: Extra headers for the error response (checked now, so that a bad
        #: one fails where it is raised, not while the error is answered).
        self.headers = (
            {name: header_value(name, value) for name, value in headers.items()} if headers else {}
        )
        #: Extension members of the problem document.
        self.extensions = extensions

    @property
    def detail(self) -> str | None:
        """The problem's ``detail`` (werkzeug calls it ``description``)."""
        return self.description

    def __repr__(self) -> str:
        return f"HTTPError({self.code}, {self.description!r})"


def to_problem(exc: HTTPException) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
    """Describe *exc* as ``(status, problem document, extra headers)``.

    Works for :class:`HTTPError` and for any werkzeug
    :class:`~werkzeug.exceptions.HTTPException`; headers that werkzeug adds
    for the status (``Allow`` on 405, ``WWW-Authenticate`` on 401,
    ``Retry-After`` on 429/503) are kept.
    """
    status = exc.code or 500
    if isinstance(exc, HTTPError):
        problem: dict[str, Any] = {
            "type": exc.type,
            "title": exc.title or HTTP_STATUS_CODES.get(status, "Error"),
            "status": status,
        }
        if exc.description is not None:
            problem["detail"] = exc.description
        problem.update(exc.extensions)
        return status, problem, list(exc.headers.items())
    problem = {
        "type": "about:blank",
        "title": HTTP_STATUS_CODES.get(status, "Error"),
        "status": status,
    }
    if exc.description:
        problem["detail"] = exc.description
    headers = [(name, value) for name, value in exc.get_headers() if name.lower() != "content-type"]
    return status, problem, headers

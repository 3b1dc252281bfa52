"""What happens when a request raises: error handlers, problem+json, the error log.

:class:`ErrorHandling` is the part of :class:`~microapi.Api` that turns an
exception into a response: ``@api.errorhandler`` registration, finding the
handler (status first, then the MRO), running it, and otherwise rendering
the RFC 9457 problem document (:func:`microapi.errors.to_problem`), with
the traceback logged on ``microapi.error`` for unexpected exceptions.
"""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.urls import iri_to_uri
from werkzeug.wrappers import Response as WerkzeugResponse

from .errors import PROBLEM_CONTENT_TYPE, to_problem
from .jsonutil import dumps
from .protocol import loggable_path
from .response import STATUS_LINES, Res, header_value
from .types import ErrorHandler, describe

if TYPE_CHECKING:
    from .chain import EventLoops
    from .request import Request

__all__ = ["ErrorHandling", "error_log"]

E = TypeVar("E", bound=ErrorHandler)

#: Unhandled exceptions, with their traceback and the request id.
error_log = logging.getLogger("microapi.error")


class ErrorHandling:
    """Error handlers and problem rendering, mixed into :class:`~microapi.Api`."""

    #: Whether 500 responses show the traceback.
    debug: bool
    _error_handlers: dict[type[BaseException] | int, ErrorHandler]
    _loops: EventLoops

    def _check_open(self) -> None:
        raise NotImplementedError

    def errorhandler(self, key: type[BaseException] | int) -> Callable[[E], E]:
        """Register ``handler(req, res, exc)`` for an exception type or status.

        Handlers are found by status first (for HTTP errors), then by the
        exception's MRO; a handler for ``500`` also receives unhandled
        exceptions.  A handler that sends nothing leaves the default
        problem+json response.
        """

        def decorator(handler: E) -> E:
            self.add_error_handler(key, handler)
            return handler

        return decorator

    def add_error_handler(self, key: type[BaseException] | int, handler: ErrorHandler) -> None:
        """Register *handler* for *key*; see :meth:`errorhandler`."""
        self._check_open()
        if isinstance(key, int):
            if not 400 <= key <= 599:
                raise ValueError(f"error handlers take a status from 400 to 599, not {key}")
        elif not (isinstance(key, type) and issubclass(key, BaseException)):
            raise TypeError(f"errorhandler takes an exception class or a status, not {key!r}")
        self._error_handlers[key] = handler

    def _find_error_handler(self, exc: Exception) -> ErrorHandler | None:
        # Status first (HTTP errors), then the MRO; a 500 handler also takes
        # exceptions nothing else handles.
        handlers = self._error_handlers
        if not handlers:
            return None
        code = exc.code if isinstance(exc, HTTPException) else None
        if code is not None and code in handlers:
            return handlers[code]
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        return handlers.get(500) if code is None else None

    def _handle_error(self, req: Request, res: Res, exc: Exception) -> None:
        handler = self._find_error_handler(exc)
        unexpected = not isinstance(exc, HTTPException)
        if unexpected and handler is self._error_handlers.get(500):
            # The catch-all 500 handler shapes the answer; the bug still
            # deserves its traceback in the log.
            self._log_exception(req, exc, "unhandled exception")
            unexpected = False
        if handler is not None and self._run_error_handler(req, res, exc, handler):
            return  # handled: not an error worth a traceback
        if unexpected:
            self._log_exception(req, exc, "unhandled exception")
        self._render_problem(req, res, exc)

    def _run_error_handler(
        self, req: Request, res: Res, exc: Exception, handler: ErrorHandler
    ) -> bool:
        # Whether the handler answered; if it raised, the answer is its error's.
        code = exc.code if isinstance(exc, HTTPException) else None
        # A status STATUS_LINES lacks (code = 999) would fail at emission.
        res._reset_for_error(code if code in STATUS_LINES else 500)
        # Error handlers' bodies are never dumped through the route's
        # response= schema (microapi.validation).
        res._dump = None
        try:
            value = handler(req, res, exc)
            if inspect.isawaitable(value):
                value = self._loops.run(value)  # type: ignore[arg-type]
            res._finish(value, handler)
        except Exception as error:
            # Its traceback chains the original exception.
            self._log_exception(req, error, f"error handler {describe(handler)} failed")
            self._render_problem(req, res, error)
            return True
        return res._sent is not None

    def _render_problem(self, req: Request, res: Res, exc: Exception) -> None:
        if isinstance(exc, HTTPException):
            response = exc.response
            if response is None and exc.code is not None and 300 <= exc.code <= 399:
                response = self._redirect_response(req, exc)
            if isinstance(response, WerkzeugResponse):
                res._reset_for_error(response.status_code)
                res._use_response(response)
                return
            http_error: HTTPException = exc
        else:
            http_error = InternalServerError()
        status, problem, headers = to_problem(http_error)
        if status == 500 and self.debug and not isinstance(exc, HTTPException):
            problem["traceback"] = traceback.format_exception(exc)
        try:
            if not 400 <= status <= 599:
                raise ValueError(
                    f"{type(exc).__name__} has status {status}: an error's status is "
                    "from 400 to 599 (or a redirect's, from 300 to 399)"
                ) from exc
            # NOTE: werkzeug exceptions' headers (Allow from valid_methods,
            # WWW-Authenticate...) are not checked where they are raised.
            for name, value in headers:
                header_value(name, value)
            body = dumps(problem)
        except (TypeError, ValueError) as error:
            # A bad status, header or extension: a bug, answered as a plain 500.
            self._log_exception(req, error, f"cannot render the {status} problem")
            status, problem, headers = to_problem(InternalServerError())
            body = dumps(problem)
        res._reset_for_error(status)
        for name, value in headers:
            res.set_header(name, value)
        res._body = body
        res._content_type = PROBLEM_CONTENT_TYPE
        res._sent = "error"

    def _redirect_response(self, req: Request, exc: HTTPException) -> WerkzeugResponse | None:
        # A 3xx werkzeug exception (RequestRedirect...) is a redirect, not a
        # problem: werkzeug's own response, Location kept; None if unusable.
        try:
            response = exc.get_response(req.environ)
            location = response.headers.get("Location")
            if location is not None and not location.isascii():
                response.headers["Location"] = iri_to_uri(location)
            for name, value in response.headers.items():
                header_value(name, value)
        except (TypeError, ValueError) as error:
            self._log_exception(req, error, f"cannot answer the {exc.code} redirect")
            return None
        return response

    def _log_exception(self, req: Request, exc: Exception, what: str) -> None:
        route = req.route.name if req.route is not None else None
        error_log.error(
            "%s in %s %s (route %s) [request_id=%s]",
            what,
            req.method,
            loggable_path(req.path),
            route,
            req.id,
            exc_info=exc,
            extra={"request_id": req.id},
        )

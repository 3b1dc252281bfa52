"""``TestClient``: werkzeug's test client for an ``Api``.

::

    client = TestClient(api)
    response = client.get("/api/hello")
    assert response.status_code == 200
    assert response.json == {"message": "Hello API!"}

Responses are werkzeug ``TestResponse`` objects; ``.json`` parses
``application/json`` and ``application/problem+json`` bodies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.test import Client, TestResponse

from .types import WSGIApp

__all__ = ["TestClient", "TestResponse"]


class TestClient(Client):
    """A werkzeug :class:`~werkzeug.test.Client` for *app*, keeping cookies.

    Unlike werkzeug's, it buffers responses by default (``buffered=True``):
    the body is read and the app's iterable closed right away, as a WSGI
    server would, so files and streams are released.  Pass
    ``buffered=False`` to a request to read a stream incrementally.

    A ``Cookie`` header passed to a request is sent, before the kept
    cookies (werkzeug's client silently replaces it with its cookie jar).

    :param app: the ``Api`` (or any WSGI app) under test.
    :param use_cookies: keep cookies between requests, like a browser.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, app: WSGIApp, use_cookies: bool = True, **kwargs: Any) -> None:
        super().__init__(
            _with_explicit_cookies(app),
            response_wrapper=TestResponse,
            use_cookies=use_cookies,
            **kwargs,
        )
        self._keeps_cookies = use_cookies

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> TestResponse:
        """Make a request; see :meth:`werkzeug.test.Client.open`."""
        return super().open(*args, buffered=buffered, **kwargs)

    def run_wsgi_app(
        self, environ: dict[str, Any], buffered: bool = False
    ) -> tuple[Iterable[bytes], str, Headers]:
        """Run the app for *environ*; see :meth:`werkzeug.test.Client.run_wsgi_app`."""
        # NOTE: werkzeug's client replaces a Cookie header with its jar (an
        # explicit header would vanish, and a test sending one would test
        # nothing); set it aside for the app's wrapper to put back in front.
        if self._keeps_cookies and "HTTP_COOKIE" in environ:
            environ[_EXPLICIT_COOKIE] = environ.pop("HTTP_COOKIE")
        return super().run_wsgi_app(environ, buffered)


# The environ key a request's own Cookie header waits under.
_EXPLICIT_COOKIE = "microapi.testing.cookie"


def _with_explicit_cookies(app: WSGIApp) -> WSGIApp:
    """*app*, receiving a request's own Cookie header before the kept cookies."""

    def app_with_cookies(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        explicit = environ.pop(_EXPLICIT_COOKIE, None)
        if explicit:
            kept = environ.get("HTTP_COOKIE")
            environ["HTTP_COOKIE"] = f"{explicit}; {kept}" if kept else explicit
        return app(environ, start_response)

    return app_with_cookies

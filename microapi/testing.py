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

from typing import Any

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
        super().__init__(app, response_wrapper=TestResponse, use_cookies=use_cookies, **kwargs)

    def open(self, *args: Any, buffered: bool = True, **kwargs: Any) -> TestResponse:
        """Make a request; see :meth:`werkzeug.test.Client.open`."""
        return super().open(*args, buffered=buffered, **kwargs)

    def _add_cookies_to_wsgi(self, environ: dict[str, Any]) -> None:
        # NOTE: werkzeug's (private since 2.3) hook that writes the jar into
        # the environ; an explicit header would otherwise vanish, and a test
        # sending one would silently test nothing.
        if self._cookies is None:
            return  # use_cookies=False: the header is sent as given
        explicit = environ.get("HTTP_COOKIE")
        super()._add_cookies_to_wsgi(environ)
        if explicit:
            kept = environ.get("HTTP_COOKIE")
            environ["HTTP_COOKIE"] = f"{explicit}; {kept}" if kept else explicit

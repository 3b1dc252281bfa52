"""What HTTP itself defines, written once: the token grammar and method sets.

Also how a request path is shown in a log line (:func:`loggable_path`).

Header and cookie names, request methods, CSRF, validation, the route table
and the OpenAPI document all check against these; one definition keeps
those checks from drifting apart.  This module imports nothing.
"""

from __future__ import annotations

import re
from urllib.parse import quote

__all__ = [
    "BODILESS_METHODS",
    "HTTP_METHODS",
    "HTTP_TOKEN",
    "ROUTE_METHODS",
    "SAFE_METHODS",
    "STANDARD_METHODS",
    "loggable_path",
]

#: RFC 9110 section 5.6.2 ``token``: what header names, field names, methods
#: and cookie names must match (``HTTP_TOKEN.fullmatch(name)``).
HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: Methods a route may declare, in the order they are listed (``microapi
#: routes``, a file route's method functions).  ``HEAD`` and ``OPTIONS`` are
#: answered automatically but may be declared to take them over.
ROUTE_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: :data:`ROUTE_METHODS` as a set, for membership tests.
HTTP_METHODS = frozenset(ROUTE_METHODS)
#: RFC 9110 section 9's methods: all of them are tokens.
STANDARD_METHODS = HTTP_METHODS | {"TRACE", "CONNECT"}
#: RFC 9110 section 9.2.1: methods that change nothing, so CSRF lets them by.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Methods whose request body means nothing (RFC 9110 defines none for them):
#: a route's ``body=`` schema is neither applied to nor documented for them.
BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def loggable_path(path: str) -> str:
    """*path* as a log line may show it: percent-encoded again where needed.

    WSGI paths arrive percent-decoded, so a ``%0A`` in the request would
    otherwise start a forged line in the log.
    """
    return quote(path, safe="/:@!$&'()*+,;=")

"""``csrf``: signed double-submit tokens for cookie-session requests.

Browsers send cookies with requests that other sites start, so a request
authenticated by the session cookie must prove it came from the app's own
pages.  For unsafe methods (anything but GET, HEAD, OPTIONS and TRACE) on
requests that carry the session cookie, this middleware:

1. refuses cross-site requests: ``Sec-Fetch-Site: cross-site``, or an
   ``Origin`` other than the request's own scheme and host (``null``
   included), unless that origin is in ``trusted_origins``;
2. requires the session's CSRF token (``req.csrf_token``) echoed in the
   ``X-CSRF-Token`` header or, for urlencoded and multipart bodies, the
   ``csrf_token`` form field.

Failures are 403 problem+json.  Requests without the session cookie
(bearer-token clients, first visits) need no token; of those, the ones a
page on another site could make a browser send without a CORS preflight
(a form, ``text/plain`` or no body type, and no ``Authorization``) are
still refused when their ``Origin`` or ``Sec-Fetch-Site`` says cross-site:
that stops login CSRF.  Whenever a
session is in use, the token is kept in a readable cookie (``csrf_token``)
for scripts to echo; HTML forms put ``req.csrf_token`` in a hidden field::

    api = Api(secret_key=os.environ["MICROAPI_SECRET_KEY"])
    api.middleware(csrf())

    fetch("/api/todos", {method: "POST", headers: {"X-CSRF-Token": cookie("csrf_token")}})
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..bodies import FORM_MIMETYPES
from ..errors import HTTPError
from ..protocol import HTTP_TOKEN, SAFE_METHODS
from ..security import CSRF_SESSION_KEY, csrf_token_matches, session_csrf_token
from ..securitydoc import Security, declare_responses, declare_security
from ..sessions import cookie_values

if TYPE_CHECKING:
    from ..app import Api
    from ..request import Request
    from ..response import Res
    from ..routing import Route
    from ..types import Middleware, Next

__all__ = ["SAFE_METHODS", "csrf"]

#: Methods that must not change state, so are never checked (RFC 9110 §9.2.1).

# What a page on another site can make a browser send without a CORS
# preflight (the "simple" content types; "" for a body without one).
_SIMPLE_MIMETYPES = frozenset({*FORM_MIMETYPES, "text/plain", ""})

_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _origin(scheme: str, host: str) -> str:
    # RFC 6454 serialization: lowercase, no default port.
    scheme = scheme.lower()
    host = host.lower()
    default = _DEFAULT_PORTS.get(scheme)
    if default is not None and host.endswith(default):
        host = host[: -len(default)]
    return f"{scheme}://{host}"


def _trusted(origins: Iterable[str]) -> frozenset[str]:
    if isinstance(origins, str):
        raise TypeError("trusted_origins takes a list of origins, not one string")
    found = set()
    for origin in origins:
        parts = urlsplit(origin)
        if (
            parts.scheme not in _DEFAULT_PORTS
            or not parts.netloc
            or "@" in parts.netloc
            or origin.rstrip("/").lower() != f"{parts.scheme}://{parts.netloc}".lower()
        ):
            raise ValueError(
                f"trusted origin {origin!r} must be a scheme and host, "
                "e.g. 'https://app.example.com'"
            )
        found.add(_origin(parts.scheme, parts.netloc))
    return frozenset(found)


def csrf(
    *,
    cookie_name: str = "csrf_token",
    header_name: str = "X-CSRF-Token",
    field_name: str = "csrf_token",
    trusted_origins: Iterable[str] = (),
) -> Middleware:
    """Return middleware refusing forged cookie-session requests (403).

    Register it before middleware and handlers that act on the session;
    the app needs a secret key (``Api(secret_key=...)``).

    :param cookie_name: the readable cookie holding the token.
    :param header_name: the header unsafe requests echo the token in.
    :param field_name: the form field that may carry it instead
        (urlencoded and multipart bodies; not on ``body_parser=False``
        routes, whose body is left unread).
    :param trusted_origins: other origins allowed to send unsafe requests
        (``"https://app.example.com"``), e.g. a front end on a sibling
        subdomain; they still need the token.
    :raises ValueError: for a cookie, header or field name that is not a
        token, or a trusted origin that is not a scheme and host.
    """
    for what, name in (
        ("cookie_name", cookie_name),
        ("header_name", header_name),
        ("field_name", field_name),
    ):
        if not isinstance(name, str) or not HTTP_TOKEN.fullmatch(name):
            raise ValueError(f"csrf({what}={name!r}): must be a non-empty token")
    trusted = _trusted(trusted_origins)

    def schemes(api: Api) -> dict[str, dict[str, Any]]:
        # For the OpenAPI document: the cookie the browser sends by itself,
        # and the header a client (or Swagger UI's Authorize) must add.
        return {
            "sessionCookie": {
                "type": "apiKey",
                "in": "cookie",
                "name": api.session_cookie,
                "description": "The signed session cookie the app sets.",
            },
            "csrfToken": {
                "type": "apiKey",
                "in": "header",
                "name": header_name,
                "description": f"The {cookie_name} cookie's value; needed with the "
                "session cookie only.",
            },
        }

    # Unsafe requests with the session cookie need the token; requests
    # without it (bearer clients) need nothing.
    security = Security(
        schemes=schemes,
        requirements=({"sessionCookie": [], "csrfToken": []}, {}),
        unchecked=SAFE_METHODS,
    )
    header_key = "HTTP_" + header_name.upper().replace("-", "_")
    missing = (
        f"CSRF token missing: send the {cookie_name} cookie's value in the {header_name} "
        f"header or the {field_name} form field"
    )
    wrong = (
        f"CSRF token invalid: send the current {cookie_name} cookie's value in the "
        f"{header_name} header or the {field_name} form field"
    )

    def cross_site(req: Request) -> str | None:
        # Why a request from another site must be refused, or None.
        environ = req.environ
        sent_origin: str = environ.get("HTTP_ORIGIN", "")
        origin = None
        if sent_origin:
            scheme, _, host = sent_origin.strip().partition("://")
            origin = _origin(scheme, host)  # "null" becomes "null://"
        if origin in trusted:  # a trusted origin is not checked further
            return None
        if origin is not None and origin != _origin(req.scheme, req.host):
            return f"cross-origin request refused (Origin: {sent_origin[:100]!r})"
        site = environ.get("HTTP_SEC_FETCH_SITE")
        if site is not None and site.strip().lower() == "cross-site":
            return "cross-site request refused (Sec-Fetch-Site: cross-site)"
        return None

    def refusal(req: Request, route: Route) -> str | None:
        # Why this unsafe cookie-session request must be refused, or None.
        reason = cross_site(req)
        if reason is not None:
            return reason
        environ = req.environ
        token = environ.get(header_key)
        if not token and route.body_parser and req.mimetype in FORM_MIMETYPES:
            token = req.form.get(field_name)
        if not token:
            return missing
        secret = req.session.get(CSRF_SESSION_KEY)
        assert req.api is not None
        if not isinstance(secret, str) or not csrf_token_matches(req.api.keys, token, secret):
            return wrong
        return None

    def keep_cookie(req: Request, res: Res) -> None:
        # Set the readable cookie to this session's token, unless the
        # client already has it; the dispatcher saves the session after.
        api = req.api
        assert api is not None
        # NOTE: computed again rather than req.csrf_token, which may be
        # stale if the handler changed the secret (a new one at login).
        token = req.csrf_token = session_csrf_token(api.keys, req.session)
        if cookie_values(req, cookie_name)[:1] != [token]:
            res.cookie(cookie_name, token, max_age=api.session_max_age, httponly=False)

    def middleware(req: Request, res: Res, next: Next) -> Any:
        api = req.api
        assert api is not None
        # PERF: by name only, without verifying; for most safe requests
        # this is one dict lookup.
        carried = bool(cookie_values(req, api.session_cookie))
        route = req.route  # None: no route matched, nothing will act
        if route is not None and req.method not in SAFE_METHODS:
            if carried:
                reason = refusal(req, route)
                if reason is not None:
                    keep_cookie(req, res)  # so that the client can retry
                    raise HTTPError(403, reason)
            elif "HTTP_AUTHORIZATION" not in req.environ and req.mimetype in _SIMPLE_MIMETYPES:
                # NOTE: without a session there is no token to check, but a
                # page on another site can still make its visitors' browsers
                # post a form here (a login CSRF: the victim logged in as the
                # attacker).  Requests a browser sends cross-site only after
                # a CORS preflight (JSON, or with credentials of their own)
                # are left to cors().
                reason = cross_site(req)
                if reason is not None:
                    raise HTTPError(403, reason)
        next()
        session = req._session  # only if the request read or set it
        if session is not None and not session and getattr(session, "modified", True):
            # Emptied (a logout): the token goes with the session.
            if cookie_values(req, cookie_name):
                res.clear_cookie(cookie_name)
        elif carried or session:
            # A session is in use: the request carries its cookie (even an
            # unreadable one, then replaced) or the handler wrote one.
            keep_cookie(req, res)

    refused = {403: "CSRF token missing or invalid."}
    return declare_responses(
        declare_security(middleware, security), refused, unchecked=SAFE_METHODS
    )

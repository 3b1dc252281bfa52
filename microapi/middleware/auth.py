"""``bearer_auth``: ``Authorization: Bearer <token>`` → ``req.user``.

Tokens are the app's own (``api.tokens.issue(...)``, see
:mod:`microapi.security`).  Failures follow RFC 6750 §3::

    no credentials (or another scheme)   401  WWW-Authenticate: Bearer
    malformed Authorization header       400  Bearer error="invalid_request"
    invalid, expired or unknown user     401  Bearer error="invalid_token"

::

    def load_user(payload):
        return db.users.get(payload["sub"])      # None → 401 invalid_token

    api.middleware(bearer_auth(load_user=load_user), match="/api/private/:path*")
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..chain import before_only, is_async
from ..errors import HTTPError
from ..security import ExpiredToken, InvalidToken
from ..securitydoc import Security, declare_responses, declare_security

if TYPE_CHECKING:
    from ..request import Request
    from ..response import Res
    from ..types import Middleware, Next

__all__ = ["BEARER_SCHEME", "bearer_auth"]

M = TypeVar("M")

#: RFC 6750 §2.1 ``b64token``.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# What error_description and realm may hold (RFC 6750 §3): no '"' or '\'.
_QUOTABLE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")

#: The OpenAPI security scheme ``bearer_auth`` declares.
BEARER_SCHEME = {
    "type": "http",
    "scheme": "bearer",
    "description": "A token from api.tokens.issue(...), sent as Authorization: Bearer <token>.",
}

#: ``bearer_auth``'s answer when there are no credentials and they are optional.
_ANONYMOUS: Any = object()


def bearer_auth(
    load_user: Callable[[dict[str, Any]], Any] | None = None,
    *,
    optional: bool = False,
    realm: str | None = None,
) -> Middleware:
    """Return middleware authenticating ``Authorization: Bearer`` tokens.

    The token is verified with ``req.api.tokens``; ``req.user`` becomes
    ``load_user(payload)``, or the payload itself without *load_user*.
    The scheme is case-insensitive.  Errors are problem+json with a
    ``WWW-Authenticate`` challenge (RFC 6750 §3.1): 401 without an error
    code when there are no bearer credentials, 400 ``invalid_request`` for
    a malformed header (``Bearer`` without a token, or a token that is not
    a ``b64token``), 401 ``invalid_token`` for a token that is invalid or
    expired, or whose user *load_user* does not find (returns ``None``).

    :param load_user: ``load_user(payload) -> user or None``, sync or
        ``async def`` (the middleware is then async).  What it raises
        propagates (an :class:`~microapi.HTTPError` ``403`` for a
        disabled account, say).
    :param optional: let requests without bearer credentials through
        anonymously (``req.user`` stays ``None``); credentials that are
        sent are still checked, and bad ones still refused.
    :param realm: the ``realm`` of the challenge, if any.
    :raises ValueError: for a realm with ``"`` or ``\\`` or control characters.
    """
    if realm is not None and not _QUOTABLE.fullmatch(realm):
        raise ValueError(f"bearer_auth(realm={realm!r}): no quotes, backslashes or controls")
    challenge = "Bearer" if realm is None else f'Bearer realm="{realm}"'
    # For the OpenAPI document: optional credentials allow anonymous requests.
    security = Security(
        schemes={"bearerAuth": BEARER_SCHEME},
        requirements=({"bearerAuth": []}, {}) if optional else ({"bearerAuth": []},),
    )

    answered = {
        400: "The Authorization header is malformed.",
        401: "No valid bearer token: missing, expired or invalid.",
    }

    def declared(middleware: M) -> M:
        return declare_responses(declare_security(middleware, security), answered)

    def refuse(status: int, detail: str, error: str | None = None) -> HTTPError:
        header = challenge
        if error is not None:
            header += f'{"," if realm is not None else ""} error="{error}", '
            header += f'error_description="{detail}"'
        return HTTPError(status, detail, headers={"WWW-Authenticate": header})

    def payload_of(req: Request) -> Any:
        # The verified payload, _ANONYMOUS, or an HTTPError raised.
        credentials = req.environ.get("HTTP_AUTHORIZATION", "").split(None, 1)
        if not credentials or credentials[0].lower() != "bearer":
            if optional:
                return _ANONYMOUS
            raise refuse(401, "authentication required: send Authorization: Bearer <token>")
        if len(credentials) == 1:
            raise refuse(
                400, "the Authorization header has no token after Bearer", "invalid_request"
            )
        token = credentials[1].strip()
        if not _B64TOKEN.fullmatch(token):
            raise refuse(400, "the bearer token is malformed", "invalid_request")
        assert req.api is not None
        try:
            return req.api.tokens.verify(token)
        except ExpiredToken:
            raise refuse(401, "the token has expired", "invalid_token") from None
        except InvalidToken:
            raise refuse(401, "the token is invalid", "invalid_token") from None

    unknown = "the token's user is unknown"

    if load_user is not None and is_async(load_user):
        load_async: Callable[[dict[str, Any]], Awaitable[Any]] = load_user

        async def async_middleware(req: Request, res: Res, next: Next) -> Any:
            payload = payload_of(req)
            if payload is not _ANONYMOUS:
                user = await load_async(payload)
                if user is None:
                    raise refuse(401, unknown, "invalid_token")
                req.user = user
            await next()

        return declared(async_middleware)

    def middleware(req: Request, res: Res, next: Next) -> Any:
        payload = payload_of(req)
        if payload is not _ANONYMOUS:
            if load_user is None:
                req.user = payload
            else:
                user = load_user(payload)
                if user is None:
                    raise refuse(401, unknown, "invalid_token")
                req.user = user
        next()

    return declared(before_only(middleware))

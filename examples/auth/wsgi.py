"""Register, log in, and stay logged in: ``gunicorn examples.auth.wsgi:api``.

Two ways to be authenticated, as the article describes:

- **Bearer tokens** for API clients: ``POST /api/login`` returns a signed,
  expiring token (``api.tokens``); ``GET /api/me`` sends it back in
  ``Authorization: Bearer ...`` and ``bearer_auth`` turns it into ``req.user``.
- **A cookie session** for browsers: ``POST /api/session/login`` puts the
  user id in ``req.session`` (a signed cookie); every later unsafe request
  of that browser must echo the CSRF token (``csrf()``), which
  ``GET /api/session`` hands out.

Users live in SQL (:mod:`.db`): ``AUTH_DATABASE_URL``, else ``DATABASE_URL``
(PostgreSQL, shared by every host), else a SQLite file next to the example;
a busy or unreachable database is a 503 with ``Retry-After``, as in the
todos example.  Passwords are hashed with werkzeug's
``generate_password_hash`` (scrypt) and the registration and login routes
are rate-limited per client in a SQLite file shared by all workers.  The
secret key comes from ``MICROAPI_SECRET_KEY``; without it the example uses a
fixed development key and says so in the log.

Nothing connects at import (``microapi serve`` imports the app before it
forks the workers): each worker opens its database at its first request.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from examples.todos.db import answer_unavailable
from microapi import Api, HTTPError, Request, Res
from microapi.middleware import (
    SQLiteStore,
    Store,
    bearer_auth,
    csrf,
    proxy_fix,
    rate_limit,
    request_id,
    security_headers,
)
from microapi.security import SECRET_KEY_ENV

from .db import Users
from .schemas import Credentials, Registration, Rename

__all__ = ["DEV_SECRET_KEY", "api", "create_api"]

log = logging.getLogger("examples.auth")

#: The key used when ``MICROAPI_SECRET_KEY`` is unset: for trying the example only.
DEV_SECRET_KEY = "examples.auth development key: set MICROAPI_SECRET_KEY in production"
#: Seconds a bearer token lives.
TOKEN_LIFETIME = 3600
#: Registrations and login attempts allowed per client address.
LOGIN_LIMIT = "10/minute"
#: The environment variable naming the rate-limit counters' SQLite file.
LIMITS_DATABASE_ENV = "AUTH_LIMITS_DATABASE"
DEFAULT_LIMITS_DATABASE = Path(__file__).resolve().parent / "auth-limits.db"


def create_api(
    users: Users | None = None,
    *,
    secret_key: str | list[str] | None = None,
    signing_key: str | None = None,
    limit_store: Store | None = None,
    proxies: int = 0,
) -> Api:
    """Build the auth app over *users* (default: ``Users()``, see :mod:`.db`).

    :param secret_key: the signing key(s); default ``MICROAPI_SECRET_KEY``,
        else :data:`DEV_SECRET_KEY` with a warning.
    :param signing_key: the one of the keys that signs (default: the last);
        see ``Api(signing_key=...)`` for rolling rotations.
    :param limit_store: where login attempts are counted (default: the
        SQLite file ``$AUTH_LIMITS_DATABASE``, else ``auth-limits.db``,
        shared by all workers).
    :param proxies: how many reverse proxies in front of the app set
        ``X-Forwarded-For``/``-Proto`` (``proxy_fix``), so that limits count
        clients, not the proxy; 0 (the default) trusts no such header.
    """
    users = users if users is not None else Users()
    if secret_key is None:
        secret_key = os.environ.get(SECRET_KEY_ENV)
        if not secret_key:
            log.warning("%s is not set: using the development key", SECRET_KEY_ENV)
            secret_key = DEV_SECRET_KEY
    api = Api(title="Auth", version="1.0.0", secret_key=secret_key, signing_key=signing_key)
    if proxies:
        # First: everything after it sees the client's address and scheme.
        api.middleware(proxy_fix(x_for=proxies, x_proto=proxies))
    api.middleware(request_id())
    api.middleware(security_headers())
    api.middleware(csrf())
    api.middleware(
        rate_limit(
            LOGIN_LIMIT,
            store=limit_store
            if limit_store is not None
            else SQLiteStore(os.environ.get(LIMITS_DATABASE_ENV) or DEFAULT_LIMITS_DATABASE),
            scope="login",
        ),
        # Registration too: each one runs scrypt, and its 409 tells whether
        # an email has an account, so it must not run at full speed either.
        match=["/api/register", "/api/login", "/api/session/login"],
    )
    api.middleware(
        bearer_auth(load_user=lambda payload: users.get(payload.get("sub"))), match="/api/me"
    )
    # Users are read by bearer_auth too: its database errors are answered here as well.
    answer_unavailable(api, log)

    @api.route(
        "/api/register",
        methods=["POST"],
        body=Registration,
        status=201,
        responses={409: "An account with this email exists."},
    )
    def register(req: Request, res: Res) -> dict[str, Any]:
        """Create an account; 409 when the email is taken."""
        user = users.create(req.body["email"], req.body["name"], req.body["password"])
        if user is None:
            raise HTTPError(409, "an account with this email exists", errors={"email": ["taken"]})
        return user

    def authenticate(req: Request) -> dict[str, Any]:
        user = users.authenticate(req.body["email"], req.body["password"])
        if user is None:
            # One answer for "no such user" and "wrong password".
            raise HTTPError(401, "the email or the password is wrong")
        return user

    wrong = {401: "The email or the password is wrong."}

    @api.route("/api/login", methods=["POST"], body=Credentials, responses=wrong)
    def login(req: Request, res: Res) -> dict[str, Any]:
        """Exchange an email and password for a bearer token."""
        user = authenticate(req)
        token = api.tokens.issue({"sub": user["id"]}, expires_in=TOKEN_LIFETIME)
        return {"token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME}

    @api.route("/api/me")
    def me(req: Request, res: Res) -> dict[str, Any]:
        """The bearer token's user (``bearer_auth`` has checked the token)."""
        return {"user": req.user}

    def session_user(req: Request) -> dict[str, Any] | None:
        return users.get(req.session.get("uid"))

    @api.route("/api/session")
    def session(req: Request, res: Res) -> dict[str, Any]:
        """The session's user (or ``null``) and the CSRF token for unsafe requests."""
        return {"user": session_user(req), "csrf_token": req.csrf_token}

    @api.route("/api/session/login", methods=["POST"], body=Credentials, responses=wrong)
    def session_login(req: Request, res: Res) -> dict[str, Any]:
        """Log the browser in: the user id goes into the signed session cookie."""
        user = authenticate(req)
        # A fresh session, and so a fresh CSRF secret, for the new identity.
        req.session.clear()
        req.session["uid"] = user["id"]
        return {"user": user, "csrf_token": req.csrf_token}

    @api.route("/api/session/me", methods=["PATCH"], body=Rename, responses={401: "Log in first."})
    def rename(req: Request, res: Res) -> dict[str, Any]:
        """Change the logged-in user's name (CSRF-protected, like every unsafe request)."""
        user = session_user(req)
        if user is None:
            raise HTTPError(401, "log in first")
        users.rename(user["id"], req.body["name"])
        return {"user": {**user, "name": req.body["name"]}}

    @api.route("/api/session/logout", methods=["POST"], status=204)
    def logout(req: Request, res: Res) -> None:
        """Forget the session (the cookie is deleted)."""
        req.session.clear()
        res.status(204).end()

    return api


#: The app gunicorn serves.
api = create_api()

"""Signing: secret keys, bearer tokens and the CSRF token (itsdangerous, JSON only).

Everything microapi signs goes through the serializers of
:class:`~microapi.keys.Keys` (``api.keys``, re-exported here): one secret
key or a list of them (oldest first; the last signs, all verify, which is
how keys rotate), a salt per purpose so that a token minted for one
purpose is worthless for another, and JSON, never pickle.

::

    api = Api(secret_key=os.environ["MICROAPI_SECRET_KEY"])
    token = api.tokens.issue({"sub": "42"}, expires_in=3600)
    api.tokens.verify(token)        # {"sub": "42"}
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from itsdangerous import BadData, BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from .keys import CSRF_SALT as CSRF_SALT
from .keys import CSRF_SESSION_KEY as CSRF_SESSION_KEY
from .keys import SECRET_KEY_ENV as SECRET_KEY_ENV
from .keys import SESSION_SALT as SESSION_SALT
from .keys import TOKEN_SALT as TOKEN_SALT
from .keys import Keys as Keys
from .keys import load_keys as load_keys

__all__ = [
    "ExpiredToken",
    "InvalidToken",
    "Keys",
    "Tokens",
    "csrf_token_for",
    "csrf_token_matches",
    "is_canonical",
    "load_keys",
    "new_csrf_secret",
    "session_csrf_token",
]

# How many CSRF tokens a Keys, and verified bearer tokens a Tokens, remember
# (a few hundred bytes each).
_CACHE_SIZE = 1024

# What URLSafeSerializer.dumps makes: base64url payload (a leading "." when
# compressed), ".", base64url signature; the timed serializer puts a
# base64url timestamp and "." before the signature.
_SIGNED_SHAPE = re.compile(r"\.?[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)")
_TIMED_SHAPE = re.compile(r"\.?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)")


def is_canonical(token: str, *, timed: bool = False) -> bool:
    """Whether *token* is spelt exactly as itsdangerous makes it.

    NOTE: itsdangerous also accepts a signature with ``=`` padding appended
    or other values in its last character's unused bits, so one token would
    have several spellings (a session cookie or bearer token "altered" that
    still verifies); only the one it makes is accepted.  Payload and
    timestamp are signed as text, so their spelling is already fixed.

    :param timed: for a ``URLSafeTimedSerializer``'s token (sessions).
    """
    match = (_TIMED_SHAPE if timed else _SIGNED_SHAPE).fullmatch(token)
    if match is None:
        return False
    signature = match[1].encode()
    try:
        return base64_encode(base64_decode(signature)) == signature
    except BadData:
        return False


class InvalidToken(BadSignature):
    """A token that is malformed, tampered with, or signed with an unknown key."""


class ExpiredToken(InvalidToken):
    """A token whose ``exp`` claim is in the past."""


class Tokens:
    """Issue and verify signed, expiring bearer tokens: ``api.tokens``.

    A token is the JSON payload plus an ``exp`` claim (Unix time), signed
    with the app's newest secret key.  Tokens are signed, not encrypted:
    anyone holding one can read its payload, so put ids in it, not secrets.
    """

    def __init__(self, keys: Keys) -> None:
        self._keys = keys
        # PERF: a bearer client sends the same token with every request, and
        # checking its signature costs ~9 µs; a verified flat payload is
        # remembered by its token (expiry still checked on every use).
        self._verified: dict[str, tuple[dict[str, Any], int]] = {}

    def _signer(self) -> URLSafeSerializer:
        return self._keys.serializer(TOKEN_SALT, "api.tokens")

    def issue(self, payload: Mapping[str, Any], *, expires_in: int = 3600) -> str:
        """Return a token carrying *payload*, valid for *expires_in* seconds.

        :raises TypeError: when *payload* is not a mapping or is not JSON.
        :raises ValueError: when *payload* has its own ``exp`` or
            *expires_in* is not positive.
        :raises RuntimeError: when the app has no secret key.
        """
        if not isinstance(payload, Mapping):
            raise TypeError(f"token payload must be a mapping, not {type(payload).__name__}")
        if "exp" in payload:
            raise ValueError("token payload must not set 'exp': pass expires_in= instead")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
            raise ValueError(f"expires_in must be a positive number of seconds, not {expires_in!r}")
        return self._signer().dumps({**payload, "exp": int(time.time()) + expires_in})

    def verify(self, token: str | bytes) -> dict[str, Any]:
        """Return the payload of *token* (without ``exp``).

        :raises ExpiredToken: when the token has expired.
        :raises InvalidToken: when it is malformed, tampered with, signed
            for another purpose or with a key no longer in the list.
        :raises RuntimeError: when the app has no secret key.
        """
        signer = self._signer()
        if isinstance(token, bytes):
            token = token.decode("latin-1")
        known = self._verified.get(token) if isinstance(token, str) else None
        if known is not None:
            if known[1] <= time.time():
                raise ExpiredToken("token expired")
            return dict(known[0])
        if not isinstance(token, str) or not is_canonical(token):
            raise InvalidToken("malformed token")
        try:
            payload = signer.loads(token)
        except (BadData, UnicodeError, ValueError, TypeError):
            # NOTE: itsdangerous raises BadPayload (not a BadSignature) for a
            # validly signed token that is not JSON; callers catch one type.
            raise InvalidToken("invalid token") from None
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
            raise InvalidToken("token without an expiry")
        expires = payload.pop("exp")
        if expires <= time.time():
            raise ExpiredToken("token expired")
        # Only flat payloads: a copy of one cannot reach into the cache.
        if all(not isinstance(value, (dict, list)) for value in payload.values()):
            if len(self._verified) >= _CACHE_SIZE:
                self._verified.clear()  # PERF: simpler than an LRU, as good here
            self._verified[token] = (dict(payload), expires)
        return payload


def session_csrf_token(keys: Keys, session: MutableMapping[str, Any]) -> str:
    """The CSRF token of *session*, starting its secret if it has none.

    The one place that reads (or starts) the secret under
    :data:`CSRF_SESSION_KEY`: ``req.csrf_token`` and the :func:`~microapi.middleware.csrf`
    middleware's cookie both call it.

    :raises RuntimeError: when the app has no secret key.
    """
    secret = session.get(CSRF_SESSION_KEY)
    if not isinstance(secret, str):
        secret = session[CSRF_SESSION_KEY] = new_csrf_secret()
    return csrf_token_for(keys, secret)


def new_csrf_secret() -> str:
    """A fresh per-session CSRF secret (kept in the session, never sent bare)."""
    return secrets.token_urlsafe(16)


def csrf_token_for(keys: Keys, secret: str) -> str:
    """The CSRF token for a session's *secret*: signed, so it names its session.

    :raises RuntimeError: when the app has no secret key.
    """
    cache = keys._csrf_tokens
    token = cache.get(secret)
    if token is None:
        token = keys.serializer(CSRF_SALT, "CSRF protection").dumps(secret)
        if len(cache) >= _CACHE_SIZE:
            cache.clear()  # PERF: simpler than an LRU, and as good for this
        cache[secret] = token
    return token


def csrf_token_matches(keys: Keys, token: object, secret: object) -> bool:
    """Whether *token* was made by :func:`csrf_token_for` for this *secret*.

    Tokens signed with any of the keys match (they rotate); anything but
    two strings never matches.

    :raises RuntimeError: when the app has no secret key.
    """
    serializer = keys.serializer(CSRF_SALT, "CSRF protection")
    if not isinstance(secret, str) or not isinstance(token, str):
        return False
    # PERF: the usual token is the newest key's, known without verifying.
    if secrets.compare_digest(token.encode(), csrf_token_for(keys, secret).encode()):
        return True
    if not is_canonical(token):
        return False
    try:
        value = serializer.loads(token)
    except (BadData, UnicodeError, ValueError, TypeError):
        return False
    # NOTE: compare_digest refuses non-ASCII str; bytes compare anything.
    return isinstance(value, str) and secrets.compare_digest(value.encode(), secret.encode())

"""Signing: secret keys, bearer tokens and the CSRF token (itsdangerous, JSON only).

Everything microapi signs goes through :func:`serializer`: one secret key
or a list of them (oldest first; the last signs, all verify, which is how
keys rotate), a salt per purpose so that a token minted for one purpose is
worthless for another, and JSON, never pickle.

::

    api = Api(secret_key=os.environ["MICROAPI_SECRET_KEY"])
    token = api.tokens.issue({"sub": "42"}, expires_in=3600)
    api.tokens.verify(token)        # {"sub": "42"}
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from itsdangerous import BadData, BadSignature, URLSafeSerializer, URLSafeTimedSerializer

__all__ = [
    "ExpiredToken",
    "InvalidToken",
    "Keys",
    "Tokens",
    "csrf_token_for",
    "csrf_token_matches",
    "load_keys",
    "new_csrf_secret",
]

#: The environment variable read when ``Api(secret_key=...)`` is not given.
SECRET_KEY_ENV = "MICROAPI_SECRET_KEY"

#: Salts keep the purposes apart: a session cookie is not a token.
TOKEN_SALT = "microapi.tokens"
SESSION_SALT = "microapi.session"
CSRF_SALT = "microapi.csrf"


class InvalidToken(BadSignature):
    """A token that is malformed, tampered with, or signed with an unknown key."""


class ExpiredToken(InvalidToken):
    """A token whose ``exp`` claim is in the past."""


def load_keys(secret_key: str | bytes | Sequence[str | bytes] | None) -> list[bytes]:
    """Normalise ``secret_key`` to a list of keys, oldest first.

    ``None`` reads ``MICROAPI_SECRET_KEY``; an absent or empty key is an
    empty list, and whatever signs then raises (see :class:`Keys`).

    :raises TypeError: for something that is not a key or a list of keys.
    :raises ValueError: for an empty key inside a list.
    """
    if secret_key is None:
        secret_key = os.environ.get(SECRET_KEY_ENV) or None
        if secret_key is None:
            return []
    if isinstance(secret_key, (str, bytes)):
        return [_as_bytes(secret_key)] if secret_key else []
    keys = []
    for key in secret_key:
        if not isinstance(key, (str, bytes)):
            raise TypeError(f"secret_key: a key must be str or bytes, not {type(key).__name__}")
        if not key:
            raise ValueError("secret_key: an empty key in the list would sign nothing")
        keys.append(_as_bytes(key))
    return keys


def _as_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


class Keys:
    """An app's secret keys and the serializers made from them, one per salt.

    The newest key (the last) signs; every key verifies.
    """

    def __init__(self, secret_key: str | bytes | Sequence[str | bytes] | None) -> None:
        #: The keys, oldest first.
        self.keys = load_keys(secret_key)
        self._plain: dict[str, URLSafeSerializer] = {}
        self._timed: dict[str, URLSafeTimedSerializer] = {}

    def _require(self, purpose: str) -> list[bytes]:
        if not self.keys:
            raise RuntimeError(
                f"{purpose} needs a secret key: pass Api(secret_key=...) or set "
                f"{SECRET_KEY_ENV} (a list of keys rotates them; generate one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"`)'
            )
        return self.keys

    def serializer(self, salt: str, purpose: str) -> URLSafeSerializer:
        """A JSON serializer for *salt*.

        :raises RuntimeError: when there is no key, naming *purpose* and the fix.
        """
        found = self._plain.get(salt)
        if found is None:
            found = self._plain[salt] = URLSafeSerializer(self._require(purpose), salt=salt)
        return found

    def timed_serializer(self, salt: str, purpose: str) -> URLSafeTimedSerializer:
        """Like :meth:`serializer`, with a signing time ``loads`` can bound."""
        found = self._timed.get(salt)
        if found is None:
            found = self._timed[salt] = URLSafeTimedSerializer(self._require(purpose), salt=salt)
        return found


class Tokens:
    """Issue and verify signed, expiring bearer tokens: ``api.tokens``.

    A token is the JSON payload plus an ``exp`` claim (Unix time), signed
    with the app's newest secret key.  Tokens are signed, not encrypted:
    anyone holding one can read its payload, so put ids in it, not secrets.
    """

    def __init__(self, keys: Keys) -> None:
        self._keys = keys

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
        return payload


def new_csrf_secret() -> str:
    """A fresh per-session CSRF secret (kept in the session, never sent bare)."""
    return secrets.token_urlsafe(16)


def csrf_token_for(keys: Keys, secret: str) -> str:
    """The CSRF token for a session's *secret*: signed, so it names its session."""
    return keys.serializer(CSRF_SALT, "CSRF protection").dumps(secret)


def csrf_token_matches(keys: Keys, token: str, secret: str) -> bool:
    """Whether *token* was made by :func:`csrf_token_for` for this *secret*."""
    try:
        value = keys.serializer(CSRF_SALT, "CSRF protection").loads(token)
    except (BadData, UnicodeError, ValueError, TypeError):
        return False
    return isinstance(value, str) and secrets.compare_digest(value, secret)

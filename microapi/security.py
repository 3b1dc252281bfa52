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
import re
import secrets
import time
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from itsdangerous import BadData, BadSignature, URLSafeSerializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

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

#: The environment variable read when ``Api(secret_key=...)`` is not given.
SECRET_KEY_ENV = "MICROAPI_SECRET_KEY"

#: Salts keep the purposes apart: a session cookie is not a token.
TOKEN_SALT = "microapi.tokens"
SESSION_SALT = "microapi.session"
CSRF_SALT = "microapi.csrf"
#: The session key holding the CSRF secret that ``req.csrf_token`` signs.
CSRF_SESSION_KEY = "_csrf"

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

    The newest key (the last) signs, unless *signing_key* names another of
    them; every key verifies.  Naming the signing key is the middle stage of
    a rolling rotation over several hosts: every host first learns the new
    key while still signing with the old one, so that no host ever signs
    with a key that another host does not accept yet.

    :param signing_key: the key that signs; one of *secret_key*'s keys
        (default: the last).
    :raises ValueError: when *signing_key* is not one of the keys.
    """

    def __init__(
        self,
        secret_key: str | bytes | Sequence[str | bytes] | None,
        signing_key: str | bytes | None = None,
    ) -> None:
        #: The keys, oldest first.
        self.keys = load_keys(secret_key)
        #: The key that signs (``None``: the last of :attr:`keys`).
        self.signing_key = None if signing_key is None else _as_bytes(signing_key)
        if self.signing_key is not None and self.signing_key not in self.keys:
            # NOTE: a signing key the app cannot verify would mint sessions
            # and tokens it refuses itself; never echo a key in a message.
            raise ValueError("signing_key must be one of the secret keys")
        # itsdangerous signs with the last key of its list and verifies with
        # all of them: the signing key goes last.
        self._ordered = [key for key in self.keys if key != self.signing_key]
        if self.signing_key is not None:
            self._ordered.append(self.signing_key)
        self._plain: dict[str, URLSafeSerializer] = {}
        self._timed: dict[str, URLSafeTimedSerializer] = {}
        # CSRF tokens by secret: a session's token is the same on every
        # request, and signing it costs more than the rest of the check.
        self._csrf_tokens: dict[str, str] = {}

    def _require(self, purpose: str) -> list[bytes]:
        if not self.keys:
            raise RuntimeError(
                f"{purpose} needs a secret key: pass Api(secret_key=...) or set "
                f"{SECRET_KEY_ENV} (a list of keys rotates them; generate one with "
                '`python -c "import secrets; print(secrets.token_urlsafe(32))"`)'
            )
        return self._ordered

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

"""An app's secret keys, checked when the ``Api`` is built, and the serializers made from them.

Kept apart from :mod:`microapi.security` so that building an ``Api`` needs no
itsdangerous: it is imported by the first serializer (a session, a token,
a CSRF check), so apps that sign nothing never load it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer

__all__ = [
    "CSRF_SALT",
    "CSRF_SESSION_KEY",
    "SECRET_KEY_ENV",
    "SESSION_SALT",
    "TOKEN_SALT",
    "Keys",
    "load_keys",
]

#: The environment variable read when ``Api(secret_key=...)`` is not given.
SECRET_KEY_ENV = "MICROAPI_SECRET_KEY"

#: Salts keep the purposes apart: a session cookie is not a token.
TOKEN_SALT = "microapi.tokens"
SESSION_SALT = "microapi.session"
CSRF_SALT = "microapi.csrf"
#: The session key holding the CSRF secret that ``req.csrf_token`` signs.
CSRF_SESSION_KEY = "_csrf"


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
            from itsdangerous import URLSafeSerializer  # NOTE: ~3 ms at import time

            found = self._plain[salt] = URLSafeSerializer(self._require(purpose), salt=salt)
        return found

    def timed_serializer(self, salt: str, purpose: str) -> URLSafeTimedSerializer:
        """Like :meth:`serializer`, with a signing time ``loads`` can bound."""
        found = self._timed.get(salt)
        if found is None:
            from itsdangerous import URLSafeTimedSerializer  # NOTE: ~3 ms at import time

            found = self._timed[salt] = URLSafeTimedSerializer(self._require(purpose), salt=salt)
        return found

"""Who is calling: the article's ``lib/auth.ts`` (``getUserFromRequest``).

A demo: the bearer token is compared with ``$PAGES_API_TOKEN``.  Signed,
expiring tokens come with ``api.tokens`` and ``bearer_auth``.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from microapi import Request

#: The environment variable holding the accepted token.
TOKEN_ENV = "PAGES_API_TOKEN"
#: The token accepted when the variable is not set (a demo value).
DEFAULT_TOKEN = "let-me-in"


def get_user_from_request(req: Request) -> dict[str, Any] | None:
    """The user a request's ``Authorization: Bearer`` token stands for, or ``None``."""
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    expected = os.environ.get(TOKEN_ENV) or DEFAULT_TOKEN
    # NOTE: compare_digest takes as long for a near miss as for a far one.
    if not hmac.compare_digest(token.encode(), expected.encode()):
        return None
    return {"id": 1, "name": "Ada"}

"""Who is calling: the article's ``lib/auth.ts`` (``verifyToken``, ``getUserFromRequest``).

Tokens are the app's own signed, expiring tokens (``api.tokens``), verified
by ``bearer_auth`` in ``api/private/_middleware.py``; this module only says
which user a verified token stands for.  Print a token for the demo user
with ``python wsgi.py`` in the example's directory (``python -m
examples.pages.wsgi`` from the repository root); it uses
``MICROAPI_SECRET_KEY``.
"""

from __future__ import annotations

from typing import Any

#: The demo users, by id.
USERS: dict[int, dict[str, Any]] = {1: {"id": 1, "name": "Ada"}}


def load_user(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The user a verified token's payload names (``sub``), or ``None`` (401)."""
    user_id = payload.get("sub")
    return USERS.get(user_id) if isinstance(user_id, int) else None

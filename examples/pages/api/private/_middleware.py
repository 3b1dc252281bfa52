"""``middleware.ts`` with ``matcher: "/api/private/:path*"``: a token for every route here.

The check lives in one place (``lib/auth.py``), as the article advises,
instead of being repeated in each route.
"""

from __future__ import annotations

from typing import Any

from examples.pages.lib.auth import get_user_from_request
from microapi import HTTPError, Request, Res


def middleware(req: Request, res: Res, next: Any) -> Any:
    """Let requests with a valid bearer token through; 401 for the others."""
    user = get_user_from_request(req)
    if user is None:
        raise HTTPError(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    req.user = user
    return next()

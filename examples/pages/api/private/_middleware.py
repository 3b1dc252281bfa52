"""``middleware.ts`` with ``matcher: "/api/private/:path*"``: a token for every route here.

The check lives in one place, as the article advises, instead of being
repeated in each route: ``bearer_auth`` verifies the token (401 with a
``WWW-Authenticate: Bearer`` challenge otherwise) and ``_lib/auth.py`` turns
its payload into ``req.user``.
"""

from __future__ import annotations

from microapi.middleware import bearer_auth

from .._lib.auth import load_user

middleware = bearer_auth(load_user=load_user)

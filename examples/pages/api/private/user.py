"""``app/api/user/route.ts``: the caller's user, behind ``_middleware.py``.

In the article the route verifies the token itself; here the folder's
middleware has done it and left the user in ``req.user``.
"""

from __future__ import annotations

from typing import Any

from microapi import Request, Res


def GET(req: Request, res: Res) -> dict[str, Any]:
    """``new Response(JSON.stringify({ user }), { status: 200 })``."""
    return {"user": req.user}

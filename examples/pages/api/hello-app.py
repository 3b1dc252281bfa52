"""``app/api/hello/route.ts``: the App Router style, one function per method.

Methods without a function (PUT, DELETE, ...) get ``405`` with ``Allow``.
"""

from __future__ import annotations

from typing import Any

from microapi import Request, Res


async def GET(req: Request, res: Res) -> dict[str, str]:
    """``return NextResponse.json({ message: ... })``."""
    return {"message": "Hello from App Router!"}


async def POST(req: Request, res: Res) -> dict[str, Any]:
    """Echo the body: ``NextResponse.json({ received: body })``."""
    return {"received": req.body}

"""``pages/api/hello.ts``: the Pages Router's default-exported handler.

Like ``export default function handler``, it answers every method
(GET, POST, PUT, PATCH, DELETE); ``req.method`` tells them apart.
"""

from __future__ import annotations

from microapi import Request, Res


def handler(req: Request, res: Res) -> None:
    """Say hello."""
    res.status(200).json({"message": "Hello API!"})

"""An unexpected exception: ``500`` problem+json, with no internals.

The client learns only that the server failed; the traceback, with the
request id, goes to the ``microapi.error`` log.
"""

from __future__ import annotations

from microapi import Request, Res

#: For the OpenAPI document: this route means to fail.
config = {"responses": {500: "Always: the demo of an unexpected exception."}}

# Something a response must never show.
DSN = "postgres://admin:hunter2@db.internal/app"


def GET(req: Request, res: Res) -> None:
    """Fail the way a bug does."""
    raise RuntimeError(f"could not connect to {DSN}")

"""Error handling, the article's ``try``/``catch``: a specific error, not a bare 500.

When a dependency fails, say which and what to do: ``503`` with a detail
and ``Retry-After``, as problem+json, while the log keeps the cause.
"""

from __future__ import annotations

import logging
from typing import Any

from microapi import HTTPError, Request, Res

#: For the OpenAPI document: the answer when the upstream is down.
config = {"responses": {503: "The upstream service is unavailable: retry after Retry-After."}}

log = logging.getLogger("examples.pages.upstream")


def fetch_something() -> dict[str, Any]:
    """Stand in for a call to another service, which is down."""
    raise ConnectionError("upstream refused the connection")


def GET(req: Request, res: Res) -> dict[str, Any]:
    """Answer with the upstream data, or a 503 the client can act on."""
    try:
        data = fetch_something()
    except ConnectionError as exc:
        log.warning("upstream unavailable: %s", exc)  # console.error(error)
        raise HTTPError(
            503,
            "the upstream service is unavailable; try again in 30 seconds",
            headers={"Retry-After": "30"},
        ) from exc
    return data

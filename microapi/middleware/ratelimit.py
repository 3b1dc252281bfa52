"""``rate_limit``: fixed-window request limits, exact under concurrency."""

from __future__ import annotations

from collections.abc import Callable

from ..request import Request
from ..types import Middleware
from .stores import Store

__all__ = ["client_ip", "rate_limit", "user_key"]


def client_ip(req: Request) -> str:
    """STUB: being written (issue #5)."""
    raise NotImplementedError


def user_key(req: Request) -> str:
    """STUB: being written (issue #5)."""
    raise NotImplementedError


def rate_limit(
    limit: str,
    *,
    key: Callable[[Request], str] = client_ip,
    store: Store | None = None,
    fail_open: bool = True,
    scope: str | None = None,
) -> Middleware:
    """STUB: being written (issue #5)."""
    raise NotImplementedError

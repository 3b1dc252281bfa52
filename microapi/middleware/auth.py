"""``bearer_auth``: ``Authorization: Bearer <token>`` → ``req.user``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..types import Middleware

__all__ = ["bearer_auth"]


def bearer_auth(load_user: Callable[[dict[str, Any]], Any] | None = None) -> Middleware:
    """STUB: being written (issue #5)."""
    raise NotImplementedError

"""``csrf``: signed double-submit tokens for cookie-session requests."""

from __future__ import annotations

from ..types import Middleware

__all__ = ["csrf"]


def csrf(
    *,
    cookie_name: str = "csrf_token",
    header_name: str = "X-CSRF-Token",
    field_name: str = "csrf_token",
) -> Middleware:
    """STUB: being written (issue #5)."""
    raise NotImplementedError

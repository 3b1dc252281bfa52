"""``security_headers`` and ``request_id``: headers on every response."""

from __future__ import annotations

from ..types import Middleware

__all__ = ["request_id", "security_headers"]


def security_headers() -> Middleware:
    """STUB: being written (issue #5)."""
    raise NotImplementedError


def request_id(*, trust_header: bool = False) -> Middleware:
    """STUB: being written (issue #5)."""
    raise NotImplementedError

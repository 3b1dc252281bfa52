"""``proxy_fix``: trust ``X-Forwarded-*`` from a known number of proxies."""

from __future__ import annotations

from ..types import Middleware

__all__ = ["proxy_fix"]


def proxy_fix(
    *, x_for: int = 1, x_proto: int = 1, x_host: int = 0, x_port: int = 0, x_prefix: int = 0
) -> Middleware:
    """STUB: being written (issue #5)."""
    raise NotImplementedError

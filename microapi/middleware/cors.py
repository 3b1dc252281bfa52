"""``cors``: Cross-Origin Resource Sharing for an allow-list of origins."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..types import Middleware

__all__ = ["cors"]


def cors(
    origins: Iterable[str | re.Pattern[str]],
    *,
    credentials: bool = False,
    methods: Iterable[str] | None = None,
    headers: Iterable[str] | None = None,
    expose: Iterable[str] | None = None,
    max_age: int = 600,
) -> Middleware:
    """STUB: being written (issue #5)."""
    raise NotImplementedError

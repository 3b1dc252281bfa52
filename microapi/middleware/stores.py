"""Rate-limit counter stores: memory, SQLite (one host), Redis (many hosts)."""

from __future__ import annotations

__all__ = ["MemoryStore", "RedisStore", "SQLiteStore", "Store", "StoreUnavailable"]


class StoreUnavailable(Exception):
    """STUB: being written (issue #5)."""


class Store:
    """STUB: being written (issue #5)."""


class MemoryStore(Store):
    """STUB: being written (issue #5)."""


class SQLiteStore(Store):
    """STUB: being written (issue #5)."""


class RedisStore(Store):
    """STUB: being written (issue #5)."""

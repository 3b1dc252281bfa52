"""A rate-limited app for real gunicorn: ``tests.middleware.ratelimit_app:api``.

Configured by environment variables:

- ``RL_STORE``: ``sqlite`` (with ``RL_SQLITE_PATH``), ``redis`` (with
  ``RL_REDIS_URL``) or ``memory`` (the default).
- ``RL_LIMIT``: the limit of ``/limited``, ``/open`` and ``/closed``
  (default ``"100/hour"``).
- ``RL_SCOPE``: a prefix for the scopes, so runs sharing a store never share
  counters.
- ``RL_LOG``: a file receiving ``microapi.ratelimit`` records as
  ``"<pid> <LEVEL> <message>"``.
- ``RL_WARM``: when set, one hit at import, so that a ``--preload``
  master holds a connection when it forks the workers.

``/limited`` counts per client IP; ``/open`` (``fail_open=True``) and
``/closed`` (``fail_open=False``) count per ``X-Client`` header.  Every
response carries the worker's pid in ``X-Worker``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from microapi import Api, Request, Res
from microapi.middleware import MemoryStore, RedisStore, SQLiteStore, Store, rate_limit
from microapi.types import Next


def _store() -> Store:
    kind = os.environ.get("RL_STORE", "memory")
    if kind == "sqlite":
        timeout = float(os.environ.get("RL_SQLITE_TIMEOUT", "1.0"))
        return SQLiteStore(os.environ["RL_SQLITE_PATH"], timeout=timeout)
    if kind == "redis":
        return RedisStore(os.environ["RL_REDIS_URL"])
    return MemoryStore()


def _client(req: Request) -> str | None:
    return req.headers.get("X-Client")


if log_path := os.environ.get("RL_LOG"):
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(process)d %(levelname)s %(message)s"))
    logger = logging.getLogger("microapi.ratelimit")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

store = _store()
limit = os.environ.get("RL_LIMIT", "100/hour")
scope = os.environ.get("RL_SCOPE", "test")
if os.environ.get("RL_WARM"):
    store.hit(f"{scope}:warm-up", 60)

api = Api()


@api.middleware
def worker_pid(req: Request, res: Res, next: Next) -> None:
    res.set_header("X-Worker", str(os.getpid()))
    next()


api.middleware(rate_limit(limit, store=store, scope=f"{scope}:limited"), match="/limited")
api.middleware(
    rate_limit(limit, key=_client, store=store, scope=f"{scope}:open"),
    match="/open",
)
api.middleware(
    rate_limit(limit, key=_client, store=store, fail_open=False, scope=f"{scope}:closed"),
    match="/closed",
)


def ok(req: Request, res: Res) -> dict[str, Any]:
    return {"ok": True}


for path in ("/limited", "/open", "/closed"):
    api.add_route(path, ok, name=path.strip("/"))

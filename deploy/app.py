"""The app every host serves in the many-hosts deployment.

``python -m microapi serve deploy.app:api`` on each host, behind the nginx
of ``deploy/nginx.conf`` (``docs/deployment.md``, "Many hosts"): the todos
example at ``/api/todos`` over PostgreSQL, and the auth example mounted at
``/auth`` with its users in the same PostgreSQL (a ``users`` table beside
the todos) and its login limit counted in Redis.  Every setting comes from
the environment, the same on every host:

- ``DATABASE_URL``: the PostgreSQL of the todos and the users
  (``postgresql://...``; ``AUTH_DATABASE_URL`` would give the users
  another one);
- ``REDIS_URL``: the rate-limit counters (``redis://host:6379/0``);
- ``MICROAPI_SECRET_KEYS``: the signing keys, oldest first, separated by
  spaces; ``MICROAPI_SIGNING_KEY``: the one that signs (default: the last).

Nothing connects at import (``microapi serve`` imports the app before it
forks the workers): the database engines (one for the todos, one for the
users) and the Redis client are made by each worker at its first request.
"""

from __future__ import annotations

import os

from examples.auth.wsgi import create_api as create_auth_api
from examples.todos.wsgi import create_api as create_todos_api
from microapi import Api
from microapi.middleware import RedisStore, proxy_fix

__all__ = ["PROXIES", "api", "create_api"]

#: Reverse proxies in front of the hosts that set ``X-Forwarded-For``/``-Proto``.
PROXIES = 1


def create_api(environ: os._Environ[str] | dict[str, str] = os.environ) -> Api:
    """Build the host's app from *environ* (see the module's docstring)."""
    keys = environ["MICROAPI_SECRET_KEYS"].split()
    auth = create_auth_api(  # users: DATABASE_URL
        secret_key=keys,
        signing_key=environ.get("MICROAPI_SIGNING_KEY") or None,
        limit_store=RedisStore(environ["REDIS_URL"]),
        proxies=PROXIES,
    )
    api = create_todos_api()  # DATABASE_URL
    api.middleware(proxy_fix(x_for=PROXIES, x_proto=PROXIES))
    api.mount("/auth", auth)
    return api


#: The app each host serves.
api = create_api()

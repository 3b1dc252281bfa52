"""Built-in middleware: ``api.middleware(cors(origins=[...]))`` and friends.

Each is a factory returning ``middleware(req, res, next)``; register it like
any other, with ``match=`` to limit it to some paths::

    api.middleware(request_id())
    api.middleware(cors(origins=["https://app.example.com"]))
    api.middleware(rate_limit("5/minute", store=SQLiteStore("var/limits.db")),
                   match="/api/contact")
"""

from .auth import bearer_auth as bearer_auth
from .cors import cors as cors
from .csrf import csrf as csrf
from .headers import request_id as request_id
from .headers import security_headers as security_headers
from .proxy_fix import proxy_fix as proxy_fix
from .ratelimit import client_ip as client_ip
from .ratelimit import client_ip_key as client_ip_key
from .ratelimit import rate_limit as rate_limit
from .ratelimit import user_key as user_key
from .stores import MemoryStore as MemoryStore
from .stores import RedisStore as RedisStore
from .stores import SQLiteStore as SQLiteStore
from .stores import Store as Store
from .stores import StoreUnavailable as StoreUnavailable

__all__ = [
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "Store",
    "StoreUnavailable",
    "bearer_auth",
    "client_ip",
    "client_ip_key",
    "cors",
    "csrf",
    "proxy_fix",
    "rate_limit",
    "request_id",
    "security_headers",
    "user_key",
]

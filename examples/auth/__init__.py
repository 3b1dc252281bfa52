"""Register, log in, and stay logged in: users in SQLite or PostgreSQL.

It needs SQLAlchemy, the ``db`` extra: checked here, first (before
anything imports the todos example's database layer, which it reuses), so
that a missing one is a clear line naming this example when the app is
loaded, not a bare ``ModuleNotFoundError`` from deep inside.
"""

from microapi.extras import require

require("sqlalchemy", "db", "examples/auth")

"""The main demo: a todos CRUD API over SQLite or PostgreSQL (``make run``).

It needs SQLAlchemy, the ``db`` extra: checked here, first, so that a
missing one is a clear line when the app is loaded, not a bare
``ModuleNotFoundError`` from deep inside.
"""

from microapi.extras import require

require("sqlalchemy", "db", "examples/todos")

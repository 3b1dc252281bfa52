"""The main demo, served by ``make run``: ``gunicorn examples.todos.wsgi:api``.

A CRUD API over a database, the article's Prisma example in Python:
marshmallow schemas on every route, SQLAlchemy 2 Core for storage
(``DATABASE_URL``; SQLite in ``var/todos.db`` by default, PostgreSQL for
several hosts), one transaction per request, and database trouble
answered as problem+json without a word of SQL.
"""

from __future__ import annotations

import logging
from typing import Any

from microapi import Api, Request, Res
from microapi.middleware import request_id

from .db import Database, answer_unavailable
from .routes import router

__all__ = ["api", "create_api"]

log = logging.getLogger("examples.todos")


def create_api(db: Database | None = None) -> Api:
    """Build the todos app over *db* (default: ``DATABASE_URL``, else SQLite).

    Nothing connects here: the engine is made on the first request of each
    process (see :class:`~examples.todos.db.Database`), so importing the
    module, or preloading it in a gunicorn master, opens no database.
    """
    database = db if db is not None else Database()
    api = Api(title="Todos", version="1.0.0", docs=True)
    # An X-Request-ID on every response: the access line of `microapi serve`
    # (what `make run` shows) and the log lines of a request share it.
    api.middleware(request_id())

    @api.middleware
    def use_database(req: Request, res: Res, next: Any) -> Any:
        """Hand the database to the handlers (they open the transaction)."""
        req.state.db = database
        return next()

    answer_unavailable(api, log)
    api.include(router)
    return api


#: The app gunicorn serves.
api = create_api()

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

from sqlalchemy.exc import SQLAlchemyError

from microapi import Api, Request, Res
from microapi.errors import PROBLEM_CONTENT_TYPE, HTTPError, to_problem
from microapi.middleware import request_id

from .db import Database, is_unavailable
from .routes import router

__all__ = ["api", "create_api"]

log = logging.getLogger("examples.todos")

#: Seconds a client should wait before retrying a 503.
RETRY_AFTER = 1


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

    @api.errorhandler(SQLAlchemyError)
    def database_error(req: Request, res: Res, exc: SQLAlchemyError) -> None:
        """Answer a busy or unreachable database with 503 and Retry-After.

        Other database errors are bugs: sending nothing leaves them to
        microapi's unhandled-exception path, a logged 500 (traceback and
        request id in the log, no SQL in the response).
        """
        if not is_unavailable(exc):
            return
        # One line, no traceback: an expected condition, not a bug.
        log.warning(
            "database unavailable in %s %s [request_id=%s]: %s",
            req.method,
            req.path,
            req.id,
            type(getattr(exc, "orig", None) or exc).__name__,  # the driver's error
            extra={"request_id": req.id},
        )
        status, problem, headers = to_problem(
            HTTPError(
                503,
                "the database is busy or unreachable; retry shortly",
                headers={"Retry-After": str(RETRY_AFTER)},
            )
        )
        res.status(status)
        for name, value in headers:
            res.set_header(name, value)
        res.set_header("Content-Type", PROBLEM_CONTENT_TYPE).json(problem)

    api.include(router)
    return api


#: The app gunicorn serves.
api = create_api()

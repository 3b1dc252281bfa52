"""Code the routes share (the article's ``lib/``): a ``_`` folder, so not routes.

Inside the routes folder so that the routes import it relatively
(``from .._lib.db import connect``), which works wherever the example is
run from: the repository root (``examples.pages.wsgi:api``) or its own
directory (``wsgi:api``).
"""

"""The Next.js API Routes article, file by file: ``microapi serve examples.pages.wsgi:api``.

From the example's own directory, ``microapi serve wsgi:api`` serves it too:
the routes import their shared code relatively, from ``api/_lib/``.

Every file under ``api/`` is a route, found by :meth:`microapi.Api.discover`.
The article's samples, one by one::

    article                         here                            route
    pages/api/hello.ts              api/hello.py                    /api/hello
    app/api/hello/route.ts          api/hello-app.py                /api/hello-app
      (GET; POST echoing {received: body})
    pages/api/users/[id].ts         api/users/[id].py               /api/users/[id]
    middleware.ts, lib/auth.ts      api/private/_middleware.py,     /api/private/...
      (/api/:path*, Bearer token)     api/_lib/auth.py
    app/api/user/route.ts           api/private/user.py             /api/private/user
    app/api/contact/route.ts        api/contact.py                  /api/contact
    app/api/todos/route.ts,         api/todos/index.py,             /api/todos
      todos/[id]/route.ts,            api/todos/[id].py,            /api/todos/[id]
      lib/prisma.ts                   api/_lib/db.py (SQLite)
    app/api/openai/route.ts         api/openai.py                   /api/openai
      (a proxy to an external API,    (microapi.proxy.forward; the
      key kept on the server)         ``proxy`` extra)
    error handling (try/catch)      api/errors/upstream.py,         /api/errors/upstream
                                      api/errors/crash.py           /api/errors/crash

Settings (environment): ``PAGES_DATABASE``, the SQLite file for todos and
contact messages (default ``<tempdir>/microapi-pages/pages.sqlite3``);
``MICROAPI_SECRET_KEY``, the key signing the bearer tokens of
``/api/private`` (``python wsgi.py`` prints one; unset:
a development key, logged as such); ``OPENAI_API_KEY``, the key
``/api/openai`` sends to OpenAI (unset: that route answers 503), and
``OPENAI_API_URL``, where it sends it (default OpenAI's chat completions URL).

Wired later, as the features land:

- Rate limiting, CSRF tokens and CORS for the contact form: see
  ``examples/contact``, which has all three.
- Schemas for the contact form and todos (``body=``): with marshmallow
  validation; the routes validate by hand for now.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from microapi import Api
from microapi.security import SECRET_KEY_ENV

#: The folder whose files are the routes.
ROUTES = Path(__file__).parent / "api"
#: The key used when ``MICROAPI_SECRET_KEY`` is unset: for trying the example only.
DEV_SECRET_KEY = "examples.pages development key: set MICROAPI_SECRET_KEY in production"

if not os.environ.get(SECRET_KEY_ENV):
    logging.getLogger("examples.pages").warning(
        "%s is not set: using the development key", SECRET_KEY_ENV
    )
api = Api(secret_key=os.environ.get(SECRET_KEY_ENV) or DEV_SECRET_KEY)
api.discover(ROUTES, prefix="/api")


if __name__ == "__main__":  # python wsgi.py: a token for the demo user (id 1)
    print(api.tokens.issue({"sub": 1}))

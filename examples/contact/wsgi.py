"""The article's contact form: ``gunicorn examples.contact.wsgi:api``.

``GET /contact`` serves an HTML form; ``POST /api/contact`` takes it as a
form (urlencoded or multipart, answered ``303 See Other`` back to the page,
the Post/Redirect/Get pattern) or as JSON from ``fetch`` (answered ``201``
with JSON).  The message is validated by a marshmallow schema (422 naming
each field otherwise), stored in SQLite, and the endpoint is limited to 5
messages a minute per client, counted in a SQLite file every worker shares.

The page's form carries the CSRF token in a hidden field: reading
``req.csrf_token`` starts a session, and from then on ``csrf()`` refuses a
post from that browser without the token (403).  A ``fetch`` client that
sends no session cookie is not subject to CSRF: it has no ambient
credentials a forged request could borrow.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path

from microapi import Api, Request, Res
from microapi.middleware import SQLiteStore, Store, csrf, rate_limit, request_id
from microapi.security import SECRET_KEY_ENV

from .db import Messages
from .schemas import Message

__all__ = ["DEV_SECRET_KEY", "LIMIT", "api", "create_api"]

log = logging.getLogger("examples.contact")

#: The key used when ``MICROAPI_SECRET_KEY`` is unset: for trying the example only.
DEV_SECRET_KEY = "examples.contact development key: set MICROAPI_SECRET_KEY in production"
#: Messages allowed per client address.
LIMIT = "5/minute"
#: The environment variable naming the rate-limit counters' SQLite file.
LIMITS_DATABASE_ENV = "CONTACT_LIMITS_DATABASE"
DEFAULT_LIMITS_DATABASE = Path(__file__).resolve().parent / "contact-limits.db"
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Contact</title>
<h1>Contact us</h1>{notice}
<form method="post" action="{action}">
  <input type="hidden" name="csrf_token" value="{csrf_token}">
  <p><label>Name <input name="name" required maxlength="100"></label></p>
  <p><label>Email <input name="email" type="email" required maxlength="254"></label></p>
  <p><label>Message <textarea name="message" required maxlength="5000"></textarea></label></p>
  <p><button>Send</button></p>
</form>
"""


def create_api(
    messages: Messages | None = None,
    *,
    secret_key: str | list[str] | None = None,
    limit_store: Store | None = None,
) -> Api:
    """Build the contact app over *messages* (default: ``$CONTACT_DATABASE``).

    :param secret_key: the signing key(s); default ``MICROAPI_SECRET_KEY``,
        else :data:`DEV_SECRET_KEY` with a warning.
    :param limit_store: where messages are counted per client (default:
        the SQLite file ``$CONTACT_LIMITS_DATABASE``, else
        ``contact-limits.db``).
    """
    messages = messages if messages is not None else Messages()
    if secret_key is None:
        secret_key = os.environ.get(SECRET_KEY_ENV)
        if not secret_key:
            log.warning("%s is not set: using the development key", SECRET_KEY_ENV)
            secret_key = DEV_SECRET_KEY
    if limit_store is None:
        limit_store = SQLiteStore(os.environ.get(LIMITS_DATABASE_ENV) or DEFAULT_LIMITS_DATABASE)
    api = Api(title="Contact", version="1.0.0", secret_key=secret_key)
    api.middleware(request_id())
    api.middleware(csrf())
    api.middleware(rate_limit(LIMIT, store=limit_store, scope="contact"), match="/api/contact")

    @api.route("/contact")
    def page(req: Request, res: Res) -> None:
        """The form, with its CSRF token, and a thank-you note after a post."""
        notice = "\n<p>Thank you, your message was sent.</p>" if req.query.get("sent") else ""
        body = PAGE.format(
            notice=notice,
            action=html.escape(req.url_for("contact")),
            csrf_token=html.escape(req.csrf_token),
        )
        res.set_header("Content-Type", "text/html; charset=utf-8").send(body)

    @api.route("/api/contact", methods=["POST"], body=Message, body_limit=16 * 1024)
    def contact(req: Request, res: Res) -> Res:
        """Store a message: 303 back to the page for forms, 201 JSON for ``fetch``."""
        message = req.body
        message_id = messages.add(message["name"], message["email"], message["message"])
        if req.mimetype in FORM_TYPES:
            # Post/Redirect/Get: reloading the thank-you page does not post twice.
            return res.redirect(303, req.url_for("page", sent=1))
        return res.status(201).json({"id": message_id, "received": True})

    return api


#: The app gunicorn serves.
api = create_api()

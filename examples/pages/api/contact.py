"""``app/api/contact/route.ts``: a contact form, validated and saved on the server.

``POST`` takes the form from an HTML page (urlencoded or multipart: answered
with ``303 See Other`` back to the page) or from ``fetch`` as JSON (answered
with JSON).  ``GET`` serves a bare HTML form, so the flow works in a browser.
Messages go to the ``messages`` table of ``_lib/db.py``.
"""

from __future__ import annotations

import html

from microapi import Request, Res

from ._lib.db import connect
from ._lib.text import Text, TextSchema

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# Deliberately loose: one "@", no spaces, a dot in the domain.  Whether the
# address works is only known by writing to it.  Alike in Python and in
# ECMA-262 (the OpenAPI document's dialect); trimmed only after it is checked.
# "^": ECMA-262 searches, Python matches from the start; the end is
# "(?![\s\S])", nothing after: Python's "$" also matches before a final newline.
EMAIL = r"^[^@ \t\n\r\f\v]+@[^@ \t\n\r\f\v]+\.[^@ \t\n\r\f\v]+(?![\s\S])"


class Message(TextSchema):
    """The three required fields, trimmed; each problem named (422)."""

    name = Text(100, message="required", required=True)
    email = Text(
        254,
        message="required",
        required=True,
        pattern=(EMAIL, "not an email address"),
    )
    message = Text(5000, message="required", required=True)


#: The Next.js ``export const config``: route options for this file, and
#: POST's body (a form or JSON), checked before it runs.
config = {
    "body_limit": 16 * 1024,
    "POST": {
        "body": Message,
        "status": 201,
        "responses": {303: "Sent from a form: back to the page, with ?sent=1."},
    },
}

PAGE = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Contact</title>
<h1>Contact us</h1>{notice}
<form method="post" action="{action}">
  <p><label>Name <input name="name" required></label></p>
  <p><label>Email <input name="email" type="email" required></label></p>
  <p><label>Message <textarea name="message" required></textarea></label></p>
  <p><button>Send</button></p>
</form>
"""


def GET(req: Request, res: Res) -> None:
    """The form, with a thank-you note after a successful post."""
    notice = "\n<p>Thank you, your message was sent.</p>" if req.query.get("sent") else ""
    page = PAGE.format(notice=notice, action=html.escape(req.url_for("contact")))
    res.set_header("Content-Type", "text/html; charset=utf-8").send(page)


def POST(req: Request, res: Res) -> Res:
    """Save a message; 303 for forms, 201 JSON for ``fetch``."""
    with connect() as db:
        cursor = db.execute(
            "INSERT INTO messages (name, email, message) VALUES (:name, :email, :message)",
            req.body,
        )
    if req.mimetype in FORM_TYPES:
        # Post/Redirect/Get: reloading the thank-you page does not post twice.
        return res.redirect(303, req.url_for("contact", sent=1))
    return res.status(201).json({"id": cursor.lastrowid, "received": True})

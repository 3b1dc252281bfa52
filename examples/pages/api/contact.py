"""``app/api/contact/route.ts``: a contact form, validated and saved on the server.

``POST`` takes the form from an HTML page (urlencoded or multipart: answered
with ``303 See Other`` back to the page) or from ``fetch`` as JSON (answered
with JSON).  ``GET`` serves a bare HTML form, so the flow works in a browser.
Messages go to the ``messages`` table of ``_lib/db.py``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from microapi import HTTPError, Request, Res

from ._lib.db import connect

#: The Next.js ``export const config``: route options for this file.
config = {"body_limit": 16 * 1024}

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
LIMITS = {"name": 100, "email": 254, "message": 5000}
# Deliberately loose: one "@", no spaces, a dot in the domain.  Whether the
# address works is only known by writing to it.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

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
    """Validate and save a message; 303 for forms, 201 JSON for ``fetch``."""
    from_form = req.mimetype in FORM_TYPES
    if from_form:
        fields = req.body or {}
    elif req.is_json:
        fields = req.body
    else:
        raise HTTPError(415, "send the message as a form or as JSON")
    message = validate(fields)
    with connect() as db:
        cursor = db.execute(
            "INSERT INTO messages (name, email, message) VALUES (:name, :email, :message)",
            message,
        )
    if from_form:
        # Post/Redirect/Get: reloading the thank-you page does not post twice.
        return res.redirect(303, req.url_for("contact", sent=1))
    return res.status(201).json({"id": cursor.lastrowid, "received": True})


def validate(fields: Any) -> dict[str, str]:
    """The three required fields, trimmed; 422 naming each problem."""
    if not isinstance(fields, Mapping):
        raise HTTPError(422, "send a JSON object", errors={"_schema": ["must be an object"]})
    errors: dict[str, list[str]] = {}
    message: dict[str, str] = {}
    for name, limit in LIMITS.items():
        value = fields.get(name)
        if not isinstance(value, str) or not value.strip():
            errors[name] = ["required"]
        elif len(value) > limit:
            errors[name] = [f"at most {limit} characters"]
        else:
            message[name] = value.strip()
    if "email" in message and not EMAIL.fullmatch(message["email"]):
        errors["email"] = ["not an email address"]
    if errors:
        raise HTTPError(422, "the message is incomplete", errors=errors)
    return message

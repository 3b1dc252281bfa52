"""The marshmallow schemas of the todos API: its whole input and output.

Every route declares them (``body=``, ``query=``, ``response=``), so they
are both the validation and the OpenAPI document.  Input is strict: a
todo's ``done`` is a JSON boolean (or ``"true"``/``"false"``, as a form or
a query string sends it), never ``1`` or ``"yes"``, and titles hold only
text both databases can store.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate

from microapi.validation import Flag

from .db import TITLE_LENGTH

__all__ = [
    "TodoCreate",
    "TodoList",
    "TodoOut",
    "TodoPatch",
    "TodoQuery",
    "TodoReplace",
    "storable",
]

#: The largest page.
MAX_LIMIT = 100
#: The largest offset: the largest integer SQLite and PostgreSQL bind
#: (a larger one would be a driver error, a 500, rather than a 422).
MAX_OFFSET = 2**63 - 1


def storable(value: str) -> None:
    """Refuse text that SQLite or PostgreSQL cannot store (a validator).

    NUL cannot be stored in PostgreSQL text, and a lone surrogate (JSON
    ``"\\ud800"``) cannot be encoded as UTF-8 by either driver: both would
    be driver errors (500s) instead of the client's 422.
    """
    if "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Must be valid Unicode text.") from None


def _title(*, required: bool) -> fields.String:
    return fields.String(
        required=required,
        validate=[validate.Length(min=1, max=TITLE_LENGTH), storable],
        metadata={
            "description": f"What to do: 1 to {TITLE_LENGTH} characters.",
            # What storable refuses, documented: no NUL anywhere.
            "pattern": "^[^\\u0000]*$",
        },
    )


class TodoCreate(Schema):
    """The body of ``POST /api/todos``."""

    title = _title(required=True)
    done = Flag(load_default=False, metadata={"description": "Whether it is done."})


class TodoReplace(Schema):
    """The body of ``PUT /api/todos/{id}``: every field, replaced."""

    title = _title(required=True)
    done = Flag(required=True, metadata={"description": "Whether it is done."})


class TodoPatch(Schema):
    """The body of ``PATCH /api/todos/{id}``: the fields to change."""

    title = _title(required=False)
    done = Flag(metadata={"description": "Whether it is done."})


class TodoOut(Schema):
    """A todo, as the API returns it."""

    id = fields.Integer(required=True)
    title = fields.String(required=True)
    done = fields.Boolean(required=True)
    created_at = fields.AwareDateTime(
        required=True, format="iso", metadata={"description": "When it was created (UTC)."}
    )


class TodoQuery(Schema):
    """The query string of ``GET /api/todos``: a page, optionally filtered."""

    limit = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"Page size, 1 to {MAX_LIMIT}."},
    )
    offset = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_OFFSET),
        metadata={"description": "How many todos to skip."},
    )
    # NOTE: no load_default=None: a query string cannot send null, and the
    # document should say "boolean", not "boolean or null".
    done = Flag(metadata={"description": "Only todos that are (true) or are not (false) done."})


class TodoList(Schema):
    """A page of todos and the total count matching the filter."""

    items = fields.List(fields.Nested(TodoOut), required=True)
    total = fields.Integer(required=True, metadata={"description": "Todos matching the filter."})
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)

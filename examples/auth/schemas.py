"""What the auth routes accept: marshmallow schemas, validated before the handler runs.

Every text field holds only what both databases can store (the todos'
``storable``), so hostile input is a 422, never a driver error.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from examples.todos.schemas import storable

from .db import EMAIL_LENGTH, NAME_LENGTH, normalize_email

__all__ = ["Credentials", "EmailAddress", "Registration", "Rename"]

# NIST SP 800-63B: at least 8 characters; the upper bound only keeps hashing
# cheap enough that a long "password" cannot tie up a worker.
PASSWORD_LENGTH = 128
PASSWORD = [validate.Length(min=8, max=PASSWORD_LENGTH), storable]
NAME = [validate.Length(min=1, max=NAME_LENGTH), storable]


class EmailAddress(fields.Email):
    """An email address, in the form the users table stores (``normalize_email``).

    Normalized before it is validated, so that the length limit counts what
    is stored, and an accent typed as a combining character passes.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(max=EMAIL_LENGTH), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        email: str = super()._deserialize(value, attr, data, **kwargs)
        return normalize_email(email)


class Registration(Schema):
    """A new account."""

    email = EmailAddress(required=True)
    name = fields.String(required=True, validate=NAME)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)


class Credentials(Schema):
    """An email and password to log in with."""

    email = EmailAddress(required=True)
    password = fields.String(
        required=True, load_only=True, validate=[validate.Length(max=PASSWORD_LENGTH), storable]
    )


class Rename(Schema):
    """A new display name."""

    name = fields.String(required=True, validate=NAME)

"""What the auth routes accept: marshmallow schemas, validated before the handler runs."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

__all__ = ["Credentials", "Registration", "Rename"]

# NIST SP 800-63B: at least 8 characters; the upper bound only keeps hashing
# cheap enough that a long "password" cannot tie up a worker.
PASSWORD = validate.Length(min=8, max=128)
NAME = validate.Length(min=1, max=100)


class Registration(Schema):
    """A new account."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
    name = fields.String(required=True, validate=NAME)
    password = fields.String(required=True, load_only=True, validate=PASSWORD)


class Credentials(Schema):
    """An email and password to log in with."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=128))


class Rename(Schema):
    """A new display name."""

    name = fields.String(required=True, validate=NAME)

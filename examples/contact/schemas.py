"""The contact message, as the form and ``fetch`` clients send it."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_load, validate

__all__ = ["Message"]


class Message(Schema):
    """Name, email and message, each required and bounded; whitespace trimmed."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    email = fields.Email(required=True, validate=validate.Length(max=254))
    message = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    #: The form's hidden CSRF field: checked by ``csrf()``, ignored here.
    csrf_token = fields.String(load_only=True)

    @pre_load
    def trim(self, data: Any, **kwargs: Any) -> Any:
        """Strip surrounding whitespace, so that "   " counts as empty."""
        if not isinstance(data, dict):
            return data  # marshmallow reports the wrong type
        return {
            key: value.strip() if isinstance(value, str) else value for key, value in data.items()
        }

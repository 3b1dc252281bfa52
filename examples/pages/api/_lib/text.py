"""Text fields for the routes' body schemas: not blank, not too long, then trimmed.

A value is checked as it was sent, by what the OpenAPI document says of it
(``maxLength``, and a ``pattern`` that needs one character that is not
whitespace), and only then trimmed.  The pattern's whitespace is spelt out
because Python's and ECMA-262's (OpenAPI's regex dialect) ``\\s`` differ.
"""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, fields, post_load, validate

__all__ = ["SPACE", "Text", "TextSchema"]

#: What is trimmed off a text, and is not text alone.
SPACE = " \t\n\r\f\v"
# Matched from the start in Python, anywhere in ECMA-262: alike either way.
_NOT_BLANK = r"[ \t\n\r\f\v]*[^ \t\n\r\f\v]"


class Text(fields.Str):
    """A string field of at most *max_length* characters, not only whitespace.

    :param message: the one error for a value that is missing, ``null``,
        not a string or only whitespace.
    :param pattern: a stricter pattern instead (one the OpenAPI document can
        show: alike in Python, matched from the start, and in ECMA-262), and
        its error.
    """

    def __init__(
        self,
        max_length: int,
        *,
        message: str,
        pattern: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        regex, error = pattern or (_NOT_BLANK, message)
        checks = [
            validate.Length(max=max_length, error="at most {max} characters"),
            validate.Regexp(regex, error=error),
        ]
        errors = {"required": message, "null": message, "invalid": message}
        super().__init__(validate=checks, error_messages=errors, **kwargs)


class TextSchema(Schema):
    """A body schema whose texts arrive trimmed, and whose "not an object" error
    reads like its fields' errors."""

    error_messages: ClassVar[dict[str, str]] = {"type": "must be an object"}

    @post_load
    def trim(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Each text without its surrounding whitespace."""
        for name, field in self.fields.items():
            if isinstance(field, Text) and isinstance(data.get(name), str):
                data[name] = data[name].strip(SPACE)
        return data

"""Helpers shared by the identity API modules."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..errors import APIError
from ..inputs import INT64_MAX, INT64_MIN, MAX_PAGE


class PageArgs(Schema):
    """``page`` and ``page_size`` (1 to 200) of a list."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=200))


def no_nul(value: str) -> bool:
    """marshmallow validator: PostgreSQL text cannot hold NUL characters, so refuse them up front
    (a clear 422 rather than a database error)."""
    from marshmallow import ValidationError

    if isinstance(value, str) and "\x00" in value:
        raise ValidationError("Must not contain NUL characters.")
    return True


def text(max_length: int, **kwargs):
    """A string field of at most ``max_length`` characters without NUL characters."""
    return fields.String(validate=[validate.Length(max=max_length), no_nul], **kwargs)


def int_id(value, what: str) -> int:
    """An integer path id, or 404 naming ``what``."""
    try:
        number = int(value) if len(str(value)) <= 20 else None
    except (TypeError, ValueError):
        number = None
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise APIError(404, f"No {what} {str(value)[:40]}.") from None
    return number

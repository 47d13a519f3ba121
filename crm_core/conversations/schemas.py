"""What an archive takes in: a batch of messages from one source (the API's body, and what a
``crm_conversation_sources`` fetch returns, checked the same way)."""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..entities.schemas import UTCDateTime
from .models import CHANNELS

SOURCE_RE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
TYPE_RE = r"^[a-z][a-z0-9_]{0,31}$"
#: the 422 message of a bad source name (a module constant, so the catalogue extracts it)
SOURCE_ERROR = "Use lower-case letters, digits, dots, underscores and hyphens; at most 64."
TYPE_ERROR = "Use lower-case letters, digits and underscores, starting with a letter; at most 32."
MAX_BATCH = 1000
MAX_CONTENT = 100_000
SENDER_KINDS = ("customer", "user")


class PartySchema(Schema):
    """Someone in a conversation: a customer or a user, by the source's id of them and/or by what
    maps them to a customer (``id``, ``phone``, ``email``)."""

    kind = fields.String(required=True, validate=validate.OneOf(SENDER_KINDS))
    external_id = fields.String(validate=validate.Length(min=1, max=200))
    id = fields.Integer(strict=True, metadata={"description": "the crm user's or customer's id"})
    phone = fields.String(validate=validate.Length(max=40))
    email = fields.String(validate=validate.Length(max=254))
    name = fields.String(validate=validate.Length(max=200))

    @validates_schema
    def _someone(self, data, **kwargs):
        if not any(data.get(key) not in (None, "") for key in ("external_id", "id", "phone", "email")):
            raise ValidationError("Give at least one of external_id, id, phone, email.", "external_id")


class AttachmentSchema(Schema):
    """Metadata of an attachment (never its bytes)."""

    name = fields.String(validate=validate.Length(max=500))
    mime_type = fields.String(validate=validate.Length(max=200))
    size = fields.Integer(strict=True, validate=validate.Range(min=0))
    media_id = fields.String(validate=validate.Length(max=1000), metadata={"description": "the source's id"})
    md5 = fields.String(validate=validate.Length(max=64))


class MessageInSchema(Schema):
    """One message as a source gives it."""

    external_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    conversation = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "the source's id of the chat the message belongs to"},
    )
    sent_at = UTCDateTime(required=True)
    sender = fields.Nested(PartySchema, required=True)
    type = fields.String(load_default="text", validate=validate.Regexp(TYPE_RE, error=TYPE_ERROR))
    content = fields.String(load_default="", allow_none=True, validate=validate.Length(max=MAX_CONTENT))
    participants = fields.List(
        fields.Nested(PartySchema), load_default=list, validate=validate.Length(max=200)
    )
    attachments = fields.List(
        fields.Nested(AttachmentSchema), load_default=list, validate=validate.Length(max=50)
    )
    customer_id = fields.Integer(
        strict=True,
        allow_none=True,
        metadata={"description": "the customer the conversation is with, when the source knows it"},
    )


class BatchSchema(Schema):
    """``POST /api/v1/conversations/messages``: messages of one source."""

    source = fields.String(
        required=True,
        validate=validate.Regexp(SOURCE_RE, error=SOURCE_ERROR),
        metadata={"description": "the archive's name (idempotency is per source and message id)"},
    )
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    messages = fields.List(
        fields.Nested(MessageInSchema), required=True, validate=validate.Length(min=1, max=MAX_BATCH)
    )


def load_batch(source: str, channel: str, messages: list[dict]) -> dict:
    """A source's fetch result checked like an API body (``ValidationError`` when malformed);
    naive datetimes are UTC, as the hook says."""
    plain = []
    for message in messages:
        item = dict(message) if isinstance(message, dict) else message
        if isinstance(item, dict) and isinstance(item.get("sent_at"), dt.datetime):
            item["sent_at"] = item["sent_at"].isoformat()
        plain.append(item)
    return BatchSchema().load({"source": source, "channel": channel, "messages": plain})


class IdentitySchema(Schema):
    """``POST /api/v1/conversations/identities``: an external id of a source is a customer."""

    source = fields.String(required=True, validate=validate.Regexp(SOURCE_RE, error=SOURCE_ERROR))
    external_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    customer_id = fields.Integer(required=True, strict=True)

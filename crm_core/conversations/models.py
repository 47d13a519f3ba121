"""The conversation archive's tables: conversations, their messages, each source's pull cursor and
the external ids of a source known to be a customer.

A conversation carries its customer's ``owner_id`` / ``department_id`` (``RecordModel``) so the
row scopes of ``conversations`` are the customer's: they are copied when the conversation is
mapped to the customer and kept in step when the customer is reassigned (``hooks``).
"""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel, RecordModel
from ..entities.models import Customer

CHANNELS = ("wecom", "dingtalk", "phone", "webchat")


class Conversation(RecordModel):
    """One chat of one source (a WeCom group or a one-to-one chat, a call, a web chat session)."""

    channel = pw.CharField(max_length=20)
    source = pw.CharField(max_length=64)
    external_id = pw.CharField(max_length=200)
    # RESTRICT: an archive never vanishes as a side effect of deleting a customer; privacy
    # erasure keeps the customer row and shreds the key the content is bound to
    customer = pw.ForeignKeyField(Customer, null=True, on_delete="RESTRICT", backref="conversations")
    # [{"kind": "customer" | "user", "external_id": ..., "id": ...}]: who took part
    participants = pw.JSONField(default=list)
    started_at = pw.DateTimeField(index=True)
    last_message_at = pw.DateTimeField(index=True)
    message_count = pw.IntegerField(default=0)

    class Meta:
        table_name = "conversation"
        indexes = ((("source", "external_id"), True), (("customer", "last_message_at"), False))


class Message(BaseModel):
    """One message; ``content`` is an envelope token (``crm_core.crypto``), never plaintext."""

    conversation = pw.ForeignKeyField(Conversation, on_delete="CASCADE", backref="messages")
    source = pw.CharField(max_length=64)
    external_id = pw.CharField(max_length=200)
    sender_kind = pw.CharField(max_length=20)
    sender_id = pw.IntegerField(null=True)  # a crm user's or customer's id, when known
    sender_external_id = pw.CharField(max_length=200, null=True)
    sent_at = pw.DateTimeField(index=True)
    type = pw.CharField(max_length=32, default="text")
    content = pw.TextField(null=True)  # envelope token; NULL once erased
    # the person the content's key is bound to ("customers/12"): the token needs it to open
    subject = pw.CharField(max_length=120, null=True)
    attachments = pw.JSONField(default=list)  # metadata only: names, sizes, media ids

    class Meta:
        table_name = "conversation_message"
        indexes = ((("source", "external_id"), True), (("conversation", "sent_at", "id"), False))


class SourceCursor(BaseModel):
    """Where the next pull of a source starts (WeCom: the last ``seq`` stored)."""

    source = pw.CharField(max_length=64, unique=True)
    cursor = pw.TextField(null=True)
    pulled_at = pw.DateTimeField(null=True)
    messages = pw.BigIntegerField(default=0)  # how many messages the pulls stored in all
    last_error = pw.TextField(null=True)

    class Meta:
        table_name = "conversation_cursor"


class Identity(BaseModel):
    """An external id of a source (WeCom's ``external_userid``) known to be a customer: learnt
    when a message of that sender was mapped to the customer, so later messages map too."""

    source = pw.CharField(max_length=64)
    external_id = pw.CharField(max_length=200)
    customer = pw.ForeignKeyField(Customer, on_delete="CASCADE")

    class Meta:
        table_name = "conversation_identity"
        indexes = ((("source", "external_id"), True),)


MODELS = [Conversation, Message, SourceCursor, Identity]

"""The messaging tables: configured channels (secrets sealed), each channel's throttle state,
deliveries (the queue and the log), every attempt of a delivery, and opt-outs."""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel, database, utcnow

# delivery status
QUEUED, SENDING, RETRYING, SENT, FAILED, REFUSED = (
    "queued",
    "sending",
    "retrying",
    "sent",
    "failed",
    "refused",
)
STATUSES = (QUEUED, SENDING, RETRYING, SENT, FAILED, REFUSED)
OPEN = (QUEUED, SENDING, RETRYING)
# attempt outcome
A_SENDING, A_SENT, A_FAILED, A_UNKNOWN = "sending", "sent", "failed", "unknown"


class MessageChannelConfig(BaseModel):
    """A channel an admin configured: a WeCom/DingTalk/Feishu robot or an SMS account. ``secret``
    is an envelope token (``crm_core.crypto``) of a JSON object (keys, tokens, secrets): it is
    opened only to send and never returned by the API."""

    name = pw.CharField(max_length=64, unique=True)
    kind = pw.CharField(max_length=32)
    label = pw.CharField(max_length=200, default="")
    settings = pw.JSONField(default=dict)
    secret = pw.TextField(null=True)
    active = pw.BooleanField(default=True)

    class Meta:
        database = database
        table_name = "message_channel"


class ChannelState(pw.Model):
    """One row per channel name (configured or offered by a plugin): locked while deliveries are
    claimed, so every process counts one rate window; ``blocked_until`` holds a platform's block."""

    id = pw.AutoField()
    channel = pw.CharField(max_length=64, unique=True)
    blocked_until = pw.DateTimeField(null=True)

    class Meta:
        database = database
        table_name = "message_channel_state"


class MessageDelivery(BaseModel):
    """One message to one recipient through one channel: the queue row and its log. ``key`` (the
    caller's idempotency key) is unique; ``address`` is the normalised phone of an SMS send (for
    per-number caps and opt-outs)."""

    channel = pw.CharField(max_length=64, index=True)
    key = pw.CharField(max_length=200, null=True, unique=True)
    purpose = pw.CharField(max_length=32, default="service")
    customer_id = pw.IntegerField(null=True, index=True)
    address = pw.CharField(max_length=32, null=True, index=True)
    recipient = pw.JSONField(default=dict)
    message = pw.JSONField(default=dict)
    status = pw.CharField(max_length=10, default=QUEUED)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=utcnow)
    lease_until = pw.DateTimeField(null=True)
    last_code = pw.CharField(max_length=64, null=True)
    last_error = pw.TextField(null=True)
    provider_ref = pw.CharField(max_length=200, null=True)
    sent_at = pw.DateTimeField(null=True)
    created_by = pw.IntegerField(null=True)

    class Meta:
        database = database
        table_name = "message_delivery"
        indexes = ((("status", "next_attempt_at"), False),)


class MessageAttempt(pw.Model):
    """One request to the provider (one per part of a split message). Inserted when the delivery
    is claimed (outcome ``sending``), so concurrent claimers count it in the channel's window."""

    id = pw.AutoField()
    delivery = pw.ForeignKeyField(MessageDelivery, on_delete="CASCADE", backref="attempt_log")
    channel = pw.CharField(max_length=64)
    number = pw.IntegerField()
    started_at = pw.DateTimeField(default=utcnow)
    duration_ms = pw.IntegerField(default=0)
    outcome = pw.CharField(max_length=10, default=A_SENDING)
    code = pw.CharField(max_length=64, null=True)
    error = pw.TextField(null=True)
    retryable = pw.BooleanField(default=False)

    class Meta:
        database = database
        table_name = "message_attempt"
        indexes = ((("channel", "started_at"), False),)


class MessageOptOut(pw.Model):
    """A recipient who asked for no marketing on a kind of channel (``sms``, ``robot`` or ``*``):
    by customer, by phone number, or both (a STOP/退订 reply names only the number)."""

    id = pw.AutoField()
    channel_kind = pw.CharField(max_length=32)
    customer_id = pw.IntegerField(null=True, index=True)
    address = pw.CharField(max_length=32, null=True, index=True)
    source = pw.CharField(max_length=16, default="api")
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "message_opt_out"


MODELS = [MessageChannelConfig, ChannelState, MessageDelivery, MessageAttempt, MessageOptOut]

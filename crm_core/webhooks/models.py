"""Webhook subscriptions (outbound), their deliveries and every delivery attempt; inbound
webhook receipts (for idempotency on the sender's event id)."""

from __future__ import annotations

import peewee as pw

from ..db import BaseModel, RecordModel, database, utcnow

# subscription status
ACTIVE, FAILING = "active", "failing"
# delivery status
PENDING, SENDING, RETRYING, SUCCEEDED, FAILED, HELD = (
    "pending",
    "sending",
    "retrying",
    "succeeded",
    "failed",
    "held",
)


class WebhookSubscription(RecordModel):
    """Where to send which events. ``events`` is a list of patterns (``customer.*``, ``*``).

    ``status`` becomes ``failing`` when a delivery exhausted its retries; new events are then
    held (not sent, not lost) until the owner sets it back to ``active``.
    """

    #: never searched, filtered or sorted on (``permissions.View.searchable``)
    secret_fields = ("secret",)

    url = pw.CharField(max_length=2000)
    description = pw.CharField(max_length=500, default="")
    events = pw.JSONField(default=list)
    secret = pw.CharField(max_length=200)
    active = pw.BooleanField(default=True)
    status = pw.CharField(max_length=10, default=ACTIVE)
    consecutive_failures = pw.IntegerField(default=0)
    failing_since = pw.DateTimeField(null=True)
    last_success_at = pw.DateTimeField(null=True)
    last_failure_at = pw.DateTimeField(null=True)

    class Meta:
        table_name = "webhook_subscription"


class WebhookDelivery(BaseModel):
    """One event to one subscription. ``message_id`` (the event id) is sent as ``webhook-id`` on
    every attempt, so receivers de-duplicate retries and manual redeliveries."""

    subscription = pw.ForeignKeyField(WebhookSubscription, on_delete="CASCADE", backref="deliveries")
    message_id = pw.CharField(max_length=64)
    event_type = pw.CharField(max_length=150)
    payload = pw.TextField()
    status = pw.CharField(max_length=10, default=PENDING)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=utcnow)
    lease_until = pw.DateTimeField(null=True)
    last_status_code = pw.IntegerField(null=True)
    last_error = pw.TextField(null=True)
    delivered_at = pw.DateTimeField(null=True)
    redelivery_of = pw.IntegerField(null=True)

    class Meta:
        table_name = "webhook_delivery"
        indexes = ((("status", "next_attempt_at"), False),)


class WebhookAttempt(pw.Model):
    """One HTTP request of a delivery and how it ended."""

    id = pw.AutoField()
    delivery = pw.ForeignKeyField(WebhookDelivery, on_delete="CASCADE", backref="attempt_log")
    number = pw.IntegerField()
    started_at = pw.DateTimeField(default=utcnow)
    duration_ms = pw.IntegerField(default=0)
    status_code = pw.IntegerField(null=True)
    error = pw.TextField(null=True)
    response_body = pw.TextField(null=True)
    succeeded = pw.BooleanField(default=False)

    class Meta:
        database = database
        table_name = "webhook_attempt"


class InboundWebhook(pw.Model):
    """An inbound webhook already processed: ``(source, external_id)`` is unique, so a sender's
    retry of the same event is acknowledged without being processed twice."""

    id = pw.AutoField()
    source = pw.CharField(max_length=100)
    external_id = pw.CharField(max_length=200)
    received_at = pw.DateTimeField(default=utcnow)
    event_type = pw.CharField(max_length=150, null=True)

    class Meta:
        database = database
        table_name = "webhook_inbound"
        indexes = ((("source", "external_id"), True),)


MODELS = [WebhookSubscription, WebhookDelivery, WebhookAttempt, InboundWebhook]

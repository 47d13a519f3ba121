"""The outbox: one row per domain event, written in the transaction of the change that caused it.

``event_outbox`` doubles as the event history automation conditions count over ("paid orders in
the last 30 days"), so rows are kept after dispatch. ``event_consumer`` records per-consumer
progress only for events where some consumer failed, so a retry skips the consumers that already
succeeded.
"""

from __future__ import annotations

import peewee as pw

from ..db import database, utcnow

PENDING, DONE, DEAD = "pending", "done", "dead"


class _Model(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


class OutboxEvent(_Model):
    """One domain event. ``uid`` (``evt_...``) is the public id (``event.id``, ``webhook-id``)."""

    id = pw.AutoField()
    uid = pw.CharField(max_length=40, unique=True)
    type = pw.CharField(max_length=150, index=True)
    version = pw.IntegerField(default=1)
    data = pw.JSONField(default=dict)
    resource = pw.CharField(max_length=150, null=True)
    record_id = pw.CharField(max_length=64, null=True)
    customer_id = pw.IntegerField(null=True)
    actor_id = pw.IntegerField(null=True)
    causation_id = pw.IntegerField(null=True)
    depth = pw.IntegerField(default=0)
    meta = pw.JSONField(default=dict)
    occurred_at = pw.DateTimeField(default=utcnow, index=True)
    status = pw.CharField(max_length=10, default=PENDING)
    attempts = pw.IntegerField(default=0)
    next_attempt_at = pw.DateTimeField(default=utcnow)
    dispatched_at = pw.DateTimeField(null=True)
    last_error = pw.TextField(null=True)

    class Meta:
        table_name = "event_outbox"
        indexes = (
            (("status", "next_attempt_at"), False),
            (("customer_id", "type", "occurred_at"), False),
        )


class ConsumerProgress(_Model):
    """Outcome of one consumer (a ``crm_event`` plugin) for one event that needed a retry."""

    id = pw.AutoField()
    event = pw.ForeignKeyField(OutboxEvent, on_delete="CASCADE", backref="consumers")
    consumer = pw.CharField(max_length=200)
    status = pw.CharField(max_length=10)  # "done" | "failed"
    attempts = pw.IntegerField(default=0)
    last_error = pw.TextField(null=True)
    updated_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "event_consumer"
        indexes = ((("event", "consumer"), True),)


MODELS = [OutboxEvent, ConsumerProgress]

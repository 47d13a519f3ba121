"""Messaging: configured channels, channel throttle state, deliveries, attempts and opt-outs."""

import datetime

import peewee as pw


def up(migrator, db):
    now = datetime.datetime.utcnow

    class Base(pw.Model):
        id = pw.AutoField()

        class Meta:
            database = db
            legacy_table_names = False

    class MessageChannelConfig(Base):
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)
        name = pw.CharField(max_length=64, unique=True)
        kind = pw.CharField(max_length=32)
        label = pw.CharField(max_length=200, default="")
        settings = pw.JSONField(default=dict)
        secret = pw.TextField(null=True)
        active = pw.BooleanField(default=True)

        class Meta:
            table_name = "message_channel"

    class ChannelState(Base):
        channel = pw.CharField(max_length=64, unique=True)
        blocked_until = pw.DateTimeField(null=True)

        class Meta:
            table_name = "message_channel_state"

    class MessageDelivery(Base):
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)
        channel = pw.CharField(max_length=64, index=True)
        key = pw.CharField(max_length=200, null=True, unique=True)
        purpose = pw.CharField(max_length=32, default="service")
        customer_id = pw.IntegerField(null=True, index=True)
        address = pw.CharField(max_length=32, null=True, index=True)
        recipient = pw.JSONField(default=dict)
        message = pw.JSONField(default=dict)
        status = pw.CharField(max_length=10, default="queued")
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField(default=now)
        lease_until = pw.DateTimeField(null=True)
        last_code = pw.CharField(max_length=64, null=True)
        last_error = pw.TextField(null=True)
        provider_ref = pw.CharField(max_length=200, null=True)
        sent_at = pw.DateTimeField(null=True)
        created_by = pw.IntegerField(null=True)

        class Meta:
            table_name = "message_delivery"
            indexes = ((("status", "next_attempt_at"), False),)

    class MessageAttempt(Base):
        delivery = pw.ForeignKeyField(MessageDelivery, on_delete="CASCADE")
        channel = pw.CharField(max_length=64)
        number = pw.IntegerField()
        started_at = pw.DateTimeField(default=now)
        duration_ms = pw.IntegerField(default=0)
        outcome = pw.CharField(max_length=10, default="sending")
        code = pw.CharField(max_length=64, null=True)
        error = pw.TextField(null=True)
        retryable = pw.BooleanField(default=False)

        class Meta:
            table_name = "message_attempt"
            indexes = ((("channel", "started_at"), False),)

    class MessageOptOut(Base):
        channel_kind = pw.CharField(max_length=32)
        customer_id = pw.IntegerField(null=True, index=True)
        address = pw.CharField(max_length=32, null=True, index=True)
        source = pw.CharField(max_length=16, default="api")
        created_at = pw.DateTimeField(default=now)

        class Meta:
            table_name = "message_opt_out"

    db.create_tables([MessageChannelConfig, ChannelState, MessageDelivery, MessageAttempt, MessageOptOut])

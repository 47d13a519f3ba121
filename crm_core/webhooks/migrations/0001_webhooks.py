"""Webhook subscriptions, deliveries, attempts and inbound receipts."""

import datetime

import peewee as pw


def up(migrator, db):
    now = datetime.datetime.utcnow

    class Base(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=now, index=True)
        updated_at = pw.DateTimeField(default=now)

        class Meta:
            database = db
            legacy_table_names = False

    class WebhookSubscription(Base):
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)
        url = pw.CharField(max_length=2000)
        description = pw.CharField(max_length=500, default="")
        events = pw.JSONField(default=list)
        secret = pw.CharField(max_length=200)
        active = pw.BooleanField(default=True)
        status = pw.CharField(max_length=10, default="active")
        consecutive_failures = pw.IntegerField(default=0)
        failing_since = pw.DateTimeField(null=True)
        last_success_at = pw.DateTimeField(null=True)
        last_failure_at = pw.DateTimeField(null=True)

        class Meta:
            table_name = "webhook_subscription"

    class WebhookDelivery(Base):
        subscription = pw.ForeignKeyField(WebhookSubscription, on_delete="CASCADE")
        message_id = pw.CharField(max_length=64)
        event_type = pw.CharField(max_length=150)
        payload = pw.TextField()
        status = pw.CharField(max_length=10, default="pending")
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField(default=now)
        lease_until = pw.DateTimeField(null=True)
        last_status_code = pw.IntegerField(null=True)
        last_error = pw.TextField(null=True)
        delivered_at = pw.DateTimeField(null=True)
        redelivery_of = pw.IntegerField(null=True)

        class Meta:
            table_name = "webhook_delivery"
            indexes = ((("status", "next_attempt_at"), False),)

    class WebhookAttempt(pw.Model):
        id = pw.AutoField()
        delivery = pw.ForeignKeyField(WebhookDelivery, on_delete="CASCADE")
        number = pw.IntegerField()
        started_at = pw.DateTimeField(default=now)
        duration_ms = pw.IntegerField(default=0)
        status_code = pw.IntegerField(null=True)
        error = pw.TextField(null=True)
        response_body = pw.TextField(null=True)
        succeeded = pw.BooleanField(default=False)

        class Meta:
            database = db
            table_name = "webhook_attempt"

    class InboundWebhook(pw.Model):
        id = pw.AutoField()
        source = pw.CharField(max_length=100)
        external_id = pw.CharField(max_length=200)
        received_at = pw.DateTimeField(default=now)
        event_type = pw.CharField(max_length=150, null=True)

        class Meta:
            database = db
            table_name = "webhook_inbound"
            indexes = ((("source", "external_id"), True),)

    db.create_tables([WebhookSubscription, WebhookDelivery, WebhookAttempt, InboundWebhook])

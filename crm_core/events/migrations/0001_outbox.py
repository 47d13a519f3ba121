"""The event outbox and per-consumer progress."""

import datetime

import peewee as pw


def up(migrator, db):
    class Base(pw.Model):
        class Meta:
            database = db
            legacy_table_names = False

    class OutboxEvent(Base):
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
        occurred_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        status = pw.CharField(max_length=10, default="pending")
        attempts = pw.IntegerField(default=0)
        next_attempt_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        dispatched_at = pw.DateTimeField(null=True)
        last_error = pw.TextField(null=True)

        class Meta:
            table_name = "event_outbox"
            indexes = (
                (("status", "next_attempt_at"), False),
                (("customer_id", "type", "occurred_at"), False),
            )

    class ConsumerProgress(Base):
        id = pw.AutoField()
        event = pw.ForeignKeyField(OutboxEvent, on_delete="CASCADE")
        consumer = pw.CharField(max_length=200)
        status = pw.CharField(max_length=10)
        attempts = pw.IntegerField(default=0)
        last_error = pw.TextField(null=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            table_name = "event_consumer"
            indexes = ((("event", "consumer"), True),)

    db.create_tables([OutboxEvent, ConsumerProgress])

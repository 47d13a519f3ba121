"""Stored first responses of keyed POST requests (Idempotency-Key), unique per user and key."""

import datetime

import peewee as pw


def up(migrator, db):
    class IdempotencyKey(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        user_id = pw.IntegerField()
        key = pw.CharField(max_length=200)
        fingerprint = pw.CharField(max_length=64)
        status = pw.IntegerField()
        body = pw.TextField()
        location = pw.CharField(max_length=500, null=True)

        class Meta:
            database = db
            table_name = "idempotency_key"
            indexes = ((("user_id", "key"), True),)

    db.create_tables([IdempotencyKey])

"""The key ring: data keys and per-person keys."""

import datetime

import peewee as pw


def up(migrator, db):
    class DataKey(pw.Model):
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        key_id = pw.CharField(max_length=32, unique=True)
        cipher = pw.CharField(max_length=20)
        wrapped = pw.TextField(null=True)
        wrapper = pw.CharField(max_length=64, default="local")
        state = pw.CharField(max_length=20, default="active", index=True)
        encrypt_count = pw.BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "crypto_data_key"

    class SubjectKey(pw.Model):
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        subject = pw.CharField(max_length=120, unique=True)
        wrapped = pw.TextField(null=True)
        shredded_at = pw.DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "crypto_subject_key"

    db.create_tables([DataKey, SubjectKey])

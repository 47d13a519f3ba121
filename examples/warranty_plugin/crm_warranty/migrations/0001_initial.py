"""Warranties."""

import datetime

import peewee as pw


def up(migrator, db):
    class Warranty(pw.Model):
        id = pw.AutoField()
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        updated_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        owner_id = pw.IntegerField(null=True, index=True)
        department_id = pw.IntegerField(null=True, index=True)
        custom = pw.JSONField(default=dict)
        customer_id = pw.IntegerField(index=True)
        product = pw.CharField(max_length=200)
        serial = pw.CharField(max_length=100, unique=True)
        expires_at = pw.DateTimeField(index=True)
        status = pw.CharField(max_length=10, default="active", index=True)
        claimed_at = pw.DateTimeField(null=True)
        claim_reason = pw.CharField(max_length=500, null=True)

        class Meta:
            database = db
            table_name = "warranty_warranty"

    db.create_tables([Warranty])

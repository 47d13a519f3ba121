"""The audit log: entries and the chain head."""

import datetime

import peewee as pw


def up(migrator, db):
    class AuditEntry(pw.Model):
        id = pw.BigAutoField()
        seq = pw.BigIntegerField(null=True, unique=True)
        prev_hash = pw.CharField(max_length=64, null=True)
        hash = pw.CharField(max_length=64, null=True)
        occurred_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        kind = pw.CharField(max_length=10, default="write")
        actor_id = pw.IntegerField(null=True, index=True)
        actor_name = pw.CharField(max_length=150, null=True)
        client_id = pw.CharField(max_length=64, null=True)
        resource = pw.CharField(max_length=120)
        record_id = pw.CharField(max_length=64, null=True)
        action = pw.CharField(max_length=40)
        owner_id = pw.IntegerField(null=True)
        department_id = pw.IntegerField(null=True)
        before = pw.TextField(null=True)
        after = pw.TextField(null=True)
        request_id = pw.CharField(max_length=128, null=True)
        ip = pw.CharField(max_length=64, null=True)

        class Meta:
            database = db
            table_name = "audit_entry"
            indexes = ((("resource", "record_id"), False),)

    class AuditHead(pw.Model):
        id = pw.IntegerField(primary_key=True)
        seq = pw.BigIntegerField(default=0)
        hash = pw.CharField(max_length=64, default="")
        sealed_at = pw.DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "audit_head"

    db.create_tables([AuditEntry, AuditHead])
    # the sealer looks for unsealed entries only
    # (a partial index: both SQLite and PostgreSQL support it)
    db.execute_sql("CREATE INDEX IF NOT EXISTS audit_entry_unsealed ON audit_entry (id) WHERE seq IS NULL")
    AuditHead.create(id=1, seq=0, hash="")

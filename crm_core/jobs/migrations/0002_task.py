"""The task queue: long work (imports, large exports) queued by a request, run by the scheduler."""

import datetime

import peewee as pw


def up(migrator, db):
    class Task(pw.Model):
        id = pw.AutoField()
        kind = pw.CharField(max_length=100)
        status = pw.CharField(max_length=10, default="queued")
        params = pw.JSONField(default=dict)
        created_by = pw.IntegerField(index=True)
        client_id = pw.CharField(max_length=200, null=True)
        scopes = pw.JSONField(null=True)
        request_id = pw.CharField(max_length=128, null=True)
        ip = pw.CharField(max_length=64, null=True)
        phase = pw.CharField(max_length=20, default="")
        done = pw.IntegerField(default=0)
        total = pw.IntegerField(null=True)
        result = pw.JSONField(null=True)
        error = pw.JSONField(null=True)
        input_name = pw.CharField(max_length=255, default="")
        input_data = pw.BlobField(null=True)
        output_name = pw.CharField(max_length=255, default="")
        output_type = pw.CharField(max_length=100, default="")
        output_data = pw.BlobField(null=True)
        created_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        started_at = pw.DateTimeField(null=True)
        finished_at = pw.DateTimeField(null=True)
        heartbeat_at = pw.DateTimeField(null=True)
        worker = pw.CharField(max_length=255, default="")

        class Meta:
            database = db
            table_name = "task"
            indexes = ((("status", "id"), False),)

    db.create_tables([Task])

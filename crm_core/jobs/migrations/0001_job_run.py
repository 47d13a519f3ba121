"""The job run log."""

import datetime

import peewee as pw


def up(migrator, db):
    class JobRun(pw.Model):
        id = pw.AutoField()
        job_id = pw.CharField(max_length=200, index=True)
        source = pw.CharField(max_length=20, default="schedule")
        started_at = pw.DateTimeField(default=datetime.datetime.utcnow, index=True)
        finished_at = pw.DateTimeField(null=True)
        duration_ms = pw.IntegerField(null=True)
        outcome = pw.CharField(max_length=10, default="running")
        error = pw.TextField(null=True)
        result = pw.TextField(null=True)
        host = pw.CharField(max_length=255, default="")
        pid = pw.IntegerField(null=True)
        started_by = pw.IntegerField(null=True)

        class Meta:
            database = db
            table_name = "job_run"
            indexes = ((("job_id", "started_at"), False),)

    db.create_tables([JobRun])

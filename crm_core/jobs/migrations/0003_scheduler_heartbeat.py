"""The scheduler heartbeat: one row the running scheduler rewrites (``/health/ready`` reads it)."""

import datetime

import peewee as pw


def up(migrator, db):
    class SchedulerHeartbeat(pw.Model):
        id = pw.IntegerField(primary_key=True)
        beat_at = pw.DateTimeField(default=datetime.datetime.utcnow)
        host = pw.CharField(max_length=255, default="")
        pid = pw.IntegerField(null=True)

        class Meta:
            database = db
            table_name = "scheduler_heartbeat"

    db.create_tables([SchedulerHeartbeat])

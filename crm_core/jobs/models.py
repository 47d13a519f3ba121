"""The job run log: one row per run of a scheduled job (by the scheduler, the CLI or the API)."""

from __future__ import annotations

import peewee as pw

from ..db import database, utcnow

RUNNING, SUCCESS, ERROR = "running", "success", "error"


class JobRun(pw.Model):
    """One run: when it started and ended, how it ended, and who started it."""

    id = pw.AutoField()
    job_id = pw.CharField(max_length=200, index=True)
    source = pw.CharField(max_length=20, default="schedule")  # schedule | cli | api
    started_at = pw.DateTimeField(default=utcnow, index=True)
    finished_at = pw.DateTimeField(null=True)
    duration_ms = pw.IntegerField(null=True)
    outcome = pw.CharField(max_length=10, default=RUNNING)
    error = pw.TextField(null=True)
    result = pw.TextField(null=True)
    host = pw.CharField(max_length=255, default="")
    pid = pw.IntegerField(null=True)
    started_by = pw.IntegerField(null=True)

    class Meta:
        database = database
        table_name = "job_run"
        indexes = ((("job_id", "started_at"), False),)


class SchedulerHeartbeat(pw.Model):
    """The scheduler's sign of life: one row (id 1) the lock holder rewrites every
    ``HEARTBEAT_SECONDS``; ``/health/ready`` checks that it is recent."""

    id = pw.IntegerField(primary_key=True)
    beat_at = pw.DateTimeField(default=utcnow)
    host = pw.CharField(max_length=255, default="")
    pid = pw.IntegerField(null=True)

    class Meta:
        database = database
        table_name = "scheduler_heartbeat"


MODELS = [JobRun, SchedulerHeartbeat]

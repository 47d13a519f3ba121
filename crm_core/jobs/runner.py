"""Running one job: inside an app context, logged in ``job_run`` (start, end, outcome, error).

A ``func`` with a required positional parameter is called with its ``JobContext`` (the app, the
run's clock, the jobs' system actor); one without is called with no argument."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import traceback

from ..db import database, utcnow
from ..events import emit
from .context import job_context, takes_context
from .models import ERROR, RUNNING, SUCCESS, JobRun

log = logging.getLogger(__name__)


def run_job(
    app, spec, source: str = "schedule", started_by: int | None = None, now: dt.datetime | None = None
) -> JobRun:
    """Run ``spec.func(ctx)`` (or ``spec.func()``) in an app context of ``app`` and return its
    logged ``JobRun``. ``now`` (naive UTC) is the context's clock; by default the start time.

    Never raises for the job's own errors: they are logged with the traceback, stored on the run,
    and announced as a ``job.failed`` event (webhooks and automation rules can react).
    """
    with app.app_context():
        database.connect(reuse_if_open=True)
        try:
            return _run(app, spec, source, started_by, now)
        finally:
            if not database.in_transaction() and not database.is_closed():
                database.close()


def _run(app, spec, source, started_by, now) -> JobRun:
    run = JobRun.create(
        job_id=spec.id,
        source=source,
        started_at=utcnow(),
        outcome=RUNNING,
        host=socket.gethostname()[:255],
        pid=os.getpid(),
        started_by=started_by,
    )
    start = time.perf_counter()
    outcome, error, result = SUCCESS, None, None
    try:
        if takes_context(spec.func):
            value = spec.func(job_context(app, spec, run.id, source, now or run.started_at))
        else:
            value = spec.func()
        result = None if value is None else str(value)[:2000]
    except Exception as exc:  # the scheduler must survive any job
        outcome = ERROR
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"[-8000:]
        log.exception("job %s failed", spec.id)
        if database.in_transaction():  # a job that died inside its own transaction
            database.rollback()
    run.finished_at = utcnow()
    run.duration_ms = int((time.perf_counter() - start) * 1000)
    run.outcome, run.error, run.result = outcome, error, result
    with database.atomic():
        run.save()
        if outcome == ERROR:
            emit(
                "job.failed",
                {"job_id": spec.id, "run_id": run.id, "error": error.splitlines()[0]},
                resource="jobs",  # webhooks: readers of jobs only
            )
    return run

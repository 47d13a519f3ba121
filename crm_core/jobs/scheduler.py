"""``crm scheduler``: APScheduler in its own process, held to one running copy by the scheduler lock.

Jobs come from ``crm_jobs`` (the event dispatcher and webhook delivery are core jobs) and live in
the in-memory job store, re-declared every time the lock is taken: nothing is pickled, nothing
goes stale. Each job has ``coalesce=True`` (missed runs collapse into one) and
``max_instances=1`` (a slow run is never overlapped by the next). Web workers never start a
scheduler.

The process is a small supervisor loop around the job scheduler:

1. *standby*: try the lock (:mod:`crm_core.jobs.lock`) every ``poll_seconds``. A database that
   cannot be reached is waited out (logged once per outage), never a reason to exit.
2. *leader*: run the jobs, checking every ``LOCK_CHECK_SECONDS`` that the lock's session is alive,
   and rewrite the heartbeat row (``SchedulerHeartbeat``, read by ``/health/ready``) every
   ``HEARTBEAT_SECONDS``.
3. *lost*: when the session is gone (a PostgreSQL restart, a network blip), stop starting jobs at
   once (another scheduler may take over), let running ones finish (bounded), drop the pooled
   connections, which died with the server, and go back to 1.

Only SIGTERM/SIGINT (or ``stop``) end the loop; the lock is released on the way out.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time

import peewee as pw
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from ..db import database, utcnow
from .lock import SchedulerLock
from .models import ERROR, RUNNING, JobRun, SchedulerHeartbeat
from .registry import collect_jobs
from .runner import run_job

log = logging.getLogger(__name__)

# how often the leader checks that it still holds the lock (one SELECT 1 on the lock's session)
LOCK_CHECK_SECONDS = 2.0
# how long a scheduler that lost its lock waits for its running jobs before it competes again
DRAIN_SECONDS = 30.0
# how often the leader rewrites its heartbeat row (``/health/ready`` allows a few missed beats)
HEARTBEAT_SECONDS = 10.0
# the longest wait between tries while the database is unreachable
RETRY_SECONDS = 1.0


def scheduled_run(app, spec) -> None:
    """One scheduled run: ``run_job``, except that a database outage is one warning line (the
    loop retakes the lock and goes on once the database is back), not a traceback per run."""
    try:
        run_job(app, spec, "schedule")
    except (pw.OperationalError, pw.InterfaceError) as exc:
        log.warning("job %s not run: database unavailable (%s)", spec.id, _first_line(exc))


def build_scheduler(app) -> BackgroundScheduler:
    """A (not yet started) scheduler with every valid job of the app's plugins."""
    scheduler = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone=dt.UTC,
    )
    for spec in collect_jobs(app.extensions["crm"].plugins).values():
        if spec.error:
            continue
        scheduler.add_job(
            scheduled_run,
            trigger=spec.trigger(),
            args=(app, spec),
            id=spec.id,
            name=spec.description or spec.id,
            replace_existing=True,
            misfire_grace_time=spec.misfire_grace_time,
        )
    return scheduler


def run_scheduler(
    app,
    poll_seconds: float = 5.0,
    stop: threading.Event | None = None,
    lock_check_seconds: float = LOCK_CHECK_SECONDS,
) -> bool:
    """Wait for the scheduler lock (as a standby), then run jobs until stopped; retake the lock
    whenever it is lost (database restart) instead of exiting.

    Returns True if this process ran as the scheduler at some point, False if it was stopped
    while a standby. ``stop`` (an Event) and SIGTERM/SIGINT (main thread only) stop it.
    """
    stop = stop or threading.Event()
    lock = SchedulerLock(app.extensions["crm"].db, app.config["INSTANCE_PATH"])

    def on_signal(signum, frame):
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    ran = False
    try:
        while not stop.is_set():
            if not _wait_for_lock(lock, stop, poll_seconds):
                break
            ran = True
            _lead(app, lock, stop, lock_check_seconds)
    finally:
        lock.release()
    return ran


def _wait_for_lock(lock: SchedulerLock, stop: threading.Event, poll_seconds: float) -> bool:
    """Block until the lock is held (True) or ``stop`` is set (False)."""
    announced = False
    down_since = None
    while not stop.is_set():
        delay = poll_seconds
        try:
            if lock.acquire():
                if down_since is not None:
                    log.warning("database reachable again after %.1f s", time.monotonic() - down_since)
                return True
            if not announced:
                log.info("another scheduler holds the lock; waiting as a standby")
                announced = True
        except Exception as exc:  # the driver's connection errors: wait the outage out
            if down_since is None:
                down_since = time.monotonic()
                log.warning("database unreachable (%s); retrying until it is back", _first_line(exc))
            delay = min(poll_seconds, RETRY_SECONDS)
        if stop.wait(delay):
            break
    return False


def _lead(app, lock: SchedulerLock, stop: threading.Event, lock_check_seconds: float) -> None:
    """Run the jobs while the lock is held; return when it is lost or ``stop`` is set."""
    _close_interrupted_runs(app)
    scheduler = build_scheduler(app)
    scheduler.start()
    log.info("scheduler holds the lock; running jobs: %s", ", ".join(j.id for j in scheduler.get_jobs()))
    lost = False
    beaten = _beat(app, 0.0)
    try:
        while not stop.wait(lock_check_seconds):
            if not lock.alive():
                lost = True
                log.error("scheduler lost its lock (database session gone); pausing jobs to retake it")
                break
            beaten = _beat(app, beaten)
    finally:
        # no new runs from here on; the running ones finish (bounded when the lock was lost)
        scheduler.pause()
        _shutdown(scheduler, DRAIN_SECONDS if lost else None)
        lock.release()
        if lost:
            _drop_pooled_connections(app)


def _beat(app, last: float) -> float:
    """Rewrite the heartbeat row (``/health/ready`` reads it) when ``HEARTBEAT_SECONDS`` have
    passed since ``last`` (monotonic); returns the time of the latest beat. A failed write is a
    warning: the lock check notices a database that is really gone."""
    now = time.monotonic()
    if last and now - last < HEARTBEAT_SECONDS:
        return last
    try:
        with app.app_context():
            database.connect(reuse_if_open=True)
            try:
                row = {"beat_at": utcnow(), "host": socket.gethostname()[:255], "pid": os.getpid()}
                if not SchedulerHeartbeat.update(**row).where(SchedulerHeartbeat.id == 1).execute():
                    SchedulerHeartbeat.insert(id=1, **row).on_conflict_ignore().execute()
            finally:
                if not database.in_transaction():
                    database.close()
    except Exception as exc:  # reported as a stale heartbeat by /health/ready
        log.warning("scheduler heartbeat not written: %s", _first_line(exc))
    return now


def _shutdown(scheduler: BackgroundScheduler, timeout: float | None) -> None:
    if timeout is None:
        scheduler.shutdown(wait=True)
        return
    done = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True)
    done.start()
    done.join(timeout)
    if done.is_alive():
        log.warning("jobs still running %.0f s after the lock was lost; going on without them", timeout)


def _drop_pooled_connections(app) -> None:
    """Close the app's pooled connections: after a server restart every one of them is dead."""
    db = app.extensions["crm"].db
    try:
        if hasattr(db, "close_idle"):
            db.close_idle()
    except Exception:  # closing what is already broken
        log.debug("closing pooled connections failed", exc_info=True)


def _close_interrupted_runs(app) -> None:
    """Mark scheduled runs left ``running`` (by a scheduler that died or lost its lock) as
    errors: only the lock holder runs scheduled jobs, and it has just taken the lock."""

    try:
        with app.app_context():
            database.connect(reuse_if_open=True)
            try:
                n = (
                    JobRun.update(
                        outcome=ERROR,
                        finished_at=utcnow(),
                        error="Interrupted: the scheduler running it stopped or lost its lock.",
                    )
                    .where(JobRun.outcome == RUNNING, JobRun.source == "schedule")
                    .execute()
                )
                if n:
                    log.warning("marked %d interrupted scheduled run(s) as errors", n)
            finally:
                if not database.in_transaction():
                    database.close()
    except Exception as exc:  # the jobs themselves will report a database that is still away
        log.warning("could not check for interrupted runs: %s", _first_line(exc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

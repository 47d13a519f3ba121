"""``crm scheduler``: APScheduler's BlockingScheduler in its own process.

Jobs come from ``crm_jobs`` (the event dispatcher and webhook delivery are core jobs) and live in
the in-memory job store, re-declared at every start: nothing is pickled, nothing goes stale. Each
job has ``coalesce=True`` (missed runs collapse into one) and ``max_instances=1`` (a slow run is
never overlapped by the next). Web workers never start a scheduler. Only the process holding the
scheduler lock (:mod:`crm_core.jobs.lock`) runs jobs; others wait as standbys.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from .lock import SchedulerLock
from .registry import collect_jobs
from .runner import run_job

log = logging.getLogger(__name__)

LOCK_CHECK_SECONDS = 10


def build_scheduler(app, lock: SchedulerLock | None = None) -> BlockingScheduler:
    """A BlockingScheduler with every valid job of the app's plugins (and a lock watchdog)."""
    scheduler = BlockingScheduler(
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        timezone=dt.UTC,
    )
    for spec in collect_jobs(app.extensions["crm"].plugins).values():
        if spec.error:
            continue
        scheduler.add_job(
            run_job,
            trigger=spec.trigger(),
            args=(app, spec, "schedule"),
            id=spec.id,
            name=spec.description or spec.id,
            replace_existing=True,
            misfire_grace_time=spec.misfire_grace_time,
        )
    if lock is not None:

        def watchdog():
            # losing the PostgreSQL session means losing the lock: another scheduler may take
            # over, so this one must stop running jobs at once
            if not lock.alive():
                log.error("scheduler lost its lock; stopping")
                scheduler.shutdown(wait=False)

        scheduler.add_job(watchdog, "interval", seconds=LOCK_CHECK_SECONDS, id="core.jobs:lock-watchdog")
    return scheduler


def run_scheduler(app, poll_seconds: float = 5.0, stop: threading.Event | None = None) -> bool:
    """Wait for the scheduler lock (as a standby), then run jobs until stopped.

    Returns True if this process ran as the scheduler, False if it was stopped while a standby.
    ``stop`` (an Event) and SIGTERM/SIGINT stop it; the lock is released on the way out.
    """
    stop = stop or threading.Event()
    lock = SchedulerLock(app.extensions["crm"].db, app.config["INSTANCE_PATH"])
    scheduler = None

    def on_signal(signum, frame):
        stop.set()
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    announced = False
    while not lock.acquire():
        if not announced:
            log.info("another scheduler holds the lock; waiting as a standby")
            announced = True
        if stop.wait(poll_seconds):
            return False
    try:
        scheduler = build_scheduler(app, lock)
        log.info("scheduler started with jobs: %s", ", ".join(j.id for j in scheduler.get_jobs()))
        if stop.is_set():
            return True
        watcher = threading.Thread(target=_stop_when_set, args=(stop, scheduler), daemon=True)
        watcher.start()
        scheduler.start()
        return True
    finally:
        lock.release()


def _stop_when_set(stop: threading.Event, scheduler: BlockingScheduler) -> None:
    stop.wait()
    # the stop may come just before start(): wait briefly for the scheduler to be running
    for _ in range(100):
        if scheduler.running:
            scheduler.shutdown(wait=False)
            return
        time.sleep(0.05)

"""Prometheus metrics: request counters and latencies kept by each process, and gauges of the
database's state (outbox backlog, webhook deliveries, job runs, tasks) computed when scraped.

Work done by the scheduler process (dispatching events, delivering webhooks, running jobs and
imports) is read back from the tables it writes, so any web worker's scrape shows it and nothing
is instrumented module by module. Under gunicorn (``crm serve``) the per-process values are
shared through ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode, set up by
:func:`prepare_multiprocess`) and summed at scrape time.
"""

from __future__ import annotations

import calendar
import hmac
import logging
import os
import shutil
import tempfile

import peewee as pw
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from ..db import utcnow
from ..events.models import PENDING as EVENT_PENDING
from ..events.models import OutboxEvent
from ..jobs.models import JobRun, SchedulerHeartbeat
from ..jobs.tasks import Task
from ..messaging.models import MessageDelivery
from ..webhooks.models import WebhookDelivery

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: request methods kept as labels; anything else is counted as "other" (bounded label values)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"
#: latency buckets (seconds): API calls take milliseconds, exports and imports are jobs
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    """The multiprocess directory when this process shares its metrics (``crm serve``)."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess() -> str:
    """In ``crm serve``'s master, before the workers fork: a fresh directory for the workers'
    metric files (under ``PROMETHEUS_MULTIPROC_DIR`` if set), exported to them. Files of an
    earlier start would add stale counts, hence fresh per start. Returns the directory."""
    parent = multiprocess_dir()
    path = tempfile.mkdtemp(prefix="crm-metrics-", dir=parent)
    os.environ[MULTIPROC_ENV] = path
    # prometheus_client picks its value store when first imported (this package was imported by
    # the CLI already); the workers inherit this choice when they fork
    values.ValueClass = values.get_value_class()
    return path


def worker_exited(server, worker) -> None:
    """gunicorn's ``child_exit`` hook: drop the live gauges of a worker that is gone."""
    if multiprocess_dir():
        mark_process_dead(worker.pid)


def remove_multiprocess_dir(path: str, owner_pid: int) -> None:
    """Delete a directory made by :func:`prepare_multiprocess` when ``crm serve``'s master
    (``owner_pid``) exits; a forked worker leaving through the same stack keeps it."""
    if os.getpid() == owner_pid:
        shutil.rmtree(path, ignore_errors=True)


class Metrics:
    """The metrics one app keeps in its process: ``app.extensions["crm_metrics"]``."""

    def __init__(self):
        # one registry per app (several apps live in a test process); in multiprocess mode the
        # values also go to this process's files, which the scrape reads instead
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "crm_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "crm_http_request_duration_seconds",
            "Time to answer a request, by route template and method",
            ["route", "method"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "crm_rate_limit_rejections",
            "Requests refused with 429 (rate limits and login lockouts), by route template",
            ["route"],
            registry=self.registry,
        )
        self.pool = Gauge(
            "crm_db_pool_connections",
            "PostgreSQL pool connections of the web processes (at their last request), by state",
            ["state"],
            multiprocess_mode="livesum",
            registry=self.registry,
        )

    def observe(self, rule: str | None, method: str, status: int, seconds: float | None, db) -> None:
        """Count one answered request (``rule``: the URL rule's template, never the raw path)."""
        route = rule or UNMATCHED
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        if seconds is not None:
            self.latency.labels(route, method).observe(seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()
        in_use = getattr(db, "_in_use", None)  # peewee's PooledDatabase (PostgreSQL) only
        if in_use is not None:
            self.pool.labels("in_use").set(len(in_use))
            self.pool.labels("idle").set(len(getattr(db, "_connections", ())))


def authorized(token: str, header: str) -> bool:
    """True when ``header`` is ``Bearer <token>`` (constant-time comparison)."""
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def render(app) -> bytes:
    """The exposition text: this process's metrics (or every worker's, summed, in multiprocess
    mode), then the gauges read from the database now."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = app.extensions["crm_metrics"].registry
    state = CollectorRegistry(auto_describe=False)
    state.register(DatabaseState())
    return generate_latest(registry) + generate_latest(state)


class DatabaseState:
    """Gauges computed at scrape time with one grouped query each (inside the request)."""

    def collect(self):
        """Yield each family; one whose table cannot be read (not migrated yet) is left out."""
        for build in (_outbox, _webhooks, _messages, _jobs, _tasks, _heartbeat):
            try:
                yield from build()
            except pw.PeeweeException as exc:  # not migrated yet, or the database is away
                log.warning("metrics: %s skipped: %s", build.__name__.strip("_"), exc)


def _outbox():
    backlog = GaugeMetricFamily(
        "crm_outbox_events", "Outbox events not dispatched yet, by status", labels=["status"]
    )
    rows = (
        OutboxEvent.select(
            OutboxEvent.status, pw.fn.COUNT(OutboxEvent.id), pw.fn.MIN(OutboxEvent.occurred_at)
        )
        .where(OutboxEvent.status != "done")
        .group_by(OutboxEvent.status)
        .tuples()
    )
    oldest = None
    for status, count, first in rows:
        backlog.add_metric([status], count)
        if status == EVENT_PENDING:
            oldest = first
    yield backlog
    lag = GaugeMetricFamily(
        "crm_outbox_dispatch_lag_seconds", "Age of the oldest pending outbox event (0: none pending)"
    )
    lag.add_metric([], max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
    yield lag


def _webhooks():
    family = GaugeMetricFamily(
        "crm_webhook_deliveries",
        "Webhook deliveries in the delivery log, by status (outcome)",
        labels=["status"],
    )
    rows = (
        WebhookDelivery.select(WebhookDelivery.status, pw.fn.COUNT(WebhookDelivery.id))
        .group_by(WebhookDelivery.status)
        .tuples()
    )
    for status, count in rows:
        family.add_metric([status], count)
    yield family


def _messages():
    family = GaugeMetricFamily(
        "crm_message_deliveries",
        "Messages (robots, SMS) in the delivery log, by channel and status",
        labels=["channel", "status"],
    )
    rows = (
        MessageDelivery.select(
            MessageDelivery.channel, MessageDelivery.status, pw.fn.COUNT(MessageDelivery.id)
        )
        .group_by(MessageDelivery.channel, MessageDelivery.status)
        .tuples()
    )
    for channel, status, count in rows:
        family.add_metric([channel, status], count)
    yield family


def _jobs():
    runs = GaugeMetricFamily(
        "crm_job_runs", "Job runs in the run log, by job and outcome", labels=["job", "outcome"]
    )
    mean = GaugeMetricFamily(
        "crm_job_run_duration_seconds_mean",
        "Mean duration of the logged runs, by job and outcome",
        labels=["job", "outcome"],
    )
    last = GaugeMetricFamily(
        "crm_job_last_finished_timestamp_seconds",
        "When the job last finished, by outcome (Unix time)",
        labels=["job", "outcome"],
    )
    rows = (
        JobRun.select(
            JobRun.job_id,
            JobRun.outcome,
            pw.fn.COUNT(JobRun.id),
            pw.fn.AVG(JobRun.duration_ms),
            pw.fn.MAX(JobRun.finished_at),
        )
        .group_by(JobRun.job_id, JobRun.outcome)
        .tuples()
    )
    for job, outcome, count, avg_ms, finished in rows:
        runs.add_metric([job, outcome], count)
        if avg_ms is not None:
            mean.add_metric([job, outcome], float(avg_ms) / 1000)
        if finished is not None:  # naive UTC
            last.add_metric(
                [job, outcome], calendar.timegm(finished.timetuple()) + finished.microsecond / 1e6
            )
    yield from (runs, mean, last)


def _tasks():
    family = GaugeMetricFamily(
        "crm_tasks",
        "Queued work (imports, exports) in the task table, by kind and status",
        labels=["kind", "status"],
    )
    rows = Task.select(Task.kind, Task.status, pw.fn.COUNT(Task.id)).group_by(Task.kind, Task.status).tuples()
    for kind, status, count in rows:
        family.add_metric([kind, status], count)
    yield family


def _heartbeat():
    row = SchedulerHeartbeat.get_or_none(SchedulerHeartbeat.id == 1)
    if row is not None:
        family = GaugeMetricFamily(
            "crm_scheduler_heartbeat_age_seconds", "Seconds since the scheduler's last heartbeat"
        )
        family.add_metric([], max(0.0, (utcnow() - row.beat_at).total_seconds()))
        yield family

"""Retention policies and the job ``core:retention``, driven through ``crm jobs run``, ``crm retention
run|status`` and the HTTP API: what is older than a policy's days goes, what is newer stays, the
audit chain still verifies after its purge, a dry run deletes nothing, bad settings are named, and
on PostgreSQL a range-partitioned table loses its wholly older partitions."""

from __future__ import annotations

import datetime as dt

import peewee as pw
import pytest

from crm_core import hookimpl
from crm_core.audit.models import AuditEntry
from crm_core.db import database, is_postgres, utcnow
from crm_core.events.models import DONE, PENDING, OutboxEvent
from crm_core.jobs.models import JobRun
from crm_core.testing import deliver_events, run_cli
from crm_core.webhooks.models import FAILED, SUCCEEDED, WebhookDelivery


@pytest.fixture
def app_config(app_config):
    # the webhook subscription of these tests points at a local address that is never called
    return {**app_config, "WEBHOOK_ALLOW_PRIVATE_URLS": True}


def _at(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}"


def _customers(client, headers, count: int) -> None:
    for i in range(count):
        r = client.post("/api/v1/customers", json={"name": f"Kept {i}"}, headers=headers)
        assert r.status_code == 201, r.get_json()


def _age(model, ids, days: int, column: str) -> None:
    """Move the rows ``ids`` of ``model`` ``days`` into the past (as if written then)."""
    field = getattr(model, column)
    model.update({field: utcnow() - dt.timedelta(days=days)}).where(model.id.in_(list(ids))).execute()


def _subscribe(client, headers) -> None:
    r = client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["customer.created"]},
        headers=headers,
    )
    assert r.status_code == 201, r.get_json()


def test_the_job_deletes_what_each_policy_keeps_no_longer_and_keeps_the_rest(client, admin_headers, app):
    _subscribe(client, admin_headers)
    _customers(client, admin_headers, 4)
    assert deliver_events() >= 4  # dispatched: the outbox rows are done, deliveries queued
    assert run_cli(app, "jobs", "run", "core.events:dispatch").exit_code == 0  # a run to age
    old_run = JobRun.select().order_by(JobRun.id.desc()).first().id
    events = [e.id for e in OutboxEvent.select().order_by(OutboxEvent.id)]
    old_done, old_pending, recent = events[0], events[1], events[2:]
    _age(OutboxEvent, [old_done, old_pending], 731, "occurred_at")
    OutboxEvent.update(status=PENDING).where(OutboxEvent.id == old_pending).execute()
    deliveries = [d.id for d in WebhookDelivery.select().order_by(WebhookDelivery.id)]
    assert len(deliveries) == 4
    WebhookDelivery.update(status=SUCCEEDED).where(WebhookDelivery.id == deliveries[0]).execute()
    WebhookDelivery.update(status=FAILED).where(WebhookDelivery.id == deliveries[1]).execute()
    _age(WebhookDelivery, deliveries[:3], 31, "created_at")  # the third is old but still pending
    _age(JobRun, [old_run], 31, "started_at")
    JobRun.create(job_id="x:recent", outcome="success")

    result = run_cli(app, "jobs", "run", "core:retention")
    assert result.exit_code == 0, result.output
    for counted in ("'outbox': 1", "'webhook_deliveries': 2", "'job_runs': 1", "'audit': 0"):
        assert counted in result.output, result.output
    left = {e.id for e in OutboxEvent.select()}
    assert old_done not in left and old_pending in left and set(recent) <= left
    assert {d.id for d in WebhookDelivery.select()} == set(deliveries[2:])
    assert not JobRun.select().where(JobRun.id == old_run).exists()
    assert JobRun.select().where(JobRun.job_id == "x:recent").exists()
    # the retention run itself is logged with its counts
    run = JobRun.select().where(JobRun.job_id == "core:retention").get()
    assert run.outcome == "success" and "'outbox': 1" in run.result


def test_the_audit_purge_leaves_a_verifiable_chain(client, admin_headers, app):
    _customers(client, admin_headers, 3)
    before = AuditEntry.select().count()
    assert before >= 3
    # three years and a day later, everything sealed so far is past AUDIT_RETENTION_DAYS (1095)
    later = utcnow() + dt.timedelta(days=1096)
    result = run_cli(app, "jobs", "run", "core:retention", "--at", _at(later))
    assert result.exit_code == 0, result.output
    assert "'audit': 0" not in result.output
    anchor = AuditEntry.select().where(AuditEntry.kind == "anchor", AuditEntry.action == "purge").get()
    assert '"retention_days":1095' in anchor.after
    assert AuditEntry.select().where(AuditEntry.resource == "customers").count() == 0
    verify = run_cli(app, "audit", "verify")
    assert verify.exit_code == 0 and "intact" in verify.output, verify.output
    # written after the purge, kept by the next run at the same clock
    _customers(client, admin_headers, 1)
    again = run_cli(app, "retention", "run", "--at", _at(utcnow()))
    assert again.exit_code == 0 and "audit: 0 deleted" in again.output, again.output
    assert run_cli(app, "audit", "verify").exit_code == 0


def test_a_dry_run_counts_what_is_due_and_deletes_nothing(client, admin_headers, app):
    _customers(client, admin_headers, 2)
    deliver_events()
    events, entries = OutboxEvent.select().count(), AuditEntry.select().count()
    later = utcnow() + dt.timedelta(days=1100)
    result = run_cli(app, "retention", "run", "--dry-run", "--at", _at(later))
    assert result.exit_code == 0, result.output
    assert f"outbox: {events} due (older than 730 days" in result.output
    assert f"audit: {entries} due" in result.output
    assert OutboxEvent.select().count() == events and AuditEntry.select().count() == entries
    assert not AuditEntry.select().where(AuditEntry.kind == "anchor", AuditEntry.action == "purge").exists()


def test_status_shows_each_policy_its_days_and_the_rows_due(client, admin_headers, app):
    _customers(client, admin_headers, 2)
    deliver_events()
    now = run_cli(app, "retention", "status")
    assert now.exit_code == 0, now.output
    lines = {line.split()[0]: line.split() for line in now.output.splitlines()[1:]}
    assert {"audit", "outbox", "webhook_deliveries", "job_runs", "channel_tracking.touchpoints"} <= set(lines)
    assert lines["outbox"][1:] == ["730", "OUTBOX_RETENTION_DAYS", "0"]
    assert lines["audit"][1:3] == ["1095", "AUDIT_RETENTION_DAYS"]
    later = run_cli(app, "retention", "status", "--at", _at(utcnow() + dt.timedelta(days=731)))
    outbox = next(line for line in later.output.splitlines() if line.startswith("outbox"))
    assert outbox.split()[-1] == str(OutboxEvent.select().where(OutboxEvent.status == DONE).count())


@pytest.mark.parametrize(
    "setting, value, message",
    [
        (
            "OUTBOX_RETENTION_DAYS",
            0,
            "OUTBOX_RETENTION_DAYS (retention of 'outbox'): must be between 1 and 36500 days, got 0",
        ),
        (
            "OUTBOX_RETENTION_DAYS",
            "ten",
            "OUTBOX_RETENTION_DAYS (retention of 'outbox'): expected a whole number of days, got 'ten'",
        ),
        (
            "AUDIT_RETENTION_DAYS",
            30,
            "AUDIT_RETENTION_DAYS (retention of 'audit'): must be between 365 and 3650 days, got 30",
        ),
    ],
)
def test_a_bad_setting_is_named_and_the_other_policies_still_run(app, monkeypatch, setting, value, message):
    monkeypatch.setitem(app.config, setting, value)
    JobRun.create(job_id="x:old", outcome="success", started_at=utcnow() - dt.timedelta(days=40))
    result = run_cli(app, "retention", "run")
    assert result.exit_code == 1
    assert message in result.output
    assert "job_runs: 1 deleted" in result.output  # the others ran
    status = run_cli(app, "retention", "status")
    assert status.exit_code == 0 and "ERROR " + message in status.output
    job = run_cli(app, "jobs", "run", "core:retention")
    assert job.exit_code == 1 and message in job.output
    assert JobRun.select().where(JobRun.job_id == "core:retention").get().outcome == "error"


def test_a_bad_at_is_refused(app):
    result = run_cli(app, "retention", "run", "--at", "yesterday")
    assert result.exit_code == 2 and "not an ISO date or time: 'yesterday'" in result.output


# --- a plugin's policy over a table of its own; partitions on PostgreSQL ----------------------


class Reading(pw.Model):
    """A plugin's time series; on PostgreSQL range-partitioned by month on ``taken_at``."""

    id = pw.BigAutoField()
    taken_at = pw.DateTimeField()

    class Meta:
        database = database
        table_name = "retention_test_reading"


class Readings:
    """A plugin keeping its readings 30 days."""

    @hookimpl
    def crm_retention_policies(self):
        return [{"name": "readings", "model": Reading, "field": Reading.taken_at, "default_days": 30}]


READINGS = [
    dt.datetime(2025, 1, 10),  # the January partition: dropped whole
    dt.datetime(2025, 1, 20),
    dt.datetime(2025, 2, 10),  # February: partly older, deleted row by row
    dt.datetime(2025, 2, 20),
    dt.datetime(2025, 3, 5),
    dt.datetime(2024, 6, 1),  # the default partition: older, deleted
    dt.datetime(2025, 6, 1),
]
# cutoff: 30 days before this, 2025-02-15
AT = "2025-03-17T00:00:00"


def _make_readings():
    if is_postgres():
        database.execute_sql(
            "CREATE TABLE retention_test_reading (id bigserial, taken_at timestamp NOT NULL) "
            "PARTITION BY RANGE (taken_at)"
        )
        for month, following in (("01", "02"), ("02", "03"), ("03", "04")):
            database.execute_sql(
                f"CREATE TABLE retention_test_reading_2025_{month} PARTITION OF retention_test_reading "
                f"FOR VALUES FROM ('2025-{month}-01') TO ('2025-{following}-01')"
            )
        database.execute_sql(
            "CREATE TABLE retention_test_reading_default PARTITION OF retention_test_reading DEFAULT"
        )
    else:
        Reading.create_table()
    Reading.insert_many([{"taken_at": t} for t in READINGS]).execute()


def _partitions() -> list[str]:
    rows = database.execute_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'retention_test_reading' ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


@pytest.mark.parametrize("batch", [2000, 1])
def test_a_plugin_policy_deletes_its_old_rows_dropping_whole_partitions_on_postgres(
    register_plugin, monkeypatch, batch
):
    monkeypatch.setattr("crm_core.retention.purge.BATCH_SIZE", batch)
    app = register_plugin(Readings(), "readings")
    with app.app_context():
        _make_readings()
        dry = run_cli(app, "retention", "run", "--dry-run", "--at", AT)
        assert dry.exit_code == 0 and "readings: 4 due (older than 30 days, before 2025-02-15" in dry.output
        assert Reading.select().count() == 7
        if is_postgres():
            assert "1 partition(s) due" in dry.output

        result = run_cli(app, "jobs", "run", "core:retention", "--at", AT)
        assert result.exit_code == 0 and "'readings': 4" in result.output, result.output
        kept = sorted(r.taken_at for r in Reading.select())
        assert kept == [dt.datetime(2025, 2, 20), dt.datetime(2025, 3, 5), dt.datetime(2025, 6, 1)]
        if is_postgres():
            assert _partitions() == [
                "retention_test_reading_2025_02",
                "retention_test_reading_2025_03",
                "retention_test_reading_default",
            ]
            # detached and dropped: the table is gone, not left behind on its own
            assert database.execute_sql(
                "SELECT to_regclass('retention_test_reading_2025_01')"
            ).fetchone() == (None,)
        again = run_cli(app, "retention", "run", "--at", AT)
        assert again.exit_code == 0 and "readings: 0 deleted" in again.output
        Reading.drop_table()


class Misdeclared:
    """A plugin whose policies are wrong in each way the job names."""

    @hookimpl
    def crm_retention_policies(self):
        return [
            {"name": "no_model", "model": "readings", "field": Reading.taken_at, "default_days": 30},
            {"name": "no_field", "model": Reading, "default_days": 30},
            {"name": "no_days", "model": Reading, "field": Reading.taken_at},
            {
                "name": "unknown_setting",
                "model": Reading,
                "field": Reading.taken_at,
                "setting": "NOPE",
                "default_days": 1,
            },
            {"name": "outbox", "model": Reading, "field": Reading.taken_at, "default_days": 30},
            "not a dict",
        ]


def test_misdeclared_policies_are_named_and_the_others_still_run(register_plugin):
    app = register_plugin(Misdeclared(), "misdeclared")
    with app.app_context():
        result = run_cli(app, "retention", "run")
        assert result.exit_code == 1
        for message in (
            "retention policy 'no_model': model must be a peewee model",
            "retention policy 'no_field': give a field (a timestamp column) or a purge(cutoff) function",
            "retention policy 'no_days': default_days is required",
            "retention policy 'unknown_setting': unknown setting 'NOPE'",
            "retention policy 'outbox' declared twice (plugins core.events, misdeclared)",
            "misdeclared:?: ERROR a policy must be a dict with a name",
        ):
            assert message in result.output, (message, result.output)
        assert "outbox: 0 deleted" in result.output and "audit: 0 deleted" in result.output
        status = run_cli(app, "retention", "status")
        assert status.exit_code == 0 and "no_model" in status.output and "ERROR" in status.output

"""Monthly partitions of the append-only tables on PostgreSQL (``crm_core.partitions``): the
migrations partition the outbox, the audit log and the webhook attempts; ``core:partitions``
creates the months ahead (moving what the default partition held); retention drops whole months
(an outbox month only when every event in it is dispatched, an audit month only when every entry
precedes the purge's anchor) and the chain still verifies; ``crm retention partitions`` shows them.
On SQLite every table stays whole and the same commands still work."""

from __future__ import annotations

import datetime as dt

import pytest

from crm_core import partitions
from crm_core.audit.models import AuditEntry
from crm_core.db import database, is_postgres, utcnow
from crm_core.events.models import DONE, PENDING, ConsumerProgress, OutboxEvent
from crm_core.testing import deliver_events, run_cli
from crm_core.webhooks.models import SUCCEEDED, WebhookAttempt, WebhookDelivery

PARTITIONED = {"event_outbox": "occurred_at", "audit_entry": "occurred_at", "webhook_attempt": "started_at"}

postgres_only = pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)


@pytest.fixture
def app_config(app_config):
    # the webhook subscription of these tests points at a local address that is never called
    return {**app_config, "WEBHOOK_ALLOW_PRIVATE_URLS": True}


def _at(moment: dt.datetime | dt.date) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}" if isinstance(moment, dt.datetime) else f"{moment}T12:00:00"


def _rows(name: str) -> int:
    return database.execute_sql(f"SELECT count(*) FROM {partitions.quoted(name)}").fetchone()[0]


def _event(occurred_at: dt.datetime, status: str = DONE) -> OutboxEvent:
    return OutboxEvent.create(
        uid=f"evt_test_{occurred_at:%Y%m%d%H%M%S%f}", type="test.aged", status=status, occurred_at=occurred_at
    )


@postgres_only
def test_the_migrations_partition_the_append_only_tables_by_month(app):
    today = utcnow().date()
    assert set(PARTITIONED) <= set(partitions.monthly_tables(database))
    for table, column in PARTITIONED.items():
        assert partitions.partition_column(database, table) == column
        names = [m.name for m in partitions.months_of(database, table)]
        for offset in range(partitions.MONTHS_AHEAD + 1):  # this month and the ones ahead
            assert f"{table}_{partitions.month_start(today, offset):%Y_%m}" in names
        key = database.execute_sql(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
            (table,),
        ).fetchone()[0]
        assert key == f"PRIMARY KEY (id, {column})"
    # the attempts keep their foreign key to the delivery; the consumers lost theirs to the outbox
    outgoing = database.execute_sql(
        "SELECT confrelid::regclass::text FROM pg_constraint WHERE conrelid = 'webhook_attempt'::regclass "
        "AND contype = 'f'"
    ).fetchall()
    assert outgoing == [("webhook_delivery",)]


@postgres_only
def test_ids_keep_counting_and_a_sealed_entry_stays_append_only_in_its_partition(client, admin_headers, app):
    before = OutboxEvent.select().count()
    r = client.post("/api/v1/customers", json={"name": "Partitioned"}, headers=admin_headers)
    assert r.status_code == 201
    assert OutboxEvent.select().count() == before + 1
    assert run_cli(app, "audit", "seal").exit_code == 0
    entry = AuditEntry.select().where(AuditEntry.seq.is_null(False)).order_by(AuditEntry.id.desc()).first()
    where = database.execute_sql(
        "SELECT tableoid::regclass::text FROM audit_entry WHERE id = %s", (entry.id,)
    )
    assert where.fetchone()[0] == f"audit_entry_{utcnow():%Y_%m}"
    with pytest.raises(Exception, match="append-only"), database.atomic():
        database.execute_sql("UPDATE audit_entry SET action = 'forged' WHERE id = %s", (entry.id,))
    with pytest.raises(Exception, match="append-only"), database.atomic():
        database.execute_sql("DELETE FROM audit_entry WHERE id = %s", (entry.id,))


@postgres_only
def test_the_job_creates_the_months_ahead_and_moves_what_the_default_held(app):
    later = utcnow().date().replace(day=15) + dt.timedelta(days=400)
    month = partitions.month_start(later)
    stray = _event(dt.datetime.combine(month, dt.time(8)))
    assert _rows("event_outbox_default") >= 1  # no partition of its month yet
    result = run_cli(app, "jobs", "run", "core:partitions", "--at", _at(later))
    assert result.exit_code == 0, result.output
    for table in PARTITIONED:
        names = [m.name for m in partitions.months_of(database, table)]
        for offset in range(partitions.MONTHS_AHEAD + 1):
            assert f"{table}_{partitions.month_start(later, offset):%Y_%m}" in names
    home = database.execute_sql(
        "SELECT tableoid::regclass::text FROM event_outbox WHERE id = %s", (stray.id,)
    )
    assert home.fetchone()[0] == f"event_outbox_{month:%Y_%m}"
    again = run_cli(app, "jobs", "run", "core:partitions", "--at", _at(later))
    assert again.exit_code == 0 and OutboxEvent.get_by_id(stray.id).type == "test.aged"


@postgres_only
def test_retention_drops_an_outbox_month_only_when_every_event_in_it_is_dispatched(app):
    now = utcnow()
    old = partitions.month_start(now.date(), -30)  # 30 months ago: past OUTBOX_RETENTION_DAYS (730)
    held = partitions.month_start(now.date(), -28)
    assert run_cli(app, "jobs", "run", "core:partitions", "--at", _at(old)).exit_code == 0
    assert run_cli(app, "jobs", "run", "core:partitions", "--at", _at(held)).exit_code == 0
    gone = [_event(dt.datetime.combine(old, dt.time(h))) for h in (1, 2, 3)]
    kept_done = _event(dt.datetime.combine(held, dt.time(1)))
    kept_pending = _event(dt.datetime.combine(held, dt.time(2)), status=PENDING)
    progress = ConsumerProgress.create(
        event=gone[0].id, consumer="x", status="failed", updated_at=now - dt.timedelta(days=800)
    )

    dry = run_cli(app, "retention", "run", "--dry-run", "--policy", "outbox")
    # months -30 .. -25 exist now (the job made each one and three ahead): all but the held one go
    assert dry.exit_code == 0 and "5 partition(s) due" in dry.output, dry.output
    result = run_cli(app, "retention", "run")
    assert result.exit_code == 0, result.output
    names = [m.name for m in partitions.months_of(database, "event_outbox")]
    for offset in (-30, -29, -27, -26, -25):  # dropped whole
        assert f"event_outbox_{partitions.month_start(now.date(), offset):%Y_%m}" not in names
    assert f"event_outbox_{held:%Y_%m}" in names  # a pending event keeps its month
    remaining = {e.id for e in OutboxEvent.select(OutboxEvent.id)}
    assert not remaining & {e.id for e in gone}
    assert kept_done.id not in remaining and kept_pending.id in remaining  # row by row
    # no foreign key cascades to a consumer's progress any more: its own policy takes it
    assert not ConsumerProgress.select().where(ConsumerProgress.id == progress.id).exists()


@postgres_only
def test_the_audit_purge_drops_whole_months_and_the_chain_still_verifies(client, admin_headers, app):
    for i in range(3):
        assert (
            client.post("/api/v1/customers", json={"name": f"A{i}"}, headers=admin_headers).status_code == 201
        )
    assert run_cli(app, "audit", "seal").exit_code == 0
    this_month = f"audit_entry_{utcnow():%Y_%m}"
    entries = _rows(this_month)
    assert entries >= 3
    later = utcnow() + dt.timedelta(days=1095 + 62)  # this month is wholly past the 3 years
    result = run_cli(app, "retention", "run", "--policy", "audit", "--at", _at(later))
    assert result.exit_code == 0, result.output
    assert this_month not in [m.name for m in partitions.months_of(database, "audit_entry")]
    anchor = AuditEntry.select().where(AuditEntry.kind == "anchor").order_by(AuditEntry.id.desc()).first()
    assert anchor is not None and f'"count":{entries}' in anchor.after.replace(" ", "")
    verify = run_cli(app, "audit", "verify")
    assert verify.exit_code == 0, verify.output


@postgres_only
def test_webhook_attempt_months_go_whole_and_a_delivery_still_takes_its_attempts(client, admin_headers, app):
    r = client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/h", "events": ["customer.created"]},
        headers=admin_headers,
    )
    assert r.status_code == 201
    for i in range(2):
        client.post("/api/v1/customers", json={"name": f"W{i}"}, headers=admin_headers)
    deliver_events()
    first, second = list(WebhookDelivery.select().order_by(WebhookDelivery.id))
    old = partitions.month_start(utcnow().date(), -3)
    assert run_cli(app, "jobs", "run", "core:partitions", "--at", _at(old)).exit_code == 0
    started = dt.datetime.combine(old, dt.time(9))
    for delivery in (first, second):
        WebhookAttempt.create(delivery=delivery.id, number=1, started_at=started, status_code=500)
    WebhookDelivery.update(status=SUCCEEDED, created_at=started).where(
        WebhookDelivery.id == first.id
    ).execute()
    # the second delivery is still pending: its old attempt keeps the month
    assert run_cli(app, "retention", "run", "--policy", "webhook_attempts").exit_code == 0
    assert f"webhook_attempt_{old:%Y_%m}" in [
        m.name for m in partitions.months_of(database, "webhook_attempt")
    ]
    assert WebhookAttempt.select().where(WebhookAttempt.delivery == second.id).count() == 1
    assert not WebhookAttempt.select().where(WebhookAttempt.delivery == first.id).exists()
    WebhookDelivery.update(status=SUCCEEDED, created_at=started).where(
        WebhookDelivery.id == second.id
    ).execute()
    assert run_cli(app, "retention", "run").exit_code == 0
    assert f"webhook_attempt_{old:%Y_%m}" not in [
        m.name for m in partitions.months_of(database, "webhook_attempt")
    ]
    assert not WebhookDelivery.select().where(WebhookDelivery.id.in_([first.id, second.id])).exists()
    # the foreign key from attempts to deliveries still cascades
    client.post("/api/v1/customers", json={"name": "W3"}, headers=admin_headers)
    deliver_events()
    third = WebhookDelivery.select().order_by(WebhookDelivery.id.desc()).first()
    WebhookAttempt.create(delivery=third.id, number=1)
    WebhookDelivery.delete().where(WebhookDelivery.id == third.id).execute()
    assert not WebhookAttempt.select().where(WebhookAttempt.delivery == third.id).exists()


def test_crm_retention_partitions_lists_the_months_or_says_there_are_none(app):
    result = run_cli(app, "retention", "partitions", "--create")
    assert result.exit_code == 0, result.output
    if not is_postgres():
        assert "no partitioned tables" in result.output
        return
    for table, column in PARTITIONED.items():
        assert f"{table} ({column}):" in result.output
        assert f"  {table}_{utcnow():%Y_%m}" in result.output and f"  {table}_default" in result.output


# --- turning a table into a partitioned one ------------------------------------------------------


@postgres_only
def test_partition_by_month_keeps_rows_keys_indexes_triggers_and_foreign_keys(app):
    run = database.execute_sql
    run("CREATE TABLE part_parent (id serial PRIMARY KEY)")
    run("INSERT INTO part_parent DEFAULT VALUES")
    run(
        "CREATE TABLE part_log (id serial PRIMARY KEY, parent_id int REFERENCES part_parent(id) ON DELETE CASCADE, "
        "code varchar(20) NOT NULL, at timestamp NOT NULL DEFAULT now(), note text DEFAULT 'n' CHECK (note <> 'bad'))"
    )
    run("CREATE UNIQUE INDEX part_log_code ON part_log (code)")
    run("CREATE INDEX part_log_parent ON part_log (parent_id)")
    run("CREATE TABLE part_child (id serial PRIMARY KEY, log_id int REFERENCES part_log(id))")
    run(
        "CREATE FUNCTION part_log_upper() RETURNS trigger AS $$ BEGIN NEW.code = upper(NEW.code); RETURN NEW; END $$ "
        "LANGUAGE plpgsql"
    )
    run(
        "CREATE TRIGGER part_log_upper BEFORE INSERT ON part_log FOR EACH ROW EXECUTE FUNCTION part_log_upper()"
    )
    for code, at in (("a", "2024-01-05"), ("b", "2024-03-09"), ("c", "2024-03-10")):
        run("INSERT INTO part_log (parent_id, code, at) VALUES (1, %s, %s)", (code, at))

    with database.atomic():
        assert partitions.partition_by_month(database, "part_log", "at", today=dt.date(2024, 4, 2))
    assert not partitions.partition_by_month(database, "part_log", "at")  # done already: a no-op

    names = [m.name for m in partitions.months_of(database, "part_log")]
    assert names == [
        "part_log_2024_01",
        "part_log_2024_03",
        "part_log_2024_04",
        "part_log_2024_05",
        "part_log_2024_06",
        "part_log_2024_07",
    ]  # months with rows, this one and 3 ahead
    assert run("SELECT code FROM part_log ORDER BY id").fetchall() == [("A",), ("B",), ("C",)]
    row = run("INSERT INTO part_log (parent_id, code) VALUES (1, 'd') RETURNING id, code, note").fetchone()
    assert row == (4, "D", "n")  # the sequence, the trigger and the defaults came along
    defs = dict(
        run(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = 'part_log'::regclass"
        ).fetchall()
    )
    assert "(code, at)" in defs["part_log_code"] and "(parent_id)" in defs["part_log_parent"]
    with pytest.raises(Exception, match="part_log"), database.atomic():
        run("INSERT INTO part_log (parent_id, code, at) VALUES (1, 'a', '2024-01-05')")  # unique still
    with pytest.raises(Exception, match="check"), database.atomic():
        run("INSERT INTO part_log (parent_id, code, note) VALUES (1, 'e', 'bad')")
    run("DELETE FROM part_parent WHERE id = 1")  # the outgoing foreign key still cascades
    assert run("SELECT count(*) FROM part_log").fetchone()[0] == 0
    incoming = run(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'part_child'::regclass AND contype = 'f'"
    )
    assert incoming.fetchone()[0] == 0  # a key to a partitioned table is impossible: dropped


def test_partition_by_month_is_a_no_op_on_sqlite(app):
    if is_postgres():
        pytest.skip("the PostgreSQL behaviour is tested above")
    assert partitions.partition_by_month(database, "event_outbox", "occurred_at") is False
    assert partitions.monthly_tables(database) == [] and partitions.maintain(database) == {}

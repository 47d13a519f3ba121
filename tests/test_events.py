"""The outbox and dispatcher: committed events delivered once, rolled-back ones never, crashes
lose nothing, failing consumers retried alone, loops stopped."""

from __future__ import annotations

import decimal
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_core import hookimpl
from crm_core.changes import Change
from crm_core.db import database
from crm_core.events import MAX_DEPTH, dispatch_pending, emit, to_json
from crm_core.events.models import ConsumerProgress, OutboxEvent


class Recorder:
    """A plugin that records every event it receives."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    @hookimpl
    def crm_event(self, event):
        with self.lock:
            self.events.append(event)

    def types(self):
        return [e.type for e in self.events]


@pytest.fixture
def recorder(register_plugin):
    rec = Recorder()
    application = register_plugin(rec, "recorder")
    with application.app_context():
        yield rec


def test_committed_event_delivered_once(recorder):
    with database.atomic():
        emitted = emit(
            "order.paid",
            {"order_id": 7, "customer_id": 3, "amount": decimal.Decimal("19.90"), "currency": "CNY"},
        )
    assert recorder.events == []  # nothing is delivered before the dispatcher runs
    assert dispatch_pending() >= 1
    paid = [e for e in recorder.events if e.type == "order.paid"]
    assert len(paid) == 1
    assert paid[0].id == emitted.id and paid[0].id.startswith("evt_")
    assert paid[0].data == {"order_id": 7, "customer_id": 3, "amount": "19.90", "currency": "CNY"}
    assert paid[0].customer_id == 3
    assert dispatch_pending() == 0
    assert len([e for e in recorder.events if e.type == "order.paid"]) == 1
    row = OutboxEvent.get(OutboxEvent.uid == emitted.id)
    assert row.status == "done" and row.dispatched_at is not None


def test_rolled_back_change_emits_nothing(recorder):
    with pytest.raises(RuntimeError), database.atomic():
        emit("order.paid", {"order_id": 1})
        raise RuntimeError("the change failed")
    with database.atomic():
        with database.atomic() as savepoint:  # rolled back inside a committed transaction
            emit("order.refunded", {"order_id": 2})
            savepoint.rollback()
        emit("order.paid", {"order_id": 3})
    dispatch_pending()
    assert [(e.type, e.data["order_id"]) for e in recorder.events] == [("order.paid", 3)]


def test_record_written_emits_noun_events(recorder):
    from flask import current_app

    hook = current_app.extensions["crm"].plugins.hook
    with database.atomic():
        hook.crm_record_written(
            change=Change("create", "customers", 5, after={"id": 5, "name": "Ann", "email": "a@x.cn"})
        )
        hook.crm_record_written(
            change=Change(
                "update", "companies", 9, before={"id": 9, "name": "Old"}, after={"id": 9, "name": "New"}
            )
        )
        hook.crm_record_written(change=Change("update", "companies", 9, before={"id": 9}, after={"id": 9}))
        hook.crm_record_written(change=Change("delete", "activities", 4, before={"id": 4, "customer_id": 5}))
    dispatch_pending()
    assert recorder.types() == ["customer.created", "company.updated", "activity.deleted"]
    created, updated, deleted = recorder.events
    assert created.data == {
        "resource": "customers",
        "id": 5,
        "object": {"id": 5, "name": "Ann", "email": "a@x.cn"},
    }
    assert created.customer_id == 5 and created.resource == "customers"
    assert updated.data["changed"] == ["name"] and updated.data["previous"] == {"name": "Old"}
    assert deleted.data["object"] == {"id": 4, "customer_id": 5}


class Flaky:
    """Fails the first ``failures`` deliveries, then succeeds."""

    def __init__(self, failures):
        self.failures = failures
        self.calls = 0

    @hookimpl
    def crm_event(self, event):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("downstream unavailable")


def test_failing_consumer_retried_without_redelivering_to_others(register_plugin):
    from crm_core.app import create_app

    good, flaky = Recorder(), Flaky(failures=2)
    application = register_plugin(good, "good")
    # the same database, with both consumers registered
    both = create_app(dict(application.config), plugins=[("good", good), ("flaky", flaky)])
    with both.app_context():
        with database.atomic():
            emitted = emit("ticket.escalated", {"ticket_id": 1})
        dispatch_pending()
        row = OutboxEvent.get(OutboxEvent.uid == emitted.id)
        assert row.status == "pending" and row.attempts == 1 and "flaky" in row.last_error
        progress = {
            p.consumer: p.status for p in ConsumerProgress.select().where(ConsumerProgress.event == row)
        }
        assert progress["good"] == "done" and progress["flaky"] == "failed"
        for _ in range(2):  # make the retry due now instead of after the backoff
            OutboxEvent.update(next_attempt_at=OutboxEvent.occurred_at).where(
                OutboxEvent.id == row.id
            ).execute()
            dispatch_pending()
        row = OutboxEvent.get_by_id(row.id)
        assert row.status == "done" and row.attempts == 2
        from crm_core.auth import create_user, issue_token

        raw, _ = issue_token(create_user("outbox_admin", "Test-Passw0rd!", roles=["admin"]))
        detail = both.test_client().get(
            f"/api/v1/events/{row.id}", headers={"Authorization": f"Bearer {raw}"}
        )
        assert detail.status_code == 200, detail.get_json()
        consumers = {c["consumer"]: c for c in detail.get_json()["consumers"]}
        assert consumers["good"]["status"] == "done" and consumers["flaky"]["status"] == "done"
        assert consumers["flaky"]["attempts"] == 3 and consumers["flaky"]["last_error"] is None
        assert flaky.calls == 3
        assert [e.id for e in good.events] == [emitted.id]  # delivered to "good" exactly once


def test_retry_backoff_is_exponential_with_jitter():
    import random

    from crm_core.events.retry import backoff_delay

    rng = random.Random(1)
    for attempt, nominal in [(1, 5), (2, 10), (3, 20), (4, 40), (12, 3600)]:
        delays = [backoff_delay(attempt, base=5, cap=3600, jitter=0.2, rng=rng) for _ in range(50)]
        assert all(nominal * 0.8 <= d <= nominal * 1.2 for d in delays)
        assert len(set(delays)) > 1  # jittered


class Echo:
    """A buggy plugin: reacting to its own event re-emits it, forever."""

    @hookimpl
    def crm_event(self, event):
        if event.type == "echo.ping":
            emit("echo.ping", {"n": event.data["n"] + 1})


def test_event_loop_is_stopped_by_depth(register_plugin):
    application = register_plugin(Echo(), "echo")
    with application.app_context():
        with database.atomic():
            emit("echo.ping", {"n": 0})
        dispatch_pending()
        rows = list(OutboxEvent.select().where(OutboxEvent.type == "echo.ping").order_by(OutboxEvent.id))
        assert len(rows) == MAX_DEPTH + 2
        assert [r.depth for r in rows] == list(range(MAX_DEPTH + 2))
        assert rows[-1].status == "dead" and "loop" in rows[-1].last_error
        assert all(r.status == "done" for r in rows[:-1])
        assert rows[1].causation_id == rows[0].id
        assert rows[-1].meta["correlation_id"] == rows[0].uid


def test_concurrent_dispatchers_deliver_each_event_once(recorder):
    with database.atomic():
        ids = [emit("load.test", {"n": n}).id for n in range(60)]
    from flask import current_app

    plugins = current_app.extensions["crm"].plugins
    errors = []

    def worker():
        try:
            with database.connection_context():
                dispatch_pending(batch_size=5, plugins=plugins)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(e.id for e in recorder.events) == sorted(ids)


CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from crm_core import hookimpl
    from crm_core.app import create_app
    from crm_core.db import database
    from crm_core.events import dispatch_pending, emit

    url, instance, mode, log = sys.argv[1:5]

    class Crasher:
        @hookimpl
        def crm_event(self, event):
            with open(log, "a") as fh:
                fh.write(event.type + "\\n")
            if event.data.get("n") == 2:
                os.kill(os.getpid(), signal.SIGKILL)  # die in the middle of the batch

    app = create_app({"DATABASE_URL": url, "INSTANCE_PATH": instance, "TESTING": True},
                     plugins=[("crasher", Crasher())])
    with app.app_context():
        if mode == "emit":
            with database.atomic():
                emit("crash.committed", {"n": 1})
            try:
                with database.atomic():
                    emit("crash.rolled_back", {"n": 99})
                    raise RuntimeError
            except RuntimeError:
                pass
            with database.atomic():
                emit("crash.committed", {"n": 2})
                emit("crash.committed", {"n": 3})
            database.begin()
            emit("crash.uncommitted", {"n": 4})
            os.kill(os.getpid(), signal.SIGKILL)  # killed after commit, before dispatch
        else:
            dispatch_pending()
    """
)


def _run_child(tmp_path, db_url, mode):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    log = tmp_path / "child.log"
    proc = subprocess.run(
        [sys.executable, str(script), db_url, str(tmp_path / "inst"), mode, str(log)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return log.read_text().split() if log.exists() else []


@pytest.mark.slow
def test_crash_between_commit_and_dispatch_loses_nothing(tmp_path, db_url, register_plugin):
    database.close() if not database.is_closed() else None
    _run_child(tmp_path, db_url, "emit")  # commits 3 events, dies before dispatching
    seen_by_crasher = _run_child(tmp_path, db_url, "dispatch")  # dies while dispatching event 2
    assert seen_by_crasher == ["crash.committed", "crash.committed"]
    rec = Recorder()
    application = register_plugin(rec, "recorder")
    with application.app_context():
        dispatch_pending()
        assert [(e.type, e.data["n"]) for e in rec.events] == [
            ("crash.committed", 1),
            ("crash.committed", 2),
            ("crash.committed", 3),
        ]
        assert dispatch_pending() == 0


def test_events_api_admin_only_and_retry(client, admin_headers, make_user):
    with database.atomic():
        emitted = emit("order.paid", {"order_id": 1, "customer_id": 2})
    _, user_headers = make_user("plain", roles=())
    assert client.get("/api/v1/events", headers=user_headers).status_code == 403
    assert client.get("/api/v1/events").status_code == 401
    r = client.get("/api/v1/events?type=order.paid", headers=admin_headers)
    assert r.status_code == 200
    assert [e["uid"] for e in r.get_json()] == [emitted.id]
    OutboxEvent.update(status="dead", attempts=10).execute()
    event_id = r.get_json()[0]["id"]
    r = client.post(f"/api/v1/events/{event_id}/retry", headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["status"] == "pending"
    assert client.post("/api/v1/events/999999/retry", headers=admin_headers).status_code == 404
    assert client.get("/api/v1/events?status=bogus", headers=admin_headers).status_code in (400, 422)


def test_emit_rejects_bad_type(app):
    from crm_core.errors import APIError

    for bad in ["Order.Paid", "order", "order.*", "", "order..paid"]:
        with pytest.raises(APIError):
            emit(bad, {})


@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.text()
        | st.decimals(allow_nan=False, allow_infinity=False),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
        max_leaves=10,
    )
)
def test_to_json_keeps_decimal_digits(value):
    import json

    converted = to_json(value)
    json.dumps(converted)  # always serialisable

    def check(orig, conv):
        if isinstance(orig, decimal.Decimal):
            assert decimal.Decimal(conv) == orig and conv == str(orig)
        elif isinstance(orig, dict):
            for k in orig:
                check(orig[k], conv[k])
        elif isinstance(orig, list):
            for a, b in zip(orig, conv, strict=True):
                check(a, b)

    check(value, converted)


def test_cli_events_dispatch_and_list(recorder):
    from flask import current_app

    from crm_core.cli import build_cli

    with database.atomic():
        emit("order.paid", {"order_id": 1})
        emit("order.refunded", {"order_id": 1})
    runner = current_app.test_cli_runner()
    result = runner.invoke(build_cli(), ["events", "list", "--status", "pending"])
    assert result.exit_code == 0 and "order.refunded" in result.output and "order.paid" in result.output
    result = runner.invoke(build_cli(), ["events", "dispatch"])
    assert result.exit_code == 0 and "dispatched 2 event(s)" in result.output
    assert recorder.types() == ["order.paid", "order.refunded"]
    result = runner.invoke(build_cli(), ["events", "list", "--status", "pending"])
    assert "order.paid" not in result.output


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=3), st.sampled_from(["commit", "rollback", "savepoint"])
        ),
        min_size=1,
        max_size=6,
    )
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_dispatcher_delivers_exactly_the_committed_events(recorder, transactions):
    """Any mix of committed transactions, rolled-back ones and rolled-back savepoints inside
    committed ones: the consumer receives exactly the committed events, once each."""
    OutboxEvent.delete().execute()
    recorder.events.clear()
    committed = []
    for size, fate in transactions:
        try:
            with database.atomic():
                names = [emit("prop.tested", {"n": len(committed) + i}).id for i in range(size)]
                if fate == "savepoint":
                    with database.atomic() as savepoint:
                        emit("prop.tested", {"n": -1})
                        savepoint.rollback()
                if fate == "rollback":
                    raise RuntimeError("abort")
                committed.extend(names)
        except RuntimeError:
            pass
    dispatch_pending()
    assert [e.id for e in recorder.events] == committed
    assert dispatch_pending() == 0

"""``changes.batched()``: writes made inside are reported as one batch (one multi-row insert of
audit entries and one of events), items that fail drop out alone, and a failing block or
observer leaves nothing behind."""

import pytest

from crm_core import hookimpl
from crm_core.audit import verify
from crm_core.audit.models import AuditEntry
from crm_core.auth import actor_for_user
from crm_core.changes import batched
from crm_core.db import write_transaction
from crm_core.entities.models import Customer
from crm_core.errors import APIError
from crm_core.events.models import OutboxEvent
from crm_core.records import service
from crm_core.testing import statements_of


class Observer:
    """A plugin that sees single writes only (no ``crm_records_written``), and can refuse one."""

    def __init__(self):
        self.seen = []
        self.refuse = None

    @hookimpl
    def crm_record_written(self, change):
        if change.after and change.after.get("name") == self.refuse:
            raise APIError(422, "refused by the observer")
        self.seen.append((change.action, change.record_id, (change.after or {}).get("name")))


@pytest.fixture
def observer():
    return Observer()


@pytest.fixture
def batch_app(register_plugin, observer, make_user):
    application = register_plugin(observer, name="batch_observer")
    with application.test_request_context("/"):
        admin, _headers = make_user("batch_admin")
        yield application, actor_for_user(admin)


def _customers(actor, names):
    return [service.create("customers", Customer, {"name": n}, actor) for n in names]


def _counts(ids):
    audit = AuditEntry.select().where(
        AuditEntry.resource == "customers", AuditEntry.record_id.in_([str(i) for i in ids])
    )
    events = OutboxEvent.select().where(
        OutboxEvent.resource == "customers", OutboxEvent.record_id.in_([str(i) for i in ids])
    )
    return audit.where(AuditEntry.action == "update").count(), events.where(
        OutboxEvent.type == "customer.updated"
    ).count()


def test_a_batch_is_reported_once_with_an_entry_and_an_event_per_write(batch_app, observer):
    app, actor = batch_app
    records = _customers(actor, ["a", "b", "c"])
    observer.seen.clear()

    def rename():
        with write_transaction(), batched():
            for record in records:
                service.update("customers", record, {"name": record.name + "2"}, actor)

    _result, sql = statements_of(app.extensions["crm"].db, rename)
    # the batch reserves its three chain positions at once (the entries and events themselves
    # go in through the driver's multi-row insert, which this spy does not see)
    assert [s for s in sql if "audit_head" in s and "seq + " in s] == [
        "UPDATE audit_head SET seq = seq + 3 WHERE id = 1 RETURNING seq, hash, mac, key_id"
    ]
    assert _counts([r.id for r in records]) == (3, 3)
    assert observer.seen == [("update", r.id, r.name) for r in records]
    assert verify().ok


def test_a_failing_item_drops_out_alone(batch_app, observer):
    _app, actor = batch_app
    records = _customers(actor, ["keep", "refuse", "keep too"])
    observer.seen.clear()
    refused = []
    with write_transaction(), batched() as batch:
        for record in records:
            try:
                with batch.item():
                    service.update("customers", record, {"name": record.name + "!"}, actor)
                    if record.name == "refuse!":
                        raise APIError(403, "not this one")
            except APIError:
                refused.append(record.id)
    assert refused == [records[1].id]
    assert [Customer.get_by_id(r.id).name for r in records] == ["keep!", "refuse", "keep too!"]
    assert _counts([r.id for r in records]) == (2, 2)
    assert [name for _a, _i, name in observer.seen] == ["keep!", "keep too!"]


@pytest.mark.parametrize("how", ["block raises", "observer raises"])
def test_a_failing_batch_leaves_nothing(batch_app, observer, how):
    _app, actor = batch_app
    records = _customers(actor, ["x", "y"])
    observer.refuse = "y2" if how == "observer raises" else None
    with pytest.raises(APIError), write_transaction(), batched():
        for record in records:
            service.update("customers", record, {"name": record.name + "2"}, actor)
        if how == "block raises":
            raise APIError(400, "stop")
    assert [Customer.get_by_id(r.id).name for r in records] == ["x", "y"]
    assert _counts([r.id for r in records]) == (0, 0)


def test_a_nested_block_joins_the_outer_batch(batch_app):
    _app, actor = batch_app
    (record,) = _customers(actor, ["n"])
    with write_transaction(), batched() as outer:
        with batched() as inner:
            service.update("customers", record, {"name": "n2"}, actor)
        assert inner is outer and len(outer.changes) == 1
        assert _counts([record.id]) == (0, 0)  # held back until the outer block ends
    assert _counts([record.id]) == (1, 1)

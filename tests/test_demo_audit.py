"""``crm demo-data --audit``: every demo customer and core record gets the ``create`` entry an
import gives its rows (batched per chunk, the chain still verifying), no outbox event is written
for them, and without the flag the demo stays unaudited (issue 23)."""

from __future__ import annotations

import json
import types
from importlib.metadata import entry_points

import pytest

from crm_core import hookimpl
from crm_core.audit.models import AuditEntry
from crm_core.entities import customers as customer_entities
from crm_core.entities.models import Activity, Company, Contact, Customer, Deal, Ticket
from crm_core.events.models import OutboxEvent
from crm_core.records.service import record_dict
from crm_core.testing import run_cli, statements_of

PASSWORD = "Demo-Passw0rd"
#: the plugins' own demo data is tested with each plugin; here the core's, whatever is installed
OTHERS = ",".join(sorted(ep.name for ep in entry_points(group="crm_core")))
RECORDS = {
    "customers": Customer,
    "companies": Company,
    "contacts": Contact,
    "deals": Deal,
    "tickets": Ticket,
    "activities": Activity,
}


@pytest.fixture
def app_config(app_config):
    return {**app_config, "PLUGINS_DISABLED": OTHERS}


def demo(app, *args):
    result = run_cli(app, "demo-data", "--locale", "en", "--password", PASSWORD, *args)
    assert result.exit_code == 0, result.output
    return result


def creates(resource: str) -> dict[int, AuditEntry]:
    """The ``create`` entries of ``resource`` by record id."""
    query = AuditEntry.select().where(AuditEntry.resource == resource, AuditEntry.action == "create")
    return {int(e.record_id): e for e in query}


def verified(app) -> str:
    result = run_cli(app, "audit", "verify")
    assert result.exit_code == 0, result.output
    assert "audit log intact" in result.output
    return result.output


def test_audit_gives_each_demo_record_its_create_entry_as_stored_and_no_event(app):
    result = demo(app, "--audit", "--customers", "120", "--chunk", "50")
    assert "demo data (en, audited)" in result.output
    for resource, model in RECORDS.items():
        ids = {r.id for r in model.select(model.id)}
        assert ids, resource
        assert set(creates(resource)) == ids, resource
    assert verified(app)

    entries = creates("customers")
    tagged = 0
    for customer in Customer.select():
        image = json.loads(entries[customer.id].after)
        # the image the write path gives a customer (its columns and its tags), as stored
        assert image == customer_entities.serialize(customer)
        tagged += bool(image["tags"])
        assert entries[customer.id].client_id == "cli" and entries[customer.id].actor_id is None
        assert (entries[customer.id].owner_id, entries[customer.id].department_id) == (
            customer.owner_id,
            customer.department_id,
        )
    assert tagged, "some demo customers carry a tag, and their entries say so"
    deal = Deal.select().order_by(Deal.id.desc()).first()
    assert json.loads(creates("deals")[deal.id].after) == record_dict(deal)
    ticket = Ticket.select().order_by(Ticket.id).first()
    assert json.loads(creates("tickets")[ticket.id].after) == record_dict(ticket)

    # seed data fires no webhooks or automations: no outbox event for any of it
    assert OutboxEvent.select().where(OutboxEvent.resource.in_(list(RECORDS))).count() == 0


def test_without_audit_the_demo_records_get_no_entries(app):
    demo(app, "--customers", "40")
    assert Customer.select().count() == 40 and Deal.select().count() > 0
    for resource in RECORDS:
        assert creates(resource) == {}, resource
    assert OutboxEvent.select().where(OutboxEvent.resource.in_(list(RECORDS))).count() == 0


def test_running_again_with_and_without_audit_keeps_the_log_whole(app):
    runs = []
    for args in (("--audit", "--customers", "30"), ("--customers", "20"), ("--audit", "--customers", "25")):
        before = {c.id for c in Customer.select(Customer.id)}
        demo(app, *args, "--chunk", "10")
        runs.append({c.id for c in Customer.select(Customer.id)} - before)
    assert [len(r) for r in runs] == [30, 20, 25]
    assert set(creates("customers")) == runs[0] | runs[2]
    # the master distributor of the first run is found again, not made (nor audited) twice
    assert Company.select().where(Company.parent.is_null()).count() == 1
    assert len(creates("companies")) < Company.select().count()
    assert verified(app)


def test_rows_the_insert_skips_get_no_entry_and_the_others_theirs(app):
    """A demo customer whose e-mail is already taken is skipped by the bulk insert: the entries
    still go to the rows that went in, each with its own image."""
    taken = Customer.create(name="Already here", email="demo3@example.com")  # id 1: the run starts at 2
    demo(app, "--audit", "--customers", "6")
    made = {c.id: c for c in Customer.select().where(Customer.id != taken.id)}
    assert len(made) == 5  # demo2..demo7 but demo3
    entries = creates("customers")
    assert set(entries) == set(made)
    for cid, customer in made.items():
        assert json.loads(entries[cid].after) == customer_entities.serialize(customer)
    assert verified(app)


def test_an_audited_run_reports_one_batch_per_chunk_and_stays_a_bulk_load(app, db):
    """Each chunk's entries take their places in the chain at once (one head bump per chunk, one
    for the core's records), and a chunk of 3,000 costs as many statements as one of 1,000."""
    from crm_core.demo.customers import seed

    seed(10, locale="en", password=PASSWORD)  # people exist: the measured runs reuse them
    run, sql = statements_of(db, lambda: seed(250, chunk=100, locale="en", password=PASSWORD, audit=True))
    bumps = [s.split("seq + ")[1].split()[0] for s in sql if "audit_head SET seq = seq + " in s]
    related = sum(run.counts[name] for name in ("companies", "contacts", "deals", "tickets", "activities"))
    assert bumps[-4:] == ["100", "100", "50", str(related)], bumps
    counts = []
    for customers in (1000, 3000):
        _run, sql = statements_of(
            db, lambda n=customers: seed(n, chunk=n, locale="en", password=PASSWORD, audit=True)
        )
        counts.append(len(sql))
    assert counts[0] == counts[1], counts


def test_plugins_are_told_whether_the_demo_is_audited(register_plugin):
    seen = []

    @hookimpl
    def crm_demo_data(context):
        seen.append(context.audit)

    app = register_plugin(types.SimpleNamespace(crm_demo_data=crm_demo_data), "demo_audit_probe")
    with app.app_context():
        demo(app, "--customers", "3")
        demo(app, "--customers", "3", "--audit")
    assert seen == [False, True]

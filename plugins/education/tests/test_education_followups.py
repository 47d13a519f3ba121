"""Follow-ups and the shared pool: a lead nobody followed up for EDUCATION_POOL_DAYS days loses
its owner by the job, through the core's write path (one audit entry each); a followed-up lead
stays (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from education_testlib import MONDAY, E, events, ok, utc

from crm_core.plugin_api import Customer, utcnow
from crm_core.testing import run_cli


def test_follow_up_with_next_contact_is_due_for_its_owner(client, make_user, school):
    consultant, headers = make_user("consultant_due")
    lead = school.student("Due lead", headers=headers)
    due = (utcnow() - dt.timedelta(hours=1)).isoformat() + "Z"
    later = (utcnow() + dt.timedelta(days=2)).isoformat() + "Z"
    first = school.post(
        "/followups",
        {"customer_id": lead, "content": "Called mum", "next_contact_at": due, "intention": "A"},
        headers=headers,
    )
    assert first["owner_id"] == consultant.id
    rows = ok(client.get(f"{E}/followups/due", headers=headers))
    assert [r["id"] for r in rows] == [first["id"]]
    # a newer note with a later next contact replaces the due one
    school.post(
        "/followups",
        {"customer_id": lead, "content": "Trial next week", "next_contact_at": later},
        headers=headers,
    )
    assert ok(client.get(f"{E}/followups/due", headers=headers)) == []


def test_stale_leads_return_to_the_pool_with_an_audit_entry(app, client, admin_headers, make_user, school):
    consultant, headers = make_user("consultant_pool")
    stale = school.student("Forgotten lead", headers=headers, lifecycle_stage="lead")
    kept = school.student("Followed lead", headers=headers, lifecycle_stage="lead")
    customer = school.student("Paying customer", headers=headers, lifecycle_stage="customer")
    month_ago = utcnow() - dt.timedelta(days=30)
    Customer.update(created_at=month_ago).where(Customer.id.in_([stale, kept, customer])).execute()
    school.post("/followups", {"customer_id": kept, "content": "Interested in art"}, headers=headers)

    result = run_cli(app, "jobs", "run", "education:return_to_pool")
    assert result.exit_code == 0, result.output
    owners = {c.id: c.owner_id for c in Customer.select().where(Customer.id.in_([stale, kept, customer]))}
    assert owners == {stale: None, kept: consultant.id, customer: consultant.id}
    audit = ok(
        client.get(f"/api/v1/audit?resource=customers&record_id={stale}&action=update", headers=admin_headers)
    )
    assert len(audit) == 1
    assert audit[0]["before"]["owner_id"] == consultant.id and audit[0]["after"]["owner_id"] is None
    assert audit[0]["actor_name"] == "job:education:return_to_pool"
    # nothing more to release the next time
    run_cli(app, "jobs", "run", "education:return_to_pool")
    audit = ok(
        client.get(f"/api/v1/audit?resource=customers&record_id={stale}&action=update", headers=admin_headers)
    )
    assert len(audit) == 1


def test_due_follow_ups_and_unconfirmed_sessions_are_announced_once(app, client, admin_headers, school):
    lead = school.student("Call back")
    due = (utcnow() - dt.timedelta(minutes=5)).isoformat() + "Z"
    note = school.post(
        "/followups", {"customer_id": lead, "content": "Call after school", "next_contact_at": due}
    )
    klass = school.klass(school.course(), None, None)
    session = school.session(klass, utc(MONDAY, 1), utc(MONDAY, 2))["id"]
    for _ in range(2):
        assert run_cli(app, "jobs", "run", "education:remind_followups").exit_code == 0
        assert (
            run_cli(app, "jobs", "run", "education:flag_unconfirmed", "--at", "2027-03-02T00:00:00").exit_code
            == 0
        )
    assert [e["followup_id"] for e in events(client, admin_headers, "followup.due")] == [note["id"]]
    assert [e["session_id"] for e in events(client, admin_headers, "session.unconfirmed")] == [session]

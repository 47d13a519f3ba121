"""Issuing a template to a segment, chunk by chunk: one code, one audit entry and one event per
customer, the audit chain's head bumped once per chunk, nobody twice, the stock never exceeded,
and only the customers the creator may read."""

from __future__ import annotations

import datetime as dt

import pytest
from crm_ecommerce import coupon_api
from crm_ecommerce.coupon_models import CouponTemplate
from ecommerce_testlib import C, issue, make_template

from crm_core.testing import follow_task, run_cli, statements_of

SOLD_OUT = "Every coupon of this template has been issued."


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of two customers, so a handful of customers makes several chunks."""
    monkeypatch.setattr(coupon_api, "CHUNK", 2)
    return 2


def vips(client, headers, count: int, **customer) -> list[int]:
    """``count`` customers with ``source_channel`` vip; their ids."""
    ids = []
    for i in range(count):
        body = {"name": f"VIP {i}", "source_channel": "vip", **customer}
        r = client.post("/api/v1/customers", json=body, headers=headers)
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    return ids


def vip_segment(client, headers, count: int = 0) -> tuple[int, list[int]]:
    """``count`` vips (and one customer who is not) and the segment of the vips, saved by the
    holder of ``headers``; ``(segment id, the new vips' ids)``."""
    ids = vips(client, headers, count)
    client.post("/api/v1/customers", json={"name": "Not VIP", "source_channel": "other"}, headers=headers)
    r = client.post(
        "/api/v1/segments", json={"name": "VIPs", "filters": {"source_channel": "vip"}}, headers=headers
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"], ids


def run_issue(client, headers, template, segment_id):
    """Queue the segment issue and run it; the finished task."""
    r = issue(client, headers, template, segment_id=segment_id)
    assert r.status_code == 202, r.get_json()
    outcome = follow_task(client, r, headers)
    assert outcome.status_code == 200, outcome.get_json()
    return outcome


def codes_of(client, headers, template) -> list[dict]:
    r = client.get(
        f"{C}/codes", query_string={"template_id": template["id"], "page_size": 200}, headers=headers
    )
    assert r.status_code == 200
    return r.get_json()


def issue_entries(client, headers) -> list[dict]:
    query = {"resource": "ecommerce.coupons", "action": "issue", "page_size": 200}
    r = client.get("/api/v1/audit", query_string=query, headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def issued_events(client, headers) -> list[dict]:
    query = {"type": "coupon.issued", "page_size": 200}
    r = client.get("/api/v1/events", query_string=query, headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def assert_audit_verifies(app) -> None:
    """``crm audit verify`` (a seal, then ``crm_core.audit.verify()``) finds the chain intact."""
    result = run_cli(app, "audit", "verify")
    assert result.exit_code == 0 and "audit log intact" in result.output, result.output


def test_each_customer_gets_a_code_an_entry_and_an_event_the_head_moves_once_a_chunk(
    app, client, admin_headers, small_chunks
):
    segment_id, customers = vip_segment(client, admin_headers, 5)
    template = make_template(client, admin_headers, valid_days=30)

    outcome, sql = statements_of(
        app.extensions["crm"].db, lambda: run_issue(client, admin_headers, template, segment_id)
    )

    assert outcome.get_json() == {"issued": 5, "skipped": 0, "customers": 5, "stopped": None}
    # one reservation of the chain for each chunk's entries (2 + 2 + 1), not one per code
    assert [s for s in sql if "audit_head" in s and "seq + " in s] == [
        f"UPDATE audit_head SET seq = seq + {n} WHERE id = 1 RETURNING seq, hash, mac, key_id"
        for n in (2, 2, 1)
    ]
    # the stock is taken once a chunk too
    assert len([s for s in sql if s.startswith('UPDATE "ecommerce_coupon_template"')]) == 3
    # progress: the start, then once after each chunk
    assert len([s for s in sql if s.startswith('UPDATE "task"') and '"done"' in s]) == 1 + 3
    assert outcome.task["progress"]["done"] == outcome.task["progress"]["total"] == 5

    codes = codes_of(client, admin_headers, template)
    assert sorted(c["customer_id"] for c in codes) == sorted(customers)
    assert len({c["code"] for c in codes}) == 5
    assert all(c["issued_by"] == f"segment:{segment_id}" and c["expires_at"] for c in codes)
    by_id = {c["id"]: c for c in codes}

    entries = issue_entries(client, admin_headers)
    assert sorted(int(e["record_id"]) for e in entries) == sorted(by_id)
    for entry in entries:  # what a single issue records: the code as written
        code = by_id[int(entry["record_id"])]
        assert entry["after"]["code"] == code["code"]
        assert entry["after"]["customer_id"] == code["customer_id"]
        assert entry["after"]["template_id"] == template["id"]

    events = issued_events(client, admin_headers)
    assert sorted(e["data"]["code_id"] for e in events) == sorted(by_id)
    for event in events:
        code = by_id[event["data"]["code_id"]]
        assert event["data"]["code"] == code["code"]
        assert event["data"]["customer_id"] == event["customer_id"] == code["customer_id"]
        assert event["data"]["template_id"] == template["id"]
        assert event["data"]["issued_by"] == f"segment:{segment_id}"
        assert event["resource"] == "ecommerce.coupons" and event["record_id"] == str(code["id"])

    assert_audit_verifies(app)
    r = client.get(f"{C}/templates/{template['id']}", headers=admin_headers)
    assert r.get_json()["issued"] == 5


def test_a_second_run_issues_nothing(app, client, admin_headers, small_chunks):
    segment_id, _customers = vip_segment(client, admin_headers, 3)
    template = make_template(client, admin_headers)
    first = run_issue(client, admin_headers, template, segment_id)
    assert first.get_json()["issued"] == 3
    before = [c["code"] for c in codes_of(client, admin_headers, template)]

    again = run_issue(client, admin_headers, template, segment_id)

    assert again.get_json() == {"issued": 0, "skipped": 3, "customers": 3, "stopped": None}
    assert again.task["progress"]["done"] == 3
    assert [c["code"] for c in codes_of(client, admin_headers, template)] == before
    assert len(issue_entries(client, admin_headers)) == 3
    assert len(issued_events(client, admin_headers)) == 3
    assert client.get(f"{C}/templates/{template['id']}", headers=admin_headers).get_json()["issued"] == 3
    assert_audit_verifies(app)


def test_a_new_member_of_the_segment_gets_a_code_on_the_next_run(client, admin_headers, small_chunks):
    segment_id, _customers = vip_segment(client, admin_headers, 2)
    template = make_template(client, admin_headers)
    run_issue(client, admin_headers, template, segment_id)
    late = client.post(
        "/api/v1/customers", json={"name": "Late", "source_channel": "vip"}, headers=admin_headers
    )

    again = run_issue(client, admin_headers, template, segment_id)

    assert again.get_json() == {"issued": 1, "skipped": 2, "customers": 3, "stopped": None}
    holders = [c["customer_id"] for c in codes_of(client, admin_headers, template)]
    assert sorted(holders) == sorted(set(holders)) and late.get_json()["id"] in holders


def test_a_template_with_less_stock_than_the_segment_issues_exactly_its_stock(
    app, client, admin_headers, small_chunks
):
    segment_id, customers = vip_segment(client, admin_headers, 5)
    template = make_template(client, admin_headers, total_quantity=3)

    outcome = run_issue(client, admin_headers, template, segment_id)

    # the second chunk issues one code and stops at its second customer
    assert outcome.get_json() == {"issued": 3, "skipped": 0, "customers": 5, "stopped": SOLD_OUT}
    assert outcome.task["progress"]["done"] == 3
    codes = codes_of(client, admin_headers, template)
    assert len(codes) == 3 and {c["customer_id"] for c in codes} <= set(customers)
    assert client.get(f"{C}/templates/{template['id']}", headers=admin_headers).get_json()["issued"] == 3
    assert len(issue_entries(client, admin_headers)) == len(issued_events(client, admin_headers)) == 3
    assert_audit_verifies(app)

    again = run_issue(client, admin_headers, template, segment_id)
    assert again.get_json() == {"issued": 0, "skipped": 3, "customers": 5, "stopped": SOLD_OUT}
    assert len(codes_of(client, admin_headers, template)) == 3


def test_stock_that_ends_with_a_chunk_stops_at_the_next(client, admin_headers, small_chunks):
    segment_id, _customers = vip_segment(client, admin_headers, 3)
    template = make_template(client, admin_headers, total_quantity=2)

    outcome = run_issue(client, admin_headers, template, segment_id)

    assert outcome.get_json() == {"issued": 2, "skipped": 0, "customers": 3, "stopped": SOLD_OUT}
    assert len(codes_of(client, admin_headers, template)) == 2


def test_an_inactive_template_stops_the_run_before_any_code(client, admin_headers, small_chunks):
    segment_id, _customers = vip_segment(client, admin_headers, 3)
    template = make_template(client, admin_headers)
    r = client.patch(f"{C}/templates/{template['id']}", json={"active": False}, headers=admin_headers)
    assert r.status_code == 200, r.get_json()

    outcome = run_issue(client, admin_headers, template, segment_id)

    assert outcome.get_json() == {
        "issued": 0,
        "skipped": 0,
        "customers": 3,
        "stopped": "This coupon can no longer be issued.",
    }
    assert codes_of(client, admin_headers, template) == []
    assert issue_entries(client, admin_headers) == []


def test_a_template_that_expires_during_the_run_stops_it_at_the_next_chunk(
    client, admin_headers, small_chunks, monkeypatch
):
    segment_id, _customers = vip_segment(client, admin_headers, 5)
    template = make_template(client, admin_headers)
    chunk = coupon_api.issue_once_each

    def then_expire(*args):
        outcome = chunk(*args)
        # its valid_until passes between the first chunk and the second
        CouponTemplate.update(valid_until=dt.datetime(2000, 1, 1)).where(
            CouponTemplate.id == template["id"]
        ).execute()
        return outcome

    monkeypatch.setattr(coupon_api, "issue_once_each", then_expire)

    outcome = run_issue(client, admin_headers, template, segment_id)

    assert outcome.get_json() == {
        "issued": 2,
        "skipped": 0,
        "customers": 5,
        "stopped": "This coupon can no longer be issued.",
    }
    assert outcome.task["progress"]["done"] == 2
    assert len(codes_of(client, admin_headers, template)) == 2
    assert len(issue_entries(client, admin_headers)) == len(issued_events(client, admin_headers)) == 2


def test_a_customer_the_creator_may_not_read_gets_nothing(client, admin_headers, make_user, small_chunks):
    north = client.post("/api/v1/departments", json={"name": "North"}, headers=admin_headers).get_json()["id"]
    south = client.post("/api/v1/departments", json={"name": "South"}, headers=admin_headers).get_json()["id"]
    _manager, headers = make_user("north_manager", roles=("manager",), department_id=north)
    theirs = vips(client, admin_headers, 3, department_id=north)
    others = vips(client, admin_headers, 2, department_id=south)
    segment_id, _none = vip_segment(client, headers)
    template = make_template(client, headers)

    outcome = run_issue(client, headers, template, segment_id)

    assert outcome.get_json() == {"issued": 3, "skipped": 0, "customers": 3, "stopped": None}
    holders = {c["customer_id"] for c in codes_of(client, admin_headers, template)}
    assert holders == set(theirs) and not holders & set(others)

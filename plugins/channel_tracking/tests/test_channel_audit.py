"""Conversions name only customers the caller can read, and spend and conversions are written
through the core's write path: audited with actor, resource and record id (issue 13), on SQLite
and PostgreSQL."""

from __future__ import annotations

from channel_testlib import api

ROLE = {
    "name": "channel_analyst",
    "grants": [
        {"resource": "channel_tracking.conversions", "action": action, "scope": "all"}
        for action in ("read", "create")
    ],
}


def audit(client, headers, **params):
    r = client.get("/api/v1/audit", query_string=params, headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_a_conversion_cannot_name_a_customer_one_cannot_read(client, admin_headers, make_user):
    north = client.post("/api/v1/departments", json={"name": "North"}, headers=admin_headers).get_json()
    south = client.post("/api/v1/departments", json={"name": "South"}, headers=admin_headers).get_json()
    assert client.post("/api/v1/roles", json=ROLE, headers=admin_headers).status_code == 201
    _, ana = make_user("ana", roles=("sales", "channel_analyst"), department_id=north["id"])
    _, bo = make_user("bo", roles=("sales", "channel_analyst"), department_id=south["id"])
    customer = client.post("/api/v1/customers", json={"name": "Southern"}, headers=bo).get_json()["id"]
    assert client.get(f"/api/v1/customers/{customer}", headers=ana).status_code == 404

    body = {"order_id": "S-1", "customer_id": customer, "visitor_id": "v-south", "revenue": "80.00"}
    r = api(client, ana, "POST", "/conversions", json=body)
    assert r.status_code == 422, r.get_json()
    out_of_scope = r.get_json()["errors"]["customer_id"]
    r = api(client, ana, "POST", "/conversions", json={**body, "customer_id": 987654})
    assert r.status_code == 422, r.get_json()
    assert out_of_scope == [r.get_json()["errors"]["customer_id"][0].replace("987654", str(customer))]

    from crm_channel_tracking.models import Conversion, Identity

    assert Conversion.select().count() == 0
    assert Identity.select().count() == 0  # the visitor was not stitched to someone else's customer

    r = api(client, bo, "POST", "/conversions", json=body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["customer_id"] == customer
    # a conversion by visitor alone names no customer and needs no customer grant
    r = api(
        client, ana, "POST", "/conversions", json={"order_id": "N-1", "visitor_id": "v-n", "revenue": "5"}
    )
    assert r.status_code == 201, r.get_json()


def test_conversions_are_audited(client, make_user):
    admin, headers = make_user("conversion_admin")
    r = api(
        client, headers, "POST", "/conversions", json={"order_id": "A-1", "customer_id": 1, "revenue": "300"}
    )
    assert r.status_code == 201, r.get_json()
    conversion = r.get_json()["id"]
    again = api(
        client, headers, "POST", "/conversions", json={"order_id": "A-1", "customer_id": 1, "revenue": "9"}
    )
    assert again.status_code == 200  # a repeat records nothing and logs nothing

    (entry,) = audit(client, headers, resource="channel_tracking.conversions")
    assert (entry["action"], entry["record_id"], entry["actor_id"]) == ("create", str(conversion), admin.id)
    assert entry["after"]["order_ref"] == "A-1" and entry["after"]["revenue"] == "300.00"
    assert entry["after"]["customer_id"] == 1


def test_spend_imports_are_audited(client, make_user):
    admin, headers = make_user("spend_admin")
    campaign = {"name": "Spring", "utm_campaign": "spring"}
    r = api(client, headers, "POST", "/campaigns", json=campaign)
    assert r.status_code == 201, r.get_json()
    campaign_id = r.get_json()["id"]
    days = [{"day": "2026-03-01", "amount": "100.00"}, {"day": "2026-03-02", "amount": "50.00"}]
    assert (
        api(client, headers, "PUT", f"/campaigns/{campaign_id}/spend", json={"days": days}).status_code == 200
    )
    fix = [{"day": "2026-03-02", "amount": "75.00"}, {"day": "2026-03-01", "amount": "100.00"}]
    assert (
        api(client, headers, "PUT", f"/campaigns/{campaign_id}/spend", json={"days": fix}).status_code == 200
    )
    # the same values again change nothing and add no entry
    assert (
        api(client, headers, "PUT", f"/campaigns/{campaign_id}/spend", json={"days": fix}).status_code == 200
    )

    entries = [
        e
        for e in audit(client, headers, resource="channel_tracking.campaigns", action="update")
        if "spend" in (e["after"] or {})
    ]
    assert len(entries) == 2, entries
    correction, first = entries  # newest first
    for entry in entries:
        assert entry["record_id"] == str(campaign_id) and entry["actor_id"] == admin.id
    assert first["before"]["spend"] == {}  # no spend on those days before
    assert first["after"]["spend"] == {"2026-03-01": "100.00", "2026-03-02": "50.00"}
    assert correction["before"]["spend"] == {"2026-03-02": "50.00"}
    assert correction["after"]["spend"] == {"2026-03-02": "75.00"}

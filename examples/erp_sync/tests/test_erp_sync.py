"""The ERP sync recipe end to end, over HTTP (SQLite and PostgreSQL): an integration user with its
own role and personal API token; the first run creates the schema (a custom field and an object
type, through the metadata API) and imports every customer and order page by page; a rerun asks
the ERP only for changes and imports nothing; a change and a new order in the ERP come over on
the next run as one update and one creation; a busy ERP is retried; a repeated create with the
same Idempotency-Key makes no duplicate; a record edited in the CRM meanwhile is read again
before it is changed (If-Match)."""

from __future__ import annotations

import json

import erp_sync
import pytest
from fake_erp import TOKEN, FakeERP

from crm_core.testing import user_with_token

API = "/api/v1"


@pytest.fixture
def integration_token(client, admin_headers):
    """A personal API token of a user whose role holds only what the sync needs."""
    grants = [
        {"resource": resource, "action": "*", "scope": "all"}
        for resource in ("customers", "fields", "object_types", "objects.erp_order")
    ]
    r = client.post(f"{API}/roles", json={"name": "erp_integration", "grants": grants}, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    _user, headers = user_with_token("erp_sync_bot", ("erp_integration",))
    r = client.post(f"{API}/auth/tokens", json={"name": "ERP sync"}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["token"]


def seed(erp: FakeERP) -> None:
    for i in range(5):
        erp.put("customers", f"C{i}", name=f"Customer {i}", email=f"c{i}@example.com")
    for i in range(4):
        erp.put(
            "orders",
            f"O{i}",
            number=f"SO-{1000 + i}",
            amount="199.00",
            currency="CNY",
            status="open",
            ordered_at=f"2026-11-0{i + 1}T10:00:00Z",
            customer_id=f"C{i % 3}",
        )


def crm_rows(client, headers, path):
    r = client.get(f"{API}/{path}?page_size=200&sort=id", headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_the_sync_imports_everything_once_then_only_changes(
    client, admin_headers, crm_url, integration_token, tmp_path
):
    state = tmp_path / "state.json"
    with FakeERP() as erp:
        seed(erp)
        crm = erp_sync.CRM(erp_sync.Http(crm_url, integration_token, backoff=0))
        source = erp_sync.Http(erp.url, TOKEN, backoff=0)
        erp.fail_next = 1  # the ERP is busy once: retried
        stats = erp_sync.sync(crm, source, erp_sync.State(state), limit=2)
        assert stats == {
            "customers": {"created": 5, "updated": 0, "unchanged": 0},
            "orders": {"created": 4, "updated": 0, "unchanged": 0},
        }
        customers = crm_rows(client, admin_headers, "customers")
        by_erp = {c["custom"]["erp_id"]: c for c in customers}
        assert sorted(by_erp) == [f"C{i}" for i in range(5)] and by_erp["C1"]["email"] == "c1@example.com"
        orders = crm_rows(client, admin_headers, "objects/erp_order")
        assert [o["name"] for o in orders] == [f"SO-{1000 + i}" for i in range(4)]
        assert [o["custom"]["customer"] for o in orders] == [by_erp[f"C{i % 3}"]["id"] for i in range(4)]
        assert json.loads(state.read_text()) == {"customers": {"since": 5}, "orders": {"since": 9}}
        pages = [r for r in erp.requests if r["path"] == "/api/customers"]
        assert len(pages) == 4 and "cursor" in pages[-1]  # 1 busy + 3 pages of 2, 2, 1

        # a rerun asks only for what changed since the stored cursors, and changes nothing
        erp.requests.clear()
        stats = erp_sync.sync(crm, source, erp_sync.State(state), limit=2)
        assert stats["customers"]["created"] == stats["orders"]["created"] == 0
        assert [(r["path"], r["since"]) for r in erp.requests] == [
            ("/api/customers", "5"),
            ("/api/orders", "9"),
        ]

        # one customer renamed and one order added in the ERP: one update, one creation
        erp.put("customers", "C2", name="Customer Two")
        erp.put(
            "orders",
            "O9",
            number="SO-2000",
            amount="5.50",
            status="paid",
            ordered_at="2026-12-01T08:00:00Z",
            customer_id="C2",
        )
        stats = erp_sync.sync(crm, source, erp_sync.State(state), limit=2)
        assert stats == {
            "customers": {"created": 0, "updated": 1, "unchanged": 0},
            "orders": {"created": 1, "updated": 0, "unchanged": 0},
        }
        customers = crm_rows(client, admin_headers, "customers")
        assert len(customers) == 5 and {c["name"] for c in customers} >= {"Customer Two"}
        orders = crm_rows(client, admin_headers, "objects/erp_order")
        assert len(orders) == 5 and orders[-1]["custom"]["customer"] == by_erp["C2"]["id"]


def test_a_retried_create_and_a_concurrent_edit(client, admin_headers, crm_url, integration_token):
    crm = erp_sync.CRM(erp_sync.Http(crm_url, integration_token, backoff=0))
    crm.ensure_schema()
    crm.ensure_schema()  # a second run finds the schema and leaves it
    body = erp_sync.customer_body({"id": "C7", "name": "Seven"})
    http = crm.http
    # the answer to the first POST was lost: the retry with the same key gets the same record
    first = http.call(
        "POST", f"{API}/customers", ok=(201,), json=body, headers={"Idempotency-Key": "erp-sync:x:C7:1"}
    )
    again = http.call(
        "POST", f"{API}/customers", ok=(201,), json=body, headers={"Idempotency-Key": "erp-sync:x:C7:1"}
    )
    assert first.json()["id"] == again.json()["id"]
    assert len(crm_rows(client, admin_headers, "customers")) == 1
    # another key for the same ERP id: the unique erp_id answers 409, which becomes an update
    assert crm.upsert("customers", "C7", 2, {**body, "name": "Seven B"}) == ("updated", first.json()["id"])
    # someone edits the record in the CRM between the sync's read and its write: If-Match stops
    # the stale write (412), the sync reads again and applies its change on the new version
    record_id = first.json()["id"]
    real_call = http.call

    def edit_in_between(method, path, ok=(200,), **kwargs):
        if method == "PATCH" and not edit_in_between.done:
            edit_in_between.done = True
            r = client.patch(
                f"{API}/customers/{record_id}", json={"email": "desk@example.com"}, headers=admin_headers
            )
            assert r.status_code == 200
        return real_call(method, path, ok=ok, **kwargs)

    edit_in_between.done = False
    http.call = edit_in_between
    assert crm.patch("customers", record_id, {"name": "Seven C"}) == "updated"
    final = client.get(f"{API}/customers/{record_id}", headers=admin_headers).get_json()
    assert (final["name"], final["email"]) == ("Seven C", "desk@example.com")
    assert crm.patch("customers", record_id, {"name": "Seven C"}) == "unchanged"

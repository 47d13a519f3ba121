"""Platform customers map to CRM customers by platform id, e-mail and E.164 phone, never twice,
not even when orders of a new customer are applied at once; two matches make a suggestion."""

from __future__ import annotations

import threading

import pytest
from ecommerce_testlib import E, generic_order, make_shop

from crm_core.plugin_api import database


def _apply(client, headers, shop, external_id, customer, **extra):
    body = generic_order(external_id=external_id, customer=customer, **extra)
    body.pop("updated_at")
    r = client.post(f"{E}/orders/apply", json={"shop_id": shop["id"], **body}, headers=headers)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def _customers(client, headers):
    return client.get("/api/v1/customers", query_string={"page_size": 100}, headers=headers).get_json()


@pytest.mark.parametrize(
    ("existing", "buyer"),
    [
        ({"name": "Wang", "email": "wang@example.com"}, {"email": " WANG@Example.com "}),
        ({"name": "Wang", "phone": "+8613900139000"}, {"phone": "139 0013 9000"}),
        (
            {"name": "Wang", "phone": "+8613900139000"},
            {"phone": "+86 139-0013-9000", "email": "new@example.com"},
        ),
    ],
)
def test_an_existing_customer_is_found_not_duplicated(client, admin_headers, existing, buyer):
    known = client.post("/api/v1/customers", json=existing, headers=admin_headers).get_json()["id"]
    shop = make_shop(client, admin_headers)
    order = _apply(client, admin_headers, shop, "1", buyer)
    assert order["customer_id"] == known
    assert len(_customers(client, admin_headers)) == 1


def test_the_platform_id_keeps_matching_when_contact_details_change(client, admin_headers):
    shop = make_shop(client, admin_headers)
    first = _apply(client, admin_headers, shop, "1", {"external_id": "c9", "email": "old@example.com"})
    second = _apply(client, admin_headers, shop, "2", {"external_id": "c9", "email": "renamed@example.com"})
    assert first["customer_id"] == second["customer_id"]
    assert len(_customers(client, admin_headers)) == 1


def test_email_and_phone_of_two_customers_make_a_merge_suggestion(client, admin_headers):
    a = client.post(
        "/api/v1/customers", json={"name": "A", "email": "a@example.com"}, headers=admin_headers
    ).get_json()["id"]
    b = client.post(
        "/api/v1/customers", json={"name": "B", "phone": "+8613700137000"}, headers=admin_headers
    ).get_json()["id"]
    shop = make_shop(client, admin_headers)
    order = _apply(client, admin_headers, shop, "1", {"email": "a@example.com", "phone": "13700137000"})
    assert order["customer_id"] == a  # the e-mail wins; nothing is merged by itself
    [suggestion] = client.get(f"{E}/merge-suggestions", headers=admin_headers).get_json()
    assert (suggestion["customer_a"], suggestion["customer_b"]) == tuple(sorted((a, b)))
    r = client.post(f"{E}/merge-suggestions/{suggestion['id']}/dismiss", headers=admin_headers)
    assert r.status_code == 200 and r.get_json()["status"] == "dismissed"
    assert client.get(f"{E}/merge-suggestions", headers=admin_headers).get_json() == []


def test_a_guest_without_contact_has_no_customer_and_no_order_events(client, admin_headers):
    shop = make_shop(client, admin_headers)
    order = _apply(client, admin_headers, shop, "1", {})
    assert order["customer_id"] is None
    assert _customers(client, admin_headers) == []
    events = client.get("/api/v1/events", query_string={"page_size": 100}, headers=admin_headers).get_json()
    assert not [e for e in events if e["type"].startswith("order.")]


@pytest.mark.parametrize("buyer", [{"external_id": "new-1"}, {"email": "race@example.com"}])
def test_concurrent_first_orders_of_one_customer_make_one_customer(app, client, admin_headers, buyer):
    shop = make_shop(client, admin_headers)
    if not database.is_closed():
        database.close()  # the threads open their own connections
    statuses, lock = [], threading.Lock()
    start = threading.Barrier(8)

    def place(i):
        own = app.test_client()
        body = generic_order(external_id=f"race-{i}", customer=buyer)
        body.pop("updated_at")
        start.wait()
        r = own.post(f"{E}/orders/apply", json={"shop_id": shop["id"], **body}, headers=admin_headers)
        with lock:
            statuses.append((r.status_code, (r.get_json() or {}).get("customer_id")))

    threads = [threading.Thread(target=place, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert [s for s, _c in statuses] == [200] * 8, statuses
    assert len({c for _s, c in statuses}) == 1
    assert len(_customers(client, admin_headers)) == 1

"""Shops keep their secrets sealed and unreturned; orders applied through the API keep a status
history, emit their events once, and are seen by the shop's department only."""

from __future__ import annotations

from ecommerce_testlib import SECRET, E, generic_order, make_shop, orders

from crm_core.plugin_api import database


def test_shop_secrets_are_never_returned_and_are_sealed(client, admin_headers):
    shop = make_shop(client, admin_headers, credentials={"token": "shpat_live_token"})
    assert shop["has_webhook_secret"] is True and shop["rotating"] is False
    assert shop["webhook_url"].endswith(f"/api/v1/ecommerce/webhooks/{shop['key']}")
    for answer in (shop, client.get(f"{E}/shops/{shop['id']}", headers=admin_headers).get_json()):
        text = str(answer)
        assert SECRET not in text and "shpat_live_token" not in text and "secrets_token" not in text
    stored = database.execute_sql("SELECT secrets_token FROM ecommerce_shop").fetchone()[0]
    assert SECRET not in stored and "shpat" not in stored  # an envelope token, not the values
    audit = client.get("/api/v1/audit", headers=admin_headers)
    assert SECRET not in audit.get_data(as_text=True) and stored not in audit.get_data(as_text=True)


def test_rotation_keeps_the_previous_secret_until_it_ends(client, admin_headers):
    shop = make_shop(client, admin_headers)
    r = client.patch(
        f"{E}/shops/{shop['id']}", json={"webhook_secret": "new-secret-0123456789"}, headers=admin_headers
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["rotating"] is True
    r = client.post(f"{E}/shops/{shop['id']}/end_rotation", headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["rotating"] is False and r.get_json()["has_webhook_secret"] is True


def test_bad_shop_input_gets_field_errors(client, admin_headers):
    r = client.post(
        f"{E}/shops",
        json={"name": "", "platform": "shopify", "webhook_secret": "short"},
        headers=admin_headers,
    )
    assert r.status_code == 422
    assert {"name", "webhook_secret"} <= set(r.get_json()["errors"])
    r = client.post(f"{E}/shops", json={"name": "eBay", "platform": "ebay"}, headers=admin_headers)
    assert r.status_code == 422 and "shopify" in r.get_json()["errors"]["platform"][0]


def _apply(client, headers, shop, **order):
    body = {"shop_id": shop["id"], **order}
    return client.post(f"{E}/orders/apply", json=body, headers=headers)


def test_order_applied_with_lines_history_and_customer(client, admin_headers):
    shop = make_shop(client, admin_headers)
    payload = generic_order()
    payload.pop("updated_at")
    r = _apply(client, admin_headers, shop, source_updated_at="2026-11-01T10:00:00Z", **payload)
    assert r.status_code == 200, r.get_json()
    order = r.get_json()
    assert order["outcome"] == "created" and order["status"] == "paid"
    assert order["total"] == "210.00" and order["currency"] == "CNY"
    assert [(i["sku"], i["quantity"], i["unit_price"]) for i in order["items"]] == [
        ("TEA-1", 2, "50.00"),
        ("CUP-1", 1, "100.00"),
    ]
    assert [(h["from_status"], h["to_status"]) for h in order["history"]] == [(None, "paid")]
    customer = client.get(f"/api/v1/customers/{order['customer_id']}", headers=admin_headers).get_json()
    assert customer["email"] == "li.na@example.com" and customer["phone"] == "+8613800138000"

    shipped = {**payload, "status": "shipped"}
    r = _apply(client, admin_headers, shop, source_updated_at="2026-11-02T10:00:00Z", **shipped)
    assert r.get_json()["outcome"] == "updated"
    assert [h["to_status"] for h in r.get_json()["history"]] == ["paid", "shipped"]
    # an older state arriving late changes nothing
    r = _apply(client, admin_headers, shop, source_updated_at="2026-11-01T12:00:00Z", **payload)
    assert r.get_json()["outcome"] == "stale" and r.get_json()["status"] == "shipped"

    events = client.get("/api/v1/events", query_string={"page_size": 100}, headers=admin_headers).get_json()
    types = [e["type"] for e in events if e["type"].startswith("order.")]
    assert sorted(types) == ["order.created", "order.paid", "order.shipped"]


def test_bad_order_input_gets_field_errors(client, admin_headers):
    shop = make_shop(client, admin_headers)
    r = _apply(
        client, admin_headers, shop, external_id="", total="-1", status="lost", lines=[{"quantity": -1}]
    )
    assert r.status_code == 422
    errors = r.get_json()["errors"]
    assert {"external_id", "total", "status", "lines"} <= set(errors)


def test_a_shops_department_sees_its_orders_only(client, admin_headers, make_user):
    north = client.post("/api/v1/departments", json={"name": "North"}, headers=admin_headers).get_json()["id"]
    south = client.post("/api/v1/departments", json={"name": "South"}, headers=admin_headers).get_json()["id"]
    north_shop = make_shop(client, admin_headers, name="North shop", department_id=north)
    south_shop = make_shop(client, admin_headers, name="South shop", department_id=south)
    for shop, ext in ((north_shop, "n-1"), (south_shop, "s-1")):
        payload = generic_order(external_id=ext, customer={"external_id": ext, "email": f"{ext}@example.com"})
        payload.pop("updated_at")
        assert _apply(client, admin_headers, shop, **payload).status_code == 200
    _user, clerk = make_user("north_clerk", roles=("service",), department_id=north)
    seen = orders(client, clerk)
    assert [o["external_id"] for o in seen] == ["n-1"]
    south_order = orders(client, admin_headers, external_id="s-1")[0]["id"]
    assert client.get(f"{E}/orders/{south_order}", headers=clerk).status_code == 404

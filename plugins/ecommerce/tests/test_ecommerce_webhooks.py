"""Inbound order webhooks: each platform's signature over the raw body, two secrets during a
rotation, the request only queues (the job applies), duplicates and out-of-order deliveries."""

from __future__ import annotations

import json

import pytest
from ecommerce_testlib import (
    OTHER_SECRET,
    SECRET,
    E,
    generic_order,
    make_shop,
    orders,
    post_webhook,
    run_inbox,
)

from crm_core.testing import deliver_events

SHOPIFY_ORDER = {
    "id": 450789469,
    "name": "#1001",
    "email": "bob@example.com",
    "currency": "USD",
    "financial_status": "paid",
    "fulfillment_status": None,
    "subtotal_price": "398.00",
    "total_price": "409.94",
    "total_discounts": "0.00",
    "created_at": "2026-11-01T10:00:00-05:00",
    "updated_at": "2026-11-01T10:05:00-05:00",
    "processed_at": "2026-11-01T10:01:00-05:00",
    "customer": {"id": 207119551, "first_name": "Bob", "last_name": "Norman", "phone": "+16135551111"},
    "line_items": [
        {"id": 466157049, "sku": "IPOD2008GREEN", "title": "IPod Nano", "quantity": 2, "price": "199.00"}
    ],
}

WOO_ORDER = {
    "id": 727,
    "number": "727",
    "status": "processing",
    "currency": "EUR",
    "total": "29.35",
    "shipping_total": "10.00",
    "discount_total": "0.00",
    "date_created_gmt": "2026-11-02T08:00:00",
    "date_modified_gmt": "2026-11-02T08:00:05",
    "date_paid_gmt": "2026-11-02T08:00:04",
    "customer_id": 0,
    "billing": {"first_name": "Anna", "last_name": "Berg", "email": "anna@example.com", "phone": ""},
    "line_items": [
        {
            "id": 315,
            "sku": "WOO-1",
            "name": "Woo Single",
            "quantity": 2,
            "price": 9.675,
            "subtotal": "19.35",
            "total": "19.35",
        }
    ],
}


@pytest.mark.parametrize(
    ("platform", "payload", "headers", "expect"),
    [
        (
            "shopify",
            SHOPIFY_ORDER,
            {"X-Shopify-Topic": "orders/create", "X-Shopify-Event-Id": "ev-1"},
            ("#1001", "409.94", "USD", "paid"),
        ),
        (
            "woocommerce",
            WOO_ORDER,
            {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Resource": "order"},
            ("727", "29.35", "EUR", "paid"),
        ),
        ("generic", generic_order(), {"X-Event-Id": "e-1"}, ("#1001", "210.00", "CNY", "paid")),
    ],
)
def test_each_platform_signs_and_the_job_applies(
    app, client, admin_headers, platform, payload, headers, expect
):
    shop = make_shop(client, admin_headers, platform=platform)
    r = post_webhook(client, shop, payload, headers)
    assert r.status_code == 200 and r.get_json() == {"status": "queued"}
    assert orders(client, admin_headers) == []  # the request only queued the delivery
    run_inbox(app)
    [order] = orders(client, admin_headers)
    assert (order["number"], order["total"], order["currency"], order["status"]) == expect
    assert order["customer_id"] is not None


def test_signatures_are_checked_over_the_raw_body(client, admin_headers):
    shop = make_shop(client, admin_headers, platform="shopify")
    raw = json.dumps(SHOPIFY_ORDER).encode()
    from crm_ecommerce.signatures import signature

    good = signature("shopify", SECRET, raw)
    # the same JSON re-serialised (other spacing) no longer matches: verification never parses first
    reformatted = json.dumps(SHOPIFY_ORDER, indent=2).encode()
    cases = [
        (raw, {}),  # no signature
        (raw, {"X-Shopify-Hmac-Sha256": signature("shopify", "wrong-secret-000000", raw)}),
        (reformatted, {"X-Shopify-Hmac-Sha256": good}),
    ]
    for body, headers in cases:
        r = client.post(f"{E}/webhooks/{shop['key']}", data=body, headers=headers)
        assert r.status_code == 401, r.get_json()
    assert (
        client.post(
            f"{E}/webhooks/{shop['key']}", data=raw, headers={"X-Shopify-Hmac-Sha256": good}
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"{E}/webhooks/no-such-shop", data=raw, headers={"X-Shopify-Hmac-Sha256": good}
        ).status_code
        == 404
    )


def test_two_secrets_are_accepted_during_a_rotation(client, admin_headers):
    shop = make_shop(client, admin_headers)
    client.patch(f"{E}/shops/{shop['id']}", json={"webhook_secret": OTHER_SECRET}, headers=admin_headers)
    assert post_webhook(client, shop, generic_order("1"), secret=SECRET).status_code == 200
    assert post_webhook(client, shop, generic_order("2"), secret=OTHER_SECRET).status_code == 200
    client.post(f"{E}/shops/{shop['id']}/end_rotation", headers=admin_headers)
    assert post_webhook(client, shop, generic_order("3"), secret=SECRET).status_code == 401
    assert post_webhook(client, shop, generic_order("4"), secret=OTHER_SECRET).status_code == 200


def test_duplicates_and_out_of_order_deliveries(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    paid = generic_order(updated_at="2026-11-01T10:00:00Z", status="paid")
    shipped = generic_order(updated_at="2026-11-02T10:00:00Z", status="shipped")
    delivered = generic_order(updated_at="2026-11-03T10:00:00Z", status="delivered")
    # the platform's retries and a duplicate subscription deliver the same event twice
    assert post_webhook(client, shop, delivered, {"X-Event-Id": "e3"}).get_json() == {"status": "queued"}
    assert post_webhook(client, shop, delivered, {"X-Event-Id": "e3"}).get_json() == {"status": "duplicate"}
    # older states arrive after the newest
    post_webhook(client, shop, shipped, {"X-Event-Id": "e2"})
    post_webhook(client, shop, paid, {"X-Event-Id": "e1"})
    run_inbox(app)
    [order] = orders(client, admin_headers)
    assert order["status"] == "delivered"
    deliveries = client.get(f"{E}/deliveries", headers=admin_headers).get_json()
    assert sorted(d["status"] for d in deliveries) == ["applied", "stale", "stale"]
    detail = client.get(f"{E}/orders/{order['id']}", headers=admin_headers).get_json()
    assert [h["to_status"] for h in detail["history"]] == ["delivered"]
    events = client.get("/api/v1/events", query_string={"page_size": 100}, headers=admin_headers).get_json()
    kinds = sorted(e["type"] for e in events if e["type"].startswith("order."))
    assert kinds == ["order.created", "order.delivered", "order.paid", "order.shipped"]  # each once
    deliver_events()


def test_an_unreadable_order_fails_with_its_reason(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, {"status": "paid"})
    assert post_webhook(client, shop, b"[1, 2]").status_code == 400
    run_inbox(app)
    [delivery] = client.get(f"{E}/deliveries", headers=admin_headers).get_json()
    assert delivery["status"] == "failed" and "external_id" in delivery["error"]
    assert orders(client, admin_headers) == []


def test_refunds_are_appended_once_and_set_the_status(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, generic_order(updated_at="2026-11-01T10:00:00Z"))
    refund = {"external_id": "r1", "amount": "60.00", "reason": "broken cup"}
    partial = generic_order(updated_at="2026-11-04T10:00:00Z", refunds=[refund])
    post_webhook(client, shop, partial)
    run_inbox(app)
    [order] = orders(client, admin_headers)
    assert (order["status"], order["refunded"]) == ("partially_refunded", "60.00")
    rest = {"external_id": "r2", "amount": "150.00"}
    post_webhook(client, shop, generic_order(updated_at="2026-11-05T10:00:00Z", refunds=[refund, rest]))
    run_inbox(app)
    [order] = orders(client, admin_headers)
    assert (order["status"], order["refunded"]) == ("refunded", "210.00")
    events = client.get(
        "/api/v1/events", query_string={"type": "order.refunded"}, headers=admin_headers
    ).get_json()
    refunds = sorted(e["data"]["amount"] for e in events if e["type"] == "order.refunded")
    assert refunds == ["150.00", "60.00"]

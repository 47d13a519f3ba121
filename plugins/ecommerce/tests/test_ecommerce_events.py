"""The order events: their payloads (docs/events.md), emitted with the write or not at all, and
what other plugins make of them through events alone; the customer 360 panel."""

from __future__ import annotations

import pytest
from ecommerce_testlib import E, generic_order, make_shop, post_webhook, run_inbox

from crm_core.browser_testing import web_login
from crm_core.testing import deliver_events


def _events(client, headers, prefix="order."):
    events = client.get("/api/v1/events", query_string={"page_size": 100}, headers=headers).get_json()
    return {e["type"]: e for e in events if e["type"].startswith(prefix)}


def _installed(client, headers, name):
    plugins = client.get("/api/v1/plugins", headers=headers).get_json()
    return any(p["name"] == name and p["status"] == "enabled" for p in plugins)


def test_order_paid_carries_what_consumers_read(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, generic_order(paid_at="2026-11-01T09:30:00Z", channel="wechat"))
    run_inbox(app)
    paid = _events(client, admin_headers)["order.paid"]
    data = paid["data"]
    assert paid["resource"] == "ecommerce.orders"
    assert isinstance(data["order_id"], int) and isinstance(data["customer_id"], int)
    assert (data["amount"], data["currency"], data["paid_at"]) == (
        "210.00",
        "CNY",
        "2026-11-01T09:30:00.000000Z",
    )
    assert data["channel"] == "wechat" and data["shop_id"] == shop["id"] and data["external_id"] == "1001"
    assert data["items"] == [
        {"sku": "TEA-1", "name": "Green tea", "quantity": 2, "unit_price": "50.00", "category": ""},
        {"sku": "CUP-1", "name": "Cup", "quantity": 1, "unit_price": "100.00", "category": "ware"},
    ]


def test_a_failed_write_emits_nothing(app, client, admin_headers, monkeypatch):
    from crm_ecommerce import orders

    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, generic_order())

    def broken(order, lines):
        raise RuntimeError("disk full")

    monkeypatch.setattr(orders, "_write_lines", broken)
    run_inbox(app)
    assert _events(client, admin_headers) == {}
    assert client.get(f"{E}/orders", headers=admin_headers).get_json() == []
    [delivery] = client.get(f"{E}/deliveries", headers=admin_headers).get_json()
    assert delivery["status"] == "pending" and delivery["attempts"] == 1 and "disk full" in delivery["error"]
    monkeypatch.undo()
    run_inbox(app)  # the retry applies it, and only now are the events there
    assert set(_events(client, admin_headers)) == {"order.created", "order.paid"}


def test_loyalty_earns_points_from_order_paid_through_events_alone(app, client, admin_headers):
    if not _installed(client, admin_headers, "loyalty"):
        pytest.skip("the loyalty plugin is not installed beside this one")
    assert (
        client.post(
            "/api/v1/loyalty/rules",
            json={"name": "1/yuan", "kind": "purchase", "rate": "1"},
            headers=admin_headers,
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/loyalty/tiers",
            json={"code": "base", "name": "Base", "rank": 1, "window": "lifetime"},
            headers=admin_headers,
        ).status_code
        == 201
    )
    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, generic_order())
    run_inbox(app)
    deliver_events()
    deliver_events()  # delivered twice: the consumer is idempotent
    customer = _events(client, admin_headers)["order.paid"]["data"]["customer_id"]
    member = client.get(f"/api/v1/loyalty/members/{customer}", headers=admin_headers).get_json()
    assert member["points"]["balance"] == 210
    post_webhook(
        client,
        shop,
        generic_order(updated_at="2026-11-09T10:00:00Z", refunds=[{"external_id": "r1", "amount": "110.00"}]),
    )
    run_inbox(app)
    deliver_events()
    member = client.get(f"/api/v1/loyalty/members/{customer}", headers=admin_headers).get_json()
    assert member["points"]["balance"] == 100


def test_channel_tracking_counts_order_paid_as_a_conversion(app, client, admin_headers):
    if not _installed(client, admin_headers, "channel_tracking"):
        pytest.skip("the channel tracking plugin is not installed beside this one")
    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, generic_order())
    run_inbox(app)
    deliver_events()
    order_id = _events(client, admin_headers)["order.paid"]["data"]["order_id"]
    conversions = client.get("/api/v1/channel-tracking/conversions", headers=admin_headers)
    if conversions.status_code == 404:
        pytest.skip("channel tracking lists no conversions over this path")
    assert str(order_id) in [str(c.get("order_id", c.get("order_ref"))) for c in conversions.get_json()]


def test_customer_page_shows_orders_and_lifetime_value(app, client, admin_headers, make_user):
    shop = make_shop(client, admin_headers, name="Tmall flagship")
    post_webhook(client, shop, generic_order("1"))
    post_webhook(client, shop, generic_order("2", refunds=[{"external_id": "r", "amount": "10.00"}]))
    post_webhook(client, shop, generic_order("3", status="cancelled"))
    run_inbox(app)
    customer = _events(client, admin_headers)["order.paid"]["data"]["customer_id"]
    make_user("boss")
    assert web_login(client, "boss").status_code == 302
    html = client.get(f"/records/customers/{customer}").get_data(as_text=True)
    assert 'data-ecommerce="ltv-CNY">CN¥410.00<' in html  # 210 + (210 - 10); the cancelled one is not value
    assert html.count('data-ecommerce="order"') == 3 and "Tmall flagship" in html
    zh = client.get(f"/records/customers/{customer}", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True
    )
    assert "累计消费" in zh and "已取消" in zh

"""Pull sync and reconciliation against a local fake platform server started by the test: every
page is read, an order already current is left alone, the watermark moves, and a third-party
adapter plugin adds a platform through ``crm_ecommerce_adapters``."""

from __future__ import annotations

import ast

import pytest
from ecommerce_fakeshop import FakePlatform
from ecommerce_testlib import E, generic_order, make_shop, orders, post_webhook, run_inbox

from crm_core import hookimpl
from crm_core.testing import run_cli


def _shopify(i, updated):
    return {
        "id": 9000 + i,
        "name": f"#{9000 + i}",
        "email": f"s{i}@example.com",
        "currency": "USD",
        "financial_status": "paid",
        "total_price": "30.00",
        "subtotal_price": "30.00",
        "created_at": "2026-11-01T00:00:00Z",
        "updated_at": updated,
        "line_items": [{"id": i, "sku": "S", "title": "Sock", "quantity": 3, "price": "10.00"}],
    }


def _woo(i, updated):
    return {
        "id": 700 + i,
        "status": "completed",
        "currency": "EUR",
        "total": "12.00",
        "date_created_gmt": "2026-11-01T00:00:00",
        "date_modified_gmt": updated,
        "billing": {"email": f"w{i}@example.com"},
        "line_items": [
            {
                "id": i,
                "sku": "W",
                "name": "Widget",
                "quantity": 1,
                "price": 12,
                "subtotal": "12.00",
                "total": "12.00",
            }
        ],
    }


def _reconcile(app, at="2026-11-06T00:00:00"):
    """Run the reconciliation job as of ``at`` (a shop never synced reads the week before)."""
    result = run_cli(app, "jobs", "run", "ecommerce:reconcile", "--at", at)
    assert result.exit_code == 0, result.output
    return {str(k): v for k, v in ast.literal_eval(result.output.split("-> ", 1)[1].strip()).items()}


@pytest.mark.parametrize(
    ("platform", "credentials", "make", "updated"),
    [
        ("shopify", {"token": "tok"}, _shopify, "2026-11-{:02d}T10:00:00Z"),
        ("woocommerce", {"key": "ck_key", "secret": "cs_secret"}, _woo, "2026-11-{:02d}T10:00:00"),
        (
            "generic",
            {"token": "tok"},
            lambda i, u: generic_order(str(i), updated_at=u, customer={"email": f"g{i}@example.com"}),
            "2026-11-{:02d}T10:00:00Z",
        ),
    ],
)
def test_reconciliation_reads_every_page_once(
    app, client, admin_headers, platform, credentials, make, updated
):
    with FakePlatform() as fake:
        fake.orders = [make(i, updated.format(i + 1)) for i in range(5)]
        shop = make_shop(client, admin_headers, platform=platform, api_url=fake.url, credentials=credentials)
        counts = _reconcile(app)[str(shop["id"])]
        assert counts["created"] == 5 and counts["stale"] == 0, counts
        assert len(orders(client, admin_headers)) == 5
        # a second run re-reads the overlap: nothing is applied twice
        counts = _reconcile(app)[str(shop["id"])]
        assert counts["created"] == counts["updated"] == 0, counts
        events = client.get(
            "/api/v1/events", query_string={"type": "order.created", "page_size": 100}, headers=admin_headers
        )
        assert len([e for e in events.get_json() if e["type"] == "order.created"]) == 5
        watermark = client.get(f"{E}/shops/{shop['id']}", headers=admin_headers).get_json()["synced_until"]
        assert watermark.startswith("2026-11-05T10:00:00")
        # the second run asked from the watermark minus the overlap, not from the beginning
        last_first_page = [
            q for path, q, _h in fake.requests if "page_info" not in q and q.get("page", "1") == "1"
        ][-1]
        since = (
            last_first_page.get("updated_at_min")
            or last_first_page.get("modified_after")
            or last_first_page["updated_since"]
        )
        assert since.startswith("2026-11-05T09:50:00"), since


def test_reconciliation_repairs_a_missed_webhook_and_respects_newer_state(app, client, admin_headers):
    with FakePlatform() as fake:
        shop = make_shop(client, admin_headers, api_url=fake.url, credentials={"token": "tok"})
        # the webhook brought the newest state; the platform listing still shows an older one
        post_webhook(client, shop, generic_order("1", updated_at="2026-11-03T10:00:00Z", status="delivered"))
        run_inbox(app)
        fake.orders = [
            generic_order("1", updated_at="2026-11-02T10:00:00Z", status="paid"),
            generic_order("2", updated_at="2026-11-02T11:00:00Z", customer={"email": "missed@example.com"}),
        ]
        counts = _reconcile(app)[str(shop["id"])]
        assert counts == {"created": 1, "updated": 0, "stale": 1, "unreadable": 0}
        statuses = {o["external_id"]: o["status"] for o in orders(client, admin_headers)}
        assert statuses == {"1": "delivered", "2": "paid"}


def test_a_failing_platform_leaves_the_watermark(app, client, admin_headers):
    with FakePlatform(token="other") as fake:
        fake.orders = [generic_order("1")]
        shop = make_shop(client, admin_headers, api_url=fake.url, credentials={"token": "wrong"})
        result = _reconcile(app)[str(shop["id"])]
        assert "401" in result["error"]
        assert client.get(f"{E}/shops/{shop['id']}", headers=admin_headers).get_json()["synced_until"] is None


class MarketplacePlugin:
    """A third-party adapter plugin: a platform named ``bazaar`` with its own payload shape."""

    requires = ("ecommerce",)

    def __init__(self, feed):
        self.feed = feed

    @hookimpl
    def crm_ecommerce_adapters(self):
        def fetch(shop, credentials, since, cursor):
            assert credentials == {"api_key": "bz"}
            return {"orders": [o for o in self.feed if o["modified"] >= since], "next": None}

        def read(payload):
            return {
                "external_id": payload["trade_id"],
                "number": payload["trade_id"],
                "status": "paid",
                "currency": "CNY",
                "subtotal": payload["fee"],
                "shipping": 0,
                "discount": 0,
                "total": payload["fee"],
                "placed_at": payload["created"],
                "updated_at": payload["modified"],
                "customer": {"phone": payload["mobile"]},
                "lines": [],
                "refunds": [],
            }

        return [{"platform": "bazaar", "fetch": fetch, "read": read}]


def test_a_plugin_adds_a_platform_through_the_adapter_hook(register_plugin):
    import datetime as dt
    from decimal import Decimal

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    feed = [
        {"trade_id": "T1", "fee": Decimal("88.00"), "created": now, "modified": now, "mobile": "13600136000"}
    ]
    app = register_plugin(MarketplacePlugin(feed), name="bazaar_adapter")
    from crm_core.testing import user_with_token

    with app.app_context():
        _user, headers = user_with_token("bazaar_admin")
    client = app.test_client()
    r = client.post(f"{E}/shops", json={"name": "Bazaar", "platform": "ebay"}, headers=headers)
    assert r.status_code == 422 and "bazaar" in r.get_json()["errors"]["platform"][0]
    r = client.post(
        f"{E}/shops",
        json={
            "name": "Bazaar",
            "platform": "bazaar",
            "api_url": "https://bazaar.invalid",
            "credentials": {"api_key": "bz"},
        },
        headers=headers,
    )
    assert r.status_code == 201, r.get_json()
    with app.app_context():
        result = run_cli(app, "jobs", "run", "ecommerce:reconcile")
    assert result.exit_code == 0 and "'created': 1" in result.output, result.output
    [order] = client.get(f"{E}/orders", headers=headers).get_json()
    assert (order["external_id"], order["total"]) == ("T1", "88.00")
    customer = client.get(f"/api/v1/customers/{order['customer_id']}", headers=headers).get_json()
    assert customer["phone"] == "+8613600136000"

"""Customer portraits: RFM from orders with configured bands, and tag rules that add AND remove
their core customer tags as orders, refunds, tiers and channels change (events, then the job);
segments filter on those tags; a tag set by hand stays."""

from __future__ import annotations

import datetime as dt

import pytest
from ecommerce_testlib import E, apply_order, make_shop

from crm_core.plugin_api import emit, write_transaction
from crm_core.testing import deliver_events, run_cli

P = f"{E}/portraits"
#: paid three days ago whenever the test runs (recency 5 with the default bands)
RECENT = (dt.datetime.now(dt.UTC) - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def app_config(app_config):
    return {**app_config, "ECOMMERCE_RFM_MONETARY": "100,300,1000,5000", "ECOMMERCE_RFM_WINDOW_DAYS": 0}


def rule(client, headers, tag, *conditions):
    body = {
        "name": tag,
        "tag": tag,
        "conditions": [dict(zip(("field", "op", "value"), c, strict=True)) for c in conditions],
    }
    r = client.post(f"{P}/rules", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def settle(app):
    """Deliver the events (they mark portraits) and run the portraits job."""
    deliver_events()
    result = run_cli(app, "jobs", "run", "ecommerce:portraits")
    assert result.exit_code == 0, result.output


def tags(client, headers, customer_id):
    return client.get(f"/api/v1/customers/{customer_id}", headers=headers).get_json()["tags"]


def test_rule_tags_follow_orders_refunds_tiers_and_channels(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    rule(client, admin_headers, "高客单价", ("avg_order_value", ">=", 500))
    rule(client, admin_headers, "复购", ("order_count", ">=", 2))
    rule(client, admin_headers, "抖音金卡", ("loyalty_tier", "=", "gold"), ("channel", "has", "douyin"))
    first = apply_order(client, admin_headers, shop, "p1", paid_at=RECENT)  # 210.00
    buyer = first["customer_id"]
    r = client.patch(f"/api/v1/customers/{buyer}", json={"tags": ["vip"]}, headers=admin_headers)
    assert r.status_code == 200, r.get_json()
    settle(app)
    assert tags(client, admin_headers, buyer) == ["vip"]
    profile = client.get(f"{P}/customers/{buyer}", headers=admin_headers).get_json()
    assert (profile["orders"], profile["spent"], profile["r"], profile["f"], profile["m"]) == (
        1,
        "210.00",
        5,
        1,
        2,
    )

    apply_order(client, admin_headers, shop, "p2", total="900.00", subtotal="890.00", paid_at=RECENT)
    settle(app)
    assert tags(client, admin_headers, buyer) == ["vip", "复购", "高客单价"]
    segment = client.post(
        "/api/v1/segments", json={"name": "repeat buyers", "filters": {"tag": "复购"}}, headers=admin_headers
    ).get_json()
    count = client.get(f"/api/v1/segments/{segment['id']}/count", headers=admin_headers).get_json()
    assert count["count"] == 1

    # the big order is refunded in full: it no longer counts, and the rules take their tags back
    refund = [{"external_id": "rf1", "amount": "900.00"}]
    apply_order(
        client, admin_headers, shop, "p2", total="900.00", refunds=refund, updated_at="2026-11-02T10:00:00Z"
    )
    settle(app)
    assert tags(client, admin_headers, buyer) == ["vip"]  # the hand-set tag stays

    # what other plugins announce (a tier, a touchpoint) reaches the rules through events
    with write_transaction():
        emit("tier.changed", {"customer_id": buyer, "from_tier": "silver", "to_tier": "gold"})
        emit("touchpoint.recorded", {"customer_id": buyer, "channel": "douyin", "visitor_id": "v1"})
    settle(app)
    assert tags(client, admin_headers, buyer) == ["vip", "抖音金卡"]
    # the rule is switched off: the daily rebuild removes its tag
    rules = client.get(f"{P}/rules", headers=admin_headers).get_json()
    gold = next(r for r in rules if r["tag"] == "抖音金卡")
    client.patch(f"{P}/rules/{gold['id']}", json={"active": False}, headers=admin_headers)
    assert "'tags_removed': 1" in run_cli(app, "jobs", "run", "ecommerce:portraits_all").output
    assert tags(client, admin_headers, buyer) == ["vip"]
    listed = client.get(f"{P}/customers", query_string={"r": 5}, headers=admin_headers).get_json()
    assert [p["customer_id"] for p in listed] == [buyer] and listed[0]["loyalty_tier"] == "gold"


def test_a_rule_with_a_bad_condition_is_refused_per_field(client, admin_headers):
    body = {
        "name": "x",
        "tag": "x",
        "conditions": [{"field": "order_count", "op": "has", "value": "many"}, {"field": "shoe_size"}],
    }
    r = client.post(f"{P}/rules", json=body, headers=admin_headers)
    assert r.status_code == 422
    errors = r.get_json()["errors"]["conditions"]
    assert "op" in errors["0"] and "field" in errors["1"], errors

"""Coupons: templates, issue, redeem (核销) with every rule, release on cancel once."""

from __future__ import annotations

import datetime as dt

import pytest
from ecommerce_testlib import (
    C,
    apply_order,
    generic_order,
    issue,
    make_shop,
    make_template,
    post_webhook,
    redeem,
    run_inbox,
)

from crm_core.testing import deliver_events, follow_task


@pytest.fixture
def shop(client, admin_headers):
    return make_shop(client, admin_headers)


def _iso(delta_days: float) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(days=delta_days)
    return moment.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ({"kind": "amount_off", "value": "20"}, "20.00"),
        ({"kind": "amount_off", "value": "500"}, "200.00"),  # never more than the order's lines
        ({"kind": "percent_off", "value": "15"}, "30.00"),
        ({"kind": "percent_off", "value": "15", "cap": "25"}, "25.00"),
        ({"kind": "threshold", "value": "30", "threshold": "199"}, "30.00"),
        ({"kind": "free_shipping"}, "10.00"),
        ({"kind": "percent_off", "value": "50", "skus": ["TEA-1"]}, "50.00"),
        ({"kind": "amount_off", "value": "80", "categories": ["ware"]}, "80.00"),
    ],
)
def test_what_each_kind_takes_off(client, admin_headers, shop, template, expected):
    order = apply_order(client, admin_headers, shop)  # lines 2 x 50 (TEA-1) + 1 x 100 (ware), shipping 10
    made = make_template(client, admin_headers, **{"name": "t", **template})
    [code] = issue(client, admin_headers, made).get_json()
    quote = client.post(
        f"{C}/quote", json={"code": code["code"], "order_id": order["id"]}, headers=admin_headers
    )
    assert quote.status_code == 200 and quote.get_json()["amount"] == expected
    r = redeem(client, admin_headers, code["code"].lower(), order["id"])  # codes are case-insensitive
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["amount"] == expected


def test_template_input_errors(client, admin_headers):
    r = client.post(
        f"{C}/templates", json={"name": "", "kind": "percent_off", "value": "120"}, headers=admin_headers
    )
    assert r.status_code == 422 and {"name", "value"} <= set(r.get_json()["errors"])
    body = {"name": "x", "kind": "threshold", "value": "10", "valid_from": _iso(2), "valid_until": _iso(1)}
    r = client.post(f"{C}/templates", json=body, headers=admin_headers)
    assert r.status_code == 422 and {"threshold", "valid_until"} <= set(r.get_json()["errors"])


def test_refusals_name_the_reason(client, admin_headers, shop):
    order = apply_order(client, admin_headers, shop)
    other_customer = client.post(
        "/api/v1/customers", json={"name": "Other"}, headers=admin_headers
    ).get_json()["id"]
    cases = [
        ({"kind": "threshold", "value": "30", "threshold": "999"}, {}, 422, "threshold"),
        ({"valid_from": _iso(3)}, {}, 422, "not valid yet"),
        ({"currency": "USD"}, {}, 422, "currency"),
        ({}, {"customer_id": other_customer}, 422, "customer's coupon"),
    ]
    for fields, issue_body, status, words in cases:
        [code] = issue(
            client, admin_headers, make_template(client, admin_headers, **fields), **issue_body
        ).get_json()
        r = redeem(client, admin_headers, code["code"], order["id"])
        assert r.status_code == status and words in str(r.get_json()).lower(), (fields, r.get_json())
    assert redeem(client, admin_headers, "NO-SUCH-CODE", order["id"]).status_code == 422


def test_an_expired_code_is_refused_at_redemption(client, admin_headers, shop):
    order = apply_order(client, admin_headers, shop)
    template = make_template(client, admin_headers, valid_until=_iso(5))
    [code] = issue(client, admin_headers, template).get_json()
    client.patch(f"{C}/templates/{template['id']}", json={"valid_until": _iso(-1)}, headers=admin_headers)
    r = redeem(client, admin_headers, code["code"], order["id"])
    assert r.status_code == 409 and "expired" in r.get_json()["message"]


def test_valid_days_set_each_codes_expiry(client, admin_headers):
    template = make_template(client, admin_headers, valid_days=7)
    [code] = issue(client, admin_headers, template).get_json()
    expires = dt.datetime.fromisoformat(code["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - dt.datetime.now(dt.UTC)) - dt.timedelta(days=7)) < dt.timedelta(minutes=1)


def test_total_quantity_and_chosen_codes(client, admin_headers):
    template = make_template(client, admin_headers, total_quantity=3)
    assert len(issue(client, admin_headers, template, count=2).get_json()) == 2
    r = issue(client, admin_headers, template, code="vip-2026")
    assert r.status_code == 201 and r.get_json()[0]["code"] == "VIP-2026"
    r = issue(client, admin_headers, template)
    assert r.status_code == 409 and "issued" in r.get_json()["message"]
    other = make_template(client, admin_headers)
    assert issue(client, admin_headers, other, code="VIP-2026").status_code == 409  # codes are unique


def test_single_use_and_idempotent_redemption(client, admin_headers, shop):
    first = apply_order(client, admin_headers, shop, "1")
    second = apply_order(client, admin_headers, shop, "2")
    [code] = issue(client, admin_headers, make_template(client, admin_headers)).get_json()
    r1 = redeem(client, admin_headers, code["code"], first["id"])
    again = redeem(client, admin_headers, code["code"], first["id"])
    assert (r1.status_code, again.status_code) == (201, 200) and again.get_json()["id"] == r1.get_json()["id"]
    r2 = redeem(client, admin_headers, code["code"], second["id"])
    assert r2.status_code == 409 and "already been used" in r2.get_json()["message"]


def test_stacking(client, admin_headers, shop):
    order = apply_order(client, admin_headers, shop)
    alone = issue(client, admin_headers, make_template(client, admin_headers)).get_json()[0]
    stack_a = issue(client, admin_headers, make_template(client, admin_headers, stackable=True)).get_json()[0]
    stack_b = issue(client, admin_headers, make_template(client, admin_headers, stackable=True)).get_json()[0]
    assert redeem(client, admin_headers, stack_a["code"], order["id"]).status_code == 201
    assert redeem(client, admin_headers, stack_b["code"], order["id"]).status_code == 201
    r = redeem(client, admin_headers, alone["code"], order["id"])
    assert r.status_code == 409 and "combined" in r.get_json()["message"]


def test_per_customer_limit(client, admin_headers, shop):
    template = make_template(client, admin_headers, per_customer_limit=2, uses_per_code=100)
    [code] = issue(client, admin_headers, template).get_json()
    statuses = [
        redeem(
            client, admin_headers, code["code"], apply_order(client, admin_headers, shop, str(i))["id"]
        ).status_code
        for i in range(3)
    ]
    assert statuses == [201, 201, 409]


def test_cancel_releases_once_and_the_code_is_usable_again(app, client, admin_headers, shop):
    post_webhook(client, shop, generic_order("1", updated_at="2026-11-01T10:00:00Z"))
    run_inbox(app)
    order = client.get("/api/v1/ecommerce/orders", headers=admin_headers).get_json()[0]
    [code] = issue(
        client, admin_headers, make_template(client, admin_headers, per_customer_limit=1)
    ).get_json()
    redemption = redeem(client, admin_headers, code["code"], order["id"]).get_json()
    for when in ("2026-11-02T10:00:00Z", "2026-11-03T10:00:00Z"):  # cancelled, then a refund update of it
        post_webhook(client, shop, generic_order("1", updated_at=when, status="cancelled"))
        run_inbox(app)
    released = client.get(
        f"{C}/redemptions", query_string={"order_id": order["id"]}, headers=admin_headers
    ).get_json()
    assert [(r["id"], r["status"]) for r in released] == [(redemption["id"], "released")]
    again = client.post(f"{C}/redemptions/{redemption['id']}/release", headers=admin_headers)
    assert again.status_code == 200 and again.get_json()["released_at"] == released[0]["released_at"]
    [stored] = client.get(f"{C}/codes", query_string={"code": code["code"]}, headers=admin_headers).get_json()
    assert stored["uses"] == 0
    events = client.get("/api/v1/events", query_string={"page_size": 100}, headers=admin_headers).get_json()
    assert [e["type"] for e in events].count("coupon.released") == 1
    fresh = apply_order(client, admin_headers, shop, "2")
    assert (
        redeem(client, admin_headers, code["code"], fresh["id"]).status_code == 201
    )  # the limit was given back


def test_platform_orders_redeem_the_crm_codes_they_carry(app, client, admin_headers, shop):
    [code] = issue(client, admin_headers, make_template(client, admin_headers)).get_json()
    post_webhook(client, shop, generic_order("1", coupon_codes=[code["code"], "PLATFORM-OWN"]))
    run_inbox(app)
    [redemption] = client.get(f"{C}/redemptions", headers=admin_headers).get_json()
    assert redemption["amount"] == "20.00" and redemption["status"] == "redeemed"


def test_an_automation_rule_issues_a_coupon_on_order_paid(app, client, admin_headers, shop):
    template = make_template(client, admin_headers)
    rule = {
        "name": "thank buyers",
        "trigger": "order.paid",
        "conditions": {},
        "actions": [{"type": "ecommerce.issue_coupon", "params": {"template_id": template["id"]}}],
    }
    r = client.post("/api/v1/automations", json=rule, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    bad = {**rule, "actions": [{"type": "ecommerce.issue_coupon", "params": {}}]}
    assert client.post("/api/v1/automations", json=bad, headers=admin_headers).status_code == 422
    order = apply_order(client, admin_headers, shop)
    deliver_events()
    [code] = client.get(
        f"{C}/codes", query_string={"template_id": template["id"]}, headers=admin_headers
    ).get_json()
    assert code["customer_id"] == order["customer_id"] and code["issued_by"].startswith("automation:")


def test_issue_to_a_segment_is_a_task_with_progress(client, admin_headers):
    for i in range(3):
        client.post(
            "/api/v1/customers", json={"name": f"VIP {i}", "source_channel": "vip"}, headers=admin_headers
        )
    client.post(
        "/api/v1/customers", json={"name": "Not VIP", "source_channel": "other"}, headers=admin_headers
    )
    segment = client.post(
        "/api/v1/segments", json={"name": "VIPs", "filters": {"source_channel": "vip"}}, headers=admin_headers
    )
    assert segment.status_code == 201, segment.get_json()
    template = make_template(client, admin_headers)
    r = issue(client, admin_headers, template, segment_id=segment.get_json()["id"])
    assert r.status_code == 202
    outcome = follow_task(client, r, admin_headers)
    assert outcome.status_code == 200 and outcome.get_json()["issued"] == 3
    assert outcome.task["progress"]["done"] == outcome.task["progress"]["total"] == 3
    codes = client.get(
        f"{C}/codes", query_string={"template_id": template["id"]}, headers=admin_headers
    ).get_json()
    assert len(codes) == 3 and all(c["issued_by"].startswith("segment:") for c in codes)

"""Recall flows: a cart left without an order starts a run; after the delay the run exits (an
order, no marketing consent, recalled recently) or issues the coupon and sends the message."""

from __future__ import annotations

import datetime as dt

from ecommerce_testlib import C, E, apply_order, make_shop, make_template

from crm_core.plugin_api import database, emit
from crm_core.testing import deliver_events, run_cli

R = f"{E}/recall"


def _customer(client, headers, name, consent="given"):
    customer = client.post(
        "/api/v1/customers", json={"name": name, "email": f"{name}@example.com"}, headers=headers
    ).get_json()["id"]
    if consent:
        body = {"purpose": "marketing", "status": consent, "source": "web_form"}
        r = client.post(f"/api/v1/customers/{customer}/consents", json=body, headers=headers)
        assert r.status_code == 201, r.get_json()
    return customer


def _cart(customer_id, event_type="cart.updated"):
    """What channel tracking or a shop emits when a known visitor fills a cart."""
    with database.atomic():
        emit(event_type, {"customer_id": customer_id, "cart_total": "120.00"})
    deliver_events()


def _run(app, minutes_from_now):
    at = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes_from_now)).replace(tzinfo=None)
    result = run_cli(app, "jobs", "run", "ecommerce:recall", "--at", at.isoformat(timespec="seconds"))
    assert result.exit_code == 0, result.output
    return result.output


def test_a_left_cart_gets_its_coupon_and_message_after_the_delay(app, client, admin_headers):
    template = make_template(client, admin_headers, name="Come back", value="15")
    flow = {
        "name": "Cart recall",
        "triggers": ["cart.updated", "checkout.started"],
        "delay_minutes": 60,
        "template_id": template["id"],
        "message": "Your cart is waiting: {code} takes 15 off.",
    }
    r = client.post(f"{R}/flows", json=flow, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    flow_id = r.get_json()["id"]
    shop = make_shop(client, admin_headers)
    keen, buyer, silent, twice = (
        _customer(client, admin_headers, n) for n in ("keen", "buyer", "silent", "twice")
    )
    client.post(
        f"/api/v1/customers/{silent}/consents",
        json={"purpose": "marketing", "status": "withdrawn"},
        headers=admin_headers,
    )
    for customer in (keen, buyer, silent, twice):
        _cart(customer)
    _cart(twice, "checkout.started")  # within the cooldown: no second run
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat() + "Z"  # after the cart event
    apply_order(
        client, admin_headers, shop, customer={"email": "buyer@example.com"}, placed_at=now
    )  # buyer ordered

    assert "sent" not in _run(app, 30)  # not due yet
    _run(app, 61)
    results = client.get(f"{R}/flows/{flow_id}/results", headers=admin_headers).get_json()
    assert results == {"waiting": 0, "sent": 2, "exited": {"ordered": 1, "no_consent": 1}}
    runs = client.get(f"{R}/flows/{flow_id}/runs", headers=admin_headers).get_json()
    assert len(runs) == 4
    events = client.get("/api/v1/events", query_string={"page_size": 100}, headers=admin_headers).get_json()
    sent = {e["data"]["customer_id"]: e["data"] for e in events if e["type"] == "recall.sent"}
    assert set(sent) == {keen, twice}
    codes = client.get(f"{C}/codes", query_string={"customer_id": keen}, headers=admin_headers).get_json()
    assert sent[keen]["message"] == f"Your cart is waiting: {codes[0]['code']} takes 15 off."
    deliver_events()
    _cart(keen)  # redelivered or repeated within the cooldown: nothing new
    assert len(client.get(f"{R}/flows/{flow_id}/runs", headers=admin_headers).get_json()) == 4


def test_flow_input_errors(client, admin_headers):
    r = client.post(
        f"{R}/flows",
        json={"name": "", "triggers": ["order.paid"], "delay_minutes": -1},
        headers=admin_headers,
    )
    assert r.status_code == 422 and {"name", "triggers", "delay_minutes"} <= set(r.get_json()["errors"])
    r = client.post(
        f"{R}/flows",
        json={"name": "x", "triggers": ["page.dwell"], "template_id": 999},
        headers=admin_headers,
    )
    assert r.status_code == 422 and "template_id" in r.get_json()["errors"]

"""Loyalty fed by ``order.paid`` / ``order.refunded`` events, and the events it emits."""

from __future__ import annotations

from loyalty_testlib import TIERS, L

from crm_core import hookimpl
from crm_core.plugin_api import database, emit
from crm_core.testing import deliver_events


class Collector:
    """A throwaway plugin that records every event it receives."""

    def __init__(self):
        self.events = []

    @hookimpl
    def crm_event(self, event):
        self.events.append(event)

    def of(self, event_type):
        return [e.data for e in self.events if e.type == event_type]


def order_event(app, event_type, **data):
    with app.app_context(), database.atomic():
        emit(event_type, {"currency": "CNY", "paid_at": "2026-11-25T12:00:00.000000Z", **data})
    with app.app_context():
        deliver_events()


def test_order_events_earn_and_reverse_and_loyalty_events_go_out(register_plugin, admin_headers):
    collector = Collector()
    app = register_plugin(collector, "collector")
    client = app.test_client()
    for tier in TIERS:
        assert client.post(f"{L}/tiers", json=tier, headers=admin_headers).status_code == 201
    client.post(f"{L}/rules", json={"name": "base", "kind": "purchase", "rate": "1"}, headers=admin_headers)

    order_event(app, "order.paid", order_id=9001, customer_id=77, amount="1200.00", channel="kol:anna")
    order_event(app, "order.paid", order_id=9001, customer_id=77, amount="1200.00")  # a duplicate delivery
    detail = client.get(f"{L}/members/77", headers=admin_headers).get_json()
    assert detail["tier"] == "gold" and detail["channel"] == "kol:anna"
    assert detail["points"]["balance"] == 1200

    earned = collector.of("points.earned")
    assert len(earned) == 1 and earned[0]["points"] == 1200 and earned[0]["balance"] == 1200
    assert earned[0]["customer_id"] == 77 and earned[0]["source_event_id"].startswith("evt_")
    changed = collector.of("tier.changed")
    assert [(c["from_tier"], c["to_tier"]) for c in changed] == [(None, "silver"), ("silver", "gold")]
    assert changed[-1]["benefits"] == {"discount_rate": "0.05", "free_shipping": True}

    order_event(app, "order.refunded", order_id=9001, customer_id=77, amount="300.00", refund_id="rf-1")
    order_event(app, "order.refunded", order_id=9001, customer_id=77, amount="300.00", refund_id="rf-1")
    assert client.get(f"{L}/members/77", headers=admin_headers).get_json()["points"]["balance"] == 900
    assert len(collector.of("points.reversed")) == 1

    r = client.post(f"{L}/members/77/redeem", json={"points": 100, "reference": "r-1"}, headers=admin_headers)
    assert r.status_code == 201
    with app.app_context():
        deliver_events()
    assert (
        collector.of("points.redeemed")[0] | {"points": 100, "balance": 800}
        == collector.of("points.redeemed")[0]
    )


def test_malformed_order_event_is_skipped_not_retried(register_plugin, admin_headers):
    app = register_plugin(Collector(), "collector")
    order_event(app, "order.paid", order_id=1, customer_id="not-a-number", amount="10")
    order_event(app, "order.paid", order_id=2, customer_id=5, amount="-10")
    r = app.test_client().get(f"{L}/members", headers=admin_headers)
    assert r.status_code == 200 and r.get_json() == []


def test_expiry_jobs_emit_expiring_and_expired(register_plugin, admin_headers):
    from crm_loyalty import jobs
    from loyalty_testlib import at

    collector = Collector()
    app = register_plugin(collector, "collector")
    client = app.test_client()
    client.patch(f"{L}/program", json={"reminder_days": 10}, headers=admin_headers)
    client.post(f"{L}/members", json={"customer_id": 5}, headers=admin_headers)
    body = {"points": 40, "reference": "a", "reason": "gift", "expires_at": at(20).isoformat()}
    assert client.post(f"{L}/members/5/adjust", json=body, headers=admin_headers).status_code == 201
    with app.app_context():
        assert jobs.expiring_reminders(at(5))["members"] == 0
        assert jobs.expiring_reminders(at(12)) == {"members": 1, "points": 40}
        assert jobs.expiring_reminders(at(13))["members"] == 0  # reminded once
        assert jobs.expire_points(at(21)) == {"members": 1, "points": 40}
        deliver_events()
    assert collector.of("points.expiring")[0]["points"] == 40
    assert (
        collector.of("points.expired")[0] | {"points": 40, "balance": 0} == collector.of("points.expired")[0]
    )


def test_member_enrolled_by_an_event_follows_the_customers_owner(register_plugin, make_user):
    app = register_plugin(Collector(), "collector")
    client = app.test_client()
    sam, headers = make_user("sam")
    customer = client.post("/api/v1/customers", json={"name": "Qian Qi"}, headers=headers).get_json()
    order_event(app, "order.paid", order_id=1, customer_id=customer["id"], amount="10.00")
    detail = client.get(f"{L}/members/{customer['id']}", headers=headers).get_json()
    assert detail["owner_id"] == sam.id == customer["owner_id"]
    assert detail["department_id"] == customer["department_id"]

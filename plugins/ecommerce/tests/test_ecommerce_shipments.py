"""Parcels: tracking callbacks (AfterShip's signature) applied by checkpoint time, and alerts for
parcels that stall or fail: a ticket for the service team and the apology, once."""

from __future__ import annotations

import json

from ecommerce_testlib import SECRET, E, generic_order, make_shop, post_webhook, run_inbox

from crm_core.testing import run_cli


def _track(client, shop, checkpoints, tag="InTransit", number="SF100", secret=SECRET):
    from crm_ecommerce.signatures import signature

    body = {
        "msg": {
            "tracking_number": number,
            "slug": "sf-express",
            "tag": tag,
            "order_id": "1001",
            "checkpoints": checkpoints,
        }
    }
    raw = json.dumps(body).encode()
    headers = {"aftership-hmac-sha256": signature("aftership", secret, raw)}
    return client.post(f"{E}/tracking/{shop['key']}", data=raw, headers=headers)


def _point(at, tag="InTransit", message="scan"):
    return {"checkpoint_time": at, "tag": tag, "message": message}


def _parcel(client, headers):
    [parcel] = client.get(f"{E}/shipments", headers=headers).get_json()
    return parcel


def _tickets(client, headers):
    return client.get("/api/v1/tickets", headers=headers).get_json()


def test_checkpoints_apply_by_their_time_not_their_arrival(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, generic_order())
    assert _track(client, shop, [_point("2026-11-02T08:00:00Z", "OutForDelivery")]).get_json() == {
        "status": "queued"
    }
    # an older callback arrives later (carriers retry): it is stored, the parcel does not go back
    _track(client, shop, [_point("2026-11-01T08:00:00Z", "InTransit")])
    run_inbox(app)
    parcel = _parcel(client, admin_headers)
    assert (parcel["status"], parcel["last_checkpoint_at"]) == ("OutForDelivery", "2026-11-02T08:00:00Z")
    bad = _track(client, shop, [], secret="not-the-shop-secret-00")
    assert bad.status_code == 401


def test_a_failed_delivery_attempt_alerts_at_once_and_only_once(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, generic_order())
    _track(client, shop, [_point("2026-11-02T08:00:00Z", "AttemptFail", "nobody home")])
    _track(
        client,
        shop,
        [_point("2026-11-02T08:00:00Z", "AttemptFail"), _point("2026-11-02T18:00:00Z", "AttemptFail")],
    )
    run_inbox(app)
    parcel = _parcel(client, admin_headers)
    [ticket] = _tickets(client, admin_headers)
    assert parcel["ticket_id"] == ticket["id"] and "AttemptFail" in parcel["alert_reason"]
    assert ticket["priority"] == "high" and ticket["sla_due_at"] and ticket["customer_id"] is not None
    events = client.get("/api/v1/events", query_string={"page_size": 100}, headers=admin_headers).get_json()
    [stuck] = [e for e in events if e["type"] == "shipment.stuck"]
    assert "SF100" in stuck["data"]["message"] and stuck["data"]["ticket_id"] == ticket["id"]


def test_a_parcel_without_progress_alerts_after_the_configured_hours(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    post_webhook(client, shop, generic_order())
    _track(client, shop, [_point("2026-11-01T08:00:00Z")])
    _track(client, shop, [_point("2026-11-01T09:00:00Z", "Delivered")], number="SF200")
    run_inbox(app)

    def run(at):
        result = run_cli(app, "jobs", "run", "ecommerce:stuck_shipments", "--at", at)
        assert result.exit_code == 0, result.output
        return result.output

    assert "'alerted': 0" in run("2026-11-03T07:00:00")  # 47 hours: not yet
    assert "'alerted': 1" in run("2026-11-03T09:00:00")  # 49 hours; the delivered parcel never alerts
    assert "'alerted': 0" in run("2026-11-05T09:00:00")  # once only
    [ticket] = _tickets(client, admin_headers)
    assert "48 hours" in ticket["title"] and "SF100" in ticket["title"]
    zh = client.get(f"/api/v1/tickets/{ticket['id']}", headers={**admin_headers, "Accept-Language": "zh-CN"})
    assert zh.status_code == 200


def test_a_callback_for_an_unknown_order_fails_with_its_reason(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    _track(client, shop, [_point("2026-11-01T08:00:00Z")])
    run_inbox(app)
    [delivery] = client.get(f"{E}/deliveries", headers=admin_headers).get_json()
    assert delivery["status"] == "failed" and "no order" in delivery["error"]

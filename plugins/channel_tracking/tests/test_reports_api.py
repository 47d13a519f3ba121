"""Reports and funnels over HTTP against hand-computed figures, and the events the plugin emits
and consumes (SQLite and PostgreSQL)."""

import datetime as dt
from decimal import Decimal

import pytest
from channel_testlib import api

TODAY = dt.datetime.now(dt.UTC).replace(tzinfo=None, hour=12, minute=0, second=0, microsecond=0)
CONV_AT = TODAY - dt.timedelta(days=5)
RANGE = f"date_from={(TODAY - dt.timedelta(days=10)).date()}&date_to={(TODAY + dt.timedelta(days=1)).date()}"


def at(days_before_conversion):
    return (CONV_AT - dt.timedelta(days=days_before_conversion)).isoformat() + "Z"


@pytest.fixture
def scenario(client, admin_headers, track):
    """Three buyers: (1) KOL 2 days before, direct 1 day before, buys 300; (2) Google 3 days
    before, buys 100; (3) only direct visits, buys 50. The KOL campaign spent 100."""
    channel = api(client, admin_headers, "POST", "/channels", json={"name": "KOL", "group": "kol"}).get_json()
    campaign = api(
        client,
        admin_headers,
        "POST",
        "/campaigns",
        json={
            "name": "Spring",
            "channel_id": channel["id"],
            "utm_campaign": "spring26",
            "kol": "anna",
            "utm_source": "douyin",
            "utm_medium": "kol",
        },
    ).get_json()
    api(
        client,
        admin_headers,
        "PUT",
        f"/campaigns/{campaign['id']}/spend",
        json={"days": [{"day": str(CONV_AT.date()), "amount": "100.00"}]},
    )
    r = track(
        [
            {
                "visitor_id": "a",
                "customer_id": 1,
                "event_type": "page_view",
                "utm_campaign": "spring26",
                "timestamp": at(2),
            },
            {"visitor_id": "a", "customer_id": 1, "event_type": "page_view", "timestamp": at(1)},
            {
                "visitor_id": "b",
                "customer_id": 2,
                "event_type": "page_view",
                "referrer": "https://www.google.com/",
                "timestamp": at(3),
            },
            {"visitor_id": "c", "customer_id": 3, "event_type": "page_view", "timestamp": at(2)},
            {"visitor_id": "c", "customer_id": 3, "event_type": "page_view", "timestamp": at(1)},
        ]
    )
    assert r.get_json() == {"accepted": 5, "rejected": []}
    for order, customer, revenue in (("o1", 1, "300"), ("o2", 2, "100"), ("o3", 3, "50")):
        r = api(
            client,
            admin_headers,
            "POST",
            "/conversions",
            json={
                "order_id": order,
                "customer_id": customer,
                "revenue": revenue,
                "occurred_at": CONV_AT.isoformat() + "Z",
            },
        )
        assert r.status_code == 201, r.get_json()
    return campaign


def report(client, headers, dimension, model):
    r = api(client, headers, "GET", f"/reports/{dimension}?{RANGE}&model={model}")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_channel_report_last_non_direct(client, admin_headers, scenario):
    body = report(client, admin_headers, "channel", "last_non_direct")
    assert (body["model"], body["lookback_days"], body["currency"]) == ("last_non_direct", 30, "CNY")
    rows = {r["key"]: r for r in body["rows"]}
    kol = rows["kol"]
    assert (kol["touchpoints"], kol["visitors"], kol["conversions"], kol["revenue"], kol["spend"]) == (
        1,
        1,
        "1.0000",
        "300.00",
        "100.00",
    )
    # ROI = (300 - 100) / 100, ROAS = 300 / 100, CPA = 100 / 1, conversion rate = 1 / 1
    assert (kol["roi"], kol["roas"], kol["cpa"], kol["conversion_rate"]) == (
        "2.0000",
        "3.0000",
        "100.00",
        "1.0000",
    )
    assert (rows["organic_search"]["conversions"], rows["organic_search"]["revenue"]) == ("1.0000", "100.00")
    assert rows["organic_search"]["roi"] is None  # no spend: ROI undefined, not infinite
    # direct keeps only the all-direct journey
    assert (rows["direct"]["conversions"], rows["direct"]["revenue"]) == ("1.0000", "50.00")
    assert body["totals"]["revenue"] == "450.00" and body["totals"]["visitors"] == 3


def test_channel_report_linear(client, admin_headers, scenario):
    rows = {r["key"]: r for r in report(client, admin_headers, "channel", "linear")["rows"]}
    # buyer 1's 300 split between KOL and direct
    assert (rows["kol"]["conversions"], rows["kol"]["revenue"]) == ("0.5000", "150.00")
    assert (rows["kol"]["roi"], rows["kol"]["cpa"]) == ("0.5000", "200.00")
    assert (rows["direct"]["conversions"], rows["direct"]["revenue"]) == ("1.5000", "200.00")


def test_campaign_and_kol_reports(client, admin_headers, scenario):
    campaign_rows = report(client, admin_headers, "campaign", "first_touch")["rows"]
    spring = next(r for r in campaign_rows if r["key"] == str(scenario["id"]))
    assert (spring["label"], spring["revenue"], spring["spend"], spring["roas"]) == (
        "Spring",
        "300.00",
        "100.00",
        "3.0000",
    )
    kol_rows = {r["key"]: r for r in report(client, admin_headers, "kol", "first_touch")["rows"]}
    assert kol_rows["anna"]["revenue"] == "300.00"


def test_report_arguments_are_validated(client, admin_headers):
    for query in (
        "date_from=2026-01-02&date_to=2026-01-01&model=linear",
        "date_from=2026-01-01&date_to=2026-02-01&model=shapley",
        "date_from=x&date_to=2026-02-01",
    ):
        r = api(client, admin_headers, "GET", f"/reports/channel?{query}")
        assert r.status_code == 422, query
    assert api(client, admin_headers, "GET", f"/reports/country?{RANGE}").status_code == 404


def test_conversion_is_idempotent_and_credits_sum_to_one(client, admin_headers, scenario):
    again = api(
        client,
        admin_headers,
        "POST",
        "/conversions",
        json={"order_id": "o1", "customer_id": 1, "revenue": "999"},
    )
    assert again.status_code == 200 and again.get_json()["revenue"] == "300.00"
    listed = api(client, admin_headers, "GET", "/conversions").get_json()
    assert sorted(c["order_ref"] for c in listed) == ["o1", "o2", "o3"]
    missing = api(client, admin_headers, "POST", "/conversions", json={"order_id": "x", "revenue": "1"})
    assert missing.status_code == 422 and "customer_id" in missing.get_json()["errors"]


def test_funnel_by_channel(client, admin_headers, track):
    base = TODAY - dt.timedelta(days=3)
    events = []
    for visitor, channel_fields, steps in [
        ("f1", {"utm_source": "douyin", "utm_medium": "live"}, ["live_view", "follow", "order"]),
        ("f2", {"utm_source": "douyin", "utm_medium": "live"}, ["live_view", "follow"]),
        ("f3", {"referrer": "https://weibo.com/x"}, ["live_view"]),
        ("f4", {"referrer": "https://weibo.com/x"}, ["live_view", "order", "follow"]),  # out of order
        ("f5", {}, ["follow", "order"]),  # never started
    ]:
        for i, step in enumerate(steps):
            event = {
                "visitor_id": visitor,
                "event_type": step,
                "timestamp": (base + dt.timedelta(minutes=5 * i)).isoformat() + "Z",
            }
            if i == 0:
                event.update(channel_fields)
            events.append(event)
    assert track(events).get_json()["rejected"] == []
    r = api(client, admin_headers, "GET", f"/funnels?steps=live_view,follow,order&{RANGE}")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [s["count"] for s in body["steps"]] == [4, 3, 1]
    assert [s["step_conversion"] for s in body["steps"]] == ["1.0000", "0.7500", "0.3333"]
    assert [s["overall_conversion"] for s in body["steps"]] == ["1.0000", "0.7500", "0.2500"]
    by_channel = {c["channel"]: [s["count"] for s in c["steps"]] for c in body["by_channel"]}
    assert by_channel == {"live_stream": [2, 2, 1], "social": [2, 1, 0]}
    assert body["window_days"] == 14
    bad = api(client, admin_headers, "GET", f"/funnels?steps=live_view&{RANGE}")
    assert bad.status_code == 422 and "steps" in bad.get_json()["errors"]


class Collector:
    """A throwaway plugin recording the events it receives."""

    def __init__(self):
        self.events = []

    from crm_core import hookimpl

    @hookimpl
    def crm_event(self, event):
        self.events.append(event)


def test_events_emitted_and_order_paid_consumed(register_plugin, ingest_key):
    from crm_core.plugin_api import database, emit
    from crm_core.testing import deliver_events

    collector = Collector()
    app = register_plugin(collector, "collector")
    client = app.test_client()
    with app.app_context():
        r = client.post(
            "/api/v1/track/batch",
            headers={"X-Tracking-Key": ingest_key},
            json={
                "events": [
                    {
                        "visitor_id": "e1",
                        "customer_id": 7,
                        "event_type": "page_view",
                        "utm_source": "douyin",
                        "utm_medium": "kol",
                        "timestamp": at(1),
                    },
                    {
                        "visitor_id": "e1",
                        "customer_id": 7,
                        "event_type": "page_view",
                        "utm_source": "douyin",
                        "utm_medium": "kol",
                        "timestamp": at(0.5),
                    },  # same customer and channel: sampled once
                    {
                        "visitor_id": "e2",
                        "event_type": "page_view",
                        "utm_source": "douyin",
                        "utm_medium": "kol",
                    },
                ]
            },
        )
        assert r.get_json()["accepted"] == 3
        with database.atomic():
            emit(
                "order.paid",
                {
                    "order_id": 555,
                    "customer_id": 7,
                    "amount": Decimal("88.00"),
                    "currency": "CNY",
                    "paid_at": CONV_AT,
                },
            )
        deliver_events()
        types = [e.type for e in collector.events]
        assert types.count("touchpoint.recorded") == 1
        recorded = next(e for e in collector.events if e.type == "touchpoint.recorded")
        assert (recorded.data["customer_id"], recorded.data["channel"]) == (7, "kol")
        attributed = next(e for e in collector.events if e.type == "conversion.attributed")
        assert attributed.data["order_id"] == "555" and attributed.data["revenue"] == "88.00"
        assert attributed.data["model"] == "last_non_direct" and attributed.data["channel"] == "kol"
        assert "attribution.assigned" in types
        # delivered twice (at least once), recorded once
        from crm_channel_tracking.conversions import from_order_paid

        order_event = next(e for e in collector.events if e.type == "order.paid")
        with database.atomic():
            from_order_paid(order_event)
        from crm_channel_tracking.models import Conversion

        assert Conversion.select().where(Conversion.order_ref == "555").count() == 1

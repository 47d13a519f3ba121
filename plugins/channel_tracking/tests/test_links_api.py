"""Channels, campaigns, spend, tracking links (no open redirect) and QR codes over HTTP."""

from urllib.parse import parse_qs, urlsplit

import pytest
from channel_testlib import api
from crm_channel_tracking.links import unsafe_reason


@pytest.fixture
def campaign(client, admin_headers):
    channel = api(client, admin_headers, "POST", "/channels", json={"name": "Douyin KOL", "group": "kol"})
    assert channel.status_code == 201, channel.get_json()
    r = api(
        client,
        admin_headers,
        "POST",
        "/campaigns",
        json={
            "name": "Spring launch",
            "channel_id": channel.get_json()["id"],
            "utm_source": "douyin",
            "utm_medium": "kol",
            "utm_campaign": "spring26",
            "kol": "anna",
            "budget": "5000.00",
        },
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_channel_and_campaign_validation(client, admin_headers, campaign):
    assert campaign["currency"] == "CNY" and campaign["budget"] == "5000.00"
    bad = api(client, admin_headers, "POST", "/channels", json={"name": "X", "group": "telepathy"})
    assert bad.status_code == 422 and "group" in bad.get_json()["errors"]
    dup = api(client, admin_headers, "POST", "/campaigns", json={"name": "again", "utm_campaign": "spring26"})
    assert dup.status_code == 409
    nochan = api(
        client,
        admin_headers,
        "POST",
        "/campaigns",
        json={"name": "n", "utm_campaign": "n1", "channel_id": 999},
    )
    assert nochan.status_code == 422 and "channel_id" in nochan.get_json()["errors"]
    dates = api(
        client,
        admin_headers,
        "POST",
        "/campaigns",
        json={"name": "d", "utm_campaign": "d1", "starts_on": "2026-05-01", "ends_on": "2026-04-01"},
    )
    assert dates.status_code == 422 and "ends_on" in dates.get_json()["errors"]
    assert [c["utm_campaign"] for c in api(client, admin_headers, "GET", "/campaigns").get_json()] == [
        "spring26"
    ]


def test_daily_spend_entered_and_replaced(client, admin_headers, campaign):
    path = f"/campaigns/{campaign['id']}/spend"
    r = api(
        client,
        admin_headers,
        "PUT",
        path,
        json={"days": [{"day": "2026-03-01", "amount": "100.50"}, {"day": "2026-03-02", "amount": "80"}]},
    )
    assert r.status_code == 200, r.get_json()
    api(client, admin_headers, "PUT", path, json={"days": [{"day": "2026-03-02", "amount": "90"}]})
    got = api(client, admin_headers, "GET", path).get_json()
    assert got == [{"day": "2026-03-01", "amount": "100.50"}, {"day": "2026-03-02", "amount": "90.00"}]
    neg = api(client, admin_headers, "PUT", path, json={"days": [{"day": "2026-03-03", "amount": "-1"}]})
    assert neg.status_code == 422
    assert api(client, admin_headers, "GET", "/campaigns/999/spend").status_code == 404


def test_link_records_click_and_redirects_with_utm(client, admin_headers, campaign):
    r = api(
        client,
        admin_headers,
        "POST",
        "/links",
        json={
            "campaign_id": campaign["id"],
            "kol": "anna",
            "target_url": "https://shop.example.com/p/1?color=red",
        },
    )
    assert r.status_code == 201, r.get_json()
    link = r.get_json()
    assert link["short_url"].endswith(f"/t/{link['code']}")
    hit = client.get(f"/t/{link['code']}", headers={"Referer": "https://www.douyin.com/video/9"})
    assert hit.status_code == 302
    target = urlsplit(hit.headers["Location"])
    assert (target.scheme, target.hostname, target.path) == ("https", "shop.example.com", "/p/1")
    query = parse_qs(target.query)
    assert query["color"] == ["red"]
    assert query["utm_source"] == ["douyin"] and query["utm_medium"] == ["kol"]
    assert query["utm_campaign"] == ["spring26"] and query["utm_content"] == ["anna"]
    visitor = query["ct_vid"][0]
    assert f"ct_vid={visitor}" in hit.headers["Set-Cookie"]
    # a QR scan is recorded too, as its own event type, for the same visitor (cookie)
    assert client.get(f"/t/{link['code']}?qr=1").status_code == 302
    sessions = api(client, admin_headers, "GET", f"/visitors/{visitor}/sessions").get_json()
    assert [(s["channel"], s["kol"], s["campaign_id"], s["touches"]) for s in sessions] == [
        ("kol", "anna", campaign["id"], 2)
    ]
    assert api(client, admin_headers, "GET", f"/links/{link['id']}").get_json()["clicks"] == 2


OPEN_REDIRECT_ATTEMPTS = [
    "https://evil.example/phish",
    "https://shop.example.com.evil.example/",  # allowed name as a prefix of another host
    "https://shop.example.com@evil.example/",  # credentials trick: the host is evil.example
    "https://evil.example\\@shop.example.com/",  # backslash: browsers read it as a slash
    "//evil.example/",  # scheme-relative
    "javascript:alert(1)//shop.example.com",
    "ftp://shop.example.com/file",
    "https://notexample.org/",  # suffix without the dot
    "https:///shop.example.com",
    "https://shop.example.com:99999/",
    "https://shop.example.com/\r\nLocation: https://evil.example",
]


@pytest.mark.parametrize("target", OPEN_REDIRECT_ATTEMPTS)
def test_unsafe_targets(target):
    assert unsafe_reason(target, allowed=("shop.example.com", "example.org")) is not None


@pytest.mark.parametrize(
    "target", ["https://shop.example.com/x?a=1", "http://www.example.org/", "https://example.org"]
)
def test_safe_targets(target):
    assert unsafe_reason(target, allowed=("shop.example.com", "example.org")) is None


def test_open_redirect_targets_are_refused_by_the_api(client, admin_headers, campaign):
    for target in OPEN_REDIRECT_ATTEMPTS:
        r = api(
            client,
            admin_headers,
            "POST",
            "/links",
            json={"campaign_id": campaign["id"], "target_url": target},
        )
        assert r.status_code == 422, target
        assert "target_url" in r.get_json()["errors"], target
    assert api(client, admin_headers, "GET", "/links").get_json() == []


def test_request_cannot_change_the_destination(client, admin_headers, campaign):
    link = api(
        client,
        admin_headers,
        "POST",
        "/links",
        json={"campaign_id": campaign["id"], "target_url": "https://www.example.org/landing"},
    ).get_json()
    for query in ("?next=https://evil.example", "?url=//evil.example", "?target_url=https://evil.example"):
        hit = client.get(f"/t/{link['code']}{query}")
        assert hit.status_code == 302
        assert urlsplit(hit.headers["Location"]).hostname == "www.example.org"
    assert client.get("/t/nosuchcode").status_code == 404


def test_destination_rechecked_when_domains_shrink(app, client, admin_headers, campaign, monkeypatch):
    link = api(
        client,
        admin_headers,
        "POST",
        "/links",
        json={"campaign_id": campaign["id"], "target_url": "https://example.org/x"},
    ).get_json()
    monkeypatch.setitem(app.config, "CHANNEL_TRACKING_REDIRECT_DOMAINS", "shop.example.com")
    assert client.get(f"/t/{link['code']}").status_code == 404


@pytest.mark.parametrize(
    ("kind", "mimetype", "magic"),
    [("png", "image/png", b"\x89PNG\r\n\x1a\n"), ("svg", "image/svg+xml", b"<?xml")],
)
def test_qr_codes(client, admin_headers, campaign, kind, mimetype, magic):
    link = api(
        client,
        admin_headers,
        "POST",
        "/links",
        json={"campaign_id": campaign["id"], "target_url": "https://shop.example.com/"},
    ).get_json()
    r = api(client, admin_headers, "GET", f"/links/{link['id']}/qr.{kind}")
    assert r.status_code == 200
    assert r.mimetype == mimetype
    assert r.data.startswith(magic) and len(r.data) > 200
    if kind == "svg":
        assert b"<svg" in r.data
    assert api(client, admin_headers, "GET", "/links/999/qr.png").status_code == 404


def test_permissions(client, make_user, campaign):
    _, sales = make_user("seller", roles=("sales",))
    for method, path, body in [
        ("GET", "/campaigns", None),
        ("POST", "/channels", {"name": "x", "group": "kol"}),
        ("GET", "/reports/channel?date_from=2026-01-01&date_to=2026-02-01", None),
        ("GET", "/funnels?steps=a,b&date_from=2026-01-01&date_to=2026-02-01", None),
        ("GET", "/keys", None),
        ("POST", "/keys", {"name": "k"}),
        ("POST", "/conversions", {"order_id": "1", "customer_id": 1, "revenue": "1"}),
        ("GET", "/visitors/v/sessions", None),
    ]:
        r = api(client, sales, method, path, json=body)
        assert r.status_code == 403, (method, path, r.status_code)


def test_privacy_export_and_erase(client, admin_headers, track):
    customer = client.post("/api/v1/customers", json={"name": "Li Lei"}, headers=admin_headers).get_json()
    cid = customer["id"]
    assert (
        track(
            [
                {
                    "visitor_id": "pv",
                    "event_type": "page_view",
                    "utm_source": "weibo",
                    "utm_medium": "social",
                },
                {"visitor_id": "pv", "customer_id": cid, "event_type": "signup"},
            ]
        ).get_json()["accepted"]
        == 2
    )
    api(
        client,
        admin_headers,
        "POST",
        "/conversions",
        json={"order_id": "P1", "customer_id": cid, "revenue": "10"},
    )
    doc = client.get(f"/api/v1/customers/{cid}/privacy-export", headers=admin_headers)
    assert doc.status_code == 200, doc.get_json()
    mine = doc.get_json()["plugins"]["channel_tracking"]
    assert mine["visitor_ids"] == ["pv"]
    assert [t["event_type"] for t in mine["touchpoints"]] == ["page_view", "signup"]
    assert [c["order_ref"] for c in mine["conversions"]] == ["P1"]
    assert client.post(f"/api/v1/customers/{cid}/erase", headers=admin_headers).status_code == 200
    assert api(client, admin_headers, "GET", "/visitors/pv/sessions").get_json() == []
    after = client.get(f"/api/v1/customers/{cid}/privacy-export", headers=admin_headers).get_json()
    assert after["plugins"]["channel_tracking"] == {"visitor_ids": [], "touchpoints": [], "conversions": []}
    # the revenue stays in the reports, without the person
    kept = api(client, admin_headers, "GET", "/conversions").get_json()
    assert [(c["order_ref"], c["customer_id"]) for c in kept] == [("P1", None)]


def test_out_of_range_numbers_are_422_not_500(client, admin_headers, campaign):
    for path, body, field in [
        ("/links", {"campaign_id": 2**40, "target_url": "https://shop.example.com/"}, "campaign_id"),
        ("/campaigns", {"name": "x", "utm_campaign": "x", "budget": "1e20"}, "budget"),
        ("/conversions", {"order_id": "x", "customer_id": 2**70, "revenue": "1"}, "customer_id"),
        ("/conversions", {"order_id": "x", "customer_id": 1, "revenue": "NaN"}, "revenue"),
    ]:
        r = api(client, admin_headers, "POST", path, json=body)
        assert r.status_code == 422, (path, r.status_code)
        assert field in r.get_json()["errors"], (path, r.get_json())

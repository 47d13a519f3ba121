"""The channel tracking screens over HTTP: menu, campaign forms (bad input included), links on a
fresh install, QR images for a signed-in browser session, spend, reports, funnels, attribution,
permissions and translations."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from channel_testlib import api

from crm_core.browser_testing import csrf_from, post_form, web_login

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def admin(client, make_user):
    """An admin signed in to the workbench; returns their API headers."""
    _, headers = make_user("ct_admin")
    assert web_login(client, "ct_admin").status_code == 302
    return headers


@pytest.fixture
def analyst_role(client, admin_headers):
    """A role that may read campaigns, reports and links, nothing else of the plugin."""
    r = client.post(
        "/api/v1/roles",
        json={
            "name": "ct_analyst",
            "grants": [
                {"resource": "channel_tracking.campaigns", "action": "read", "scope": "all"},
                {"resource": "channel_tracking.links", "action": "read", "scope": "all"},
                {"resource": "channel_tracking.reports", "action": "read", "scope": "all"},
            ],
        },
        headers=admin_headers,
    )
    assert r.status_code == 201, r.get_json()
    return "ct_analyst"


def _campaign(client, headers, **extra):
    body = {"name": "Spring launch", "utm_source": "douyin", "utm_medium": "kol", "utm_campaign": "spring26"}
    r = api(client, headers, "POST", "/campaigns", json={**body, **extra})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def _menu(html: str) -> list[str]:
    block = html.split('class="crm-menu"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r">([^<>]+)</a>", block)


def test_menu_entries_translated_and_only_with_permission(client, admin, make_user):
    assert {"Campaigns", "Channel analytics", "Touchpoints"} <= set(
        _menu(client.get("/").get_data(as_text=True))
    )
    zh = _menu(client.get("/", headers=ZH).get_data(as_text=True))
    assert {"渠道活动", "渠道分析", "触点"} <= set(zh)

    make_user("ct_nobody", roles=())
    client.post("/logout", data={"csrf_token": csrf_from(client, "/")})
    assert web_login(client, "ct_nobody").status_code == 302
    menu = _menu(client.get("/").get_data(as_text=True))
    assert not {"Campaigns", "Channel analytics", "Touchpoints"} & set(menu)
    assert client.get("/channel-tracking/campaigns").status_code == 403
    assert client.get("/channel-tracking/roi").status_code == 403


def test_campaign_form_bad_input_keeps_values_then_saves(client, admin):
    bad = post_form(
        client,
        "/channel-tracking/campaigns/new",
        {
            "name": "Winter drop",
            "utm_campaign": "",
            "budget": "12 thousand",
            "currency": "yuan",
            "starts_on": "2026-12-10",
            "ends_on": "2026-12-01",
        },
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'value="Winter drop"' in html and 'value="12 thousand"' in html  # nothing typed is lost
    for field in ("utm_campaign", "budget", "currency", "ends_on"):
        assert f'data-field="{field}"' in html, field
    assert "Not a valid amount" in html

    zh = post_form(
        client, "/channel-tracking/campaigns/new", {"name": "", "utm_campaign": "x"}, headers=ZH
    ).get_data(as_text=True)
    assert "此项为必填" in zh

    ok = post_form(
        client,
        "/channel-tracking/campaigns/new",
        {
            "name": "Winter drop",
            "utm_campaign": "winter26",
            "utm_source": "douyin",
            "utm_medium": "kol",
            "budget": "12,000.50",
            "currency": "cny",
            "starts_on": "2026-12-01",
            "ends_on": "2026-12-31",
            "new_channel_name": "Douyin KOL",
            "new_channel_group": "kol",
        },
    )
    assert ok.status_code == 302, ok.get_data(as_text=True)
    page = client.get(ok.headers["Location"]).get_data(as_text=True)
    assert (
        "Winter drop" in page and "12,000.50" in page and "Douyin KOL" in page and "KOL / influencer" in page
    )
    campaign_id = int(ok.headers["Location"].rsplit("/", 1)[1].split("?")[0])

    dup = post_form(
        client,
        "/channel-tracking/campaigns/new",
        {"name": "Again", "utm_campaign": "winter26"},
        page="/channel-tracking/campaigns/new",
    )
    assert dup.status_code == 422 and "already uses this utm_campaign" in dup.get_data(as_text=True)

    edit = post_form(
        client,
        f"/channel-tracking/campaigns/{campaign_id}/edit",
        {"name": "Winter drop II", "utm_campaign": "winter26", "budget": "15000", "currency": "CNY"},
    )
    assert edit.status_code == 302
    listing = client.get("/channel-tracking/campaigns").get_data(as_text=True)
    assert "Winter drop II" in listing and "15,000.00" in listing


def test_link_created_from_the_page_on_a_fresh_install(app, client, admin, monkeypatch):
    # a fresh install configures no redirect domain: the CRM's own BASE_URL host is allowed
    monkeypatch.setitem(app.config, "CHANNEL_TRACKING_REDIRECT_DOMAINS", "")
    monkeypatch.setitem(app.config, "BASE_URL", "https://crm.example.cn")
    campaign = _campaign(client, admin)
    page = f"/channel-tracking/campaigns/{campaign['id']}"
    assert 'value="https://crm.example.cn/"' in client.get(page).get_data(as_text=True)

    refused = post_form(
        client, f"{page}/links", {"target_url": "https://evil.example/x"}, page=page, follow_redirects=True
    )
    assert "is not one of the allowed redirect domains" in refused.get_data(as_text=True)
    assert api(client, admin, "GET", "/links").get_json() == []

    made = post_form(
        client,
        f"{page}/links",
        {"target_url": "https://crm.example.cn/landing", "kol": "anna"},
        page=page,
        follow_redirects=True,
    )
    html = made.get_data(as_text=True)
    links = api(client, admin, "GET", "/links").get_json()
    assert len(links) == 1 and links[0]["short_url"].startswith("https://crm.example.cn/t/")
    assert links[0]["short_url"] in html and f"/channel-tracking/links/{links[0]['id']}/qr.png" in html
    # the API takes the same default
    r = api(
        client,
        admin,
        "POST",
        "/links",
        json={"campaign_id": campaign["id"], "target_url": "https://crm.example.cn/"},
    )
    assert r.status_code == 201, r.get_json()
    # and the redirect follows it
    follow = client.get("/t/" + links[0]["code"])
    assert follow.status_code == 302 and follow.headers["Location"].startswith(
        "https://crm.example.cn/landing?"
    )


def test_qr_image_for_signed_in_session_not_for_anonymous(app, client, admin, analyst_role, make_user):
    campaign = _campaign(client, admin)
    link = api(
        client,
        admin,
        "POST",
        "/links",
        json={"campaign_id": campaign["id"], "target_url": "https://shop.example.com/"},
    ).get_json()
    path = f"/channel-tracking/links/{link['id']}/qr"
    png = client.get(path + ".png")
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data.startswith(PNG)
    svg = client.get(path + ".svg?download=1")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert svg.headers["Content-Disposition"].startswith("attachment;")
    # the API route still takes bearer tokens only (a session never authorises an API call)
    assert client.get(f"/api/v1/channel-tracking/links/{link['id']}/qr.png").status_code == 401

    anonymous = app.test_client()
    r = anonymous.get(path + ".png")
    assert r.status_code == 302 and "/login" in r.headers["Location"]

    make_user("ct_no_links", roles=())
    other = app.test_client()
    web_login(other, "ct_no_links")
    assert other.get(path + ".png").status_code == 403


def test_spend_form_sets_days_and_refuses_bad_amounts(client, admin):
    campaign = _campaign(client, admin, budget="1000")
    page = f"/channel-tracking/campaigns/{campaign['id']}"
    bad = post_form(
        client, f"{page}/spend", {"day": "2026-11-01", "amount": "-5"}, page=page, follow_redirects=True
    )
    assert "The spend was not saved" in bad.get_data(as_text=True)
    assert api(client, admin, "GET", f"/campaigns/{campaign['id']}/spend").get_json() == []
    post_form(
        client, f"{page}/spend", {"day": "2026-11-01", "until": "2026-11-03", "amount": "100.5"}, page=page
    )
    days = api(client, admin, "GET", f"/campaigns/{campaign['id']}/spend").get_json()
    assert [(d["day"], d["amount"]) for d in days] == [
        ("2026-11-01", "100.50"),
        ("2026-11-02", "100.50"),
        ("2026-11-03", "100.50"),
    ]
    html = client.get(f"{page}?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert 'data-kpi="spend">301.50<' in html and 'data-kpi="remaining">698.50<' in html


@pytest.fixture
def traffic(client, admin, track):
    """A KOL campaign with spend, two visitors' journeys and one 600.00 order."""
    channel = api(client, admin, "POST", "/channels", json={"name": "Douyin KOL", "group": "kol"}).get_json()
    campaign = _campaign(client, admin, channel_id=channel["id"], kol="anna", budget="1000")
    today = dt.datetime.now(dt.UTC).date()
    api(
        client,
        admin,
        "PUT",
        f"/campaigns/{campaign['id']}/spend",
        json={"days": [{"day": str(today), "amount": "200"}]},
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def at(minutes):
        return (now - dt.timedelta(minutes=minutes)).isoformat()

    r = track(
        [
            {
                "visitor_id": "v-one",
                "event_type": "link_click",
                "utm_campaign": "spring26",
                "timestamp": at(300),
            },
            {"visitor_id": "v-one", "event_type": "live_view", "timestamp": at(290)},
            {"visitor_id": "v-one", "event_type": "order", "customer_id": 1, "timestamp": at(280)},
            {
                "visitor_id": "v-two",
                "event_type": "link_click",
                "referrer": "https://www.baidu.com/",
                "timestamp": at(200),
            },
        ]
    )
    assert r.status_code == 200 and r.get_json()["accepted"] == 4
    conv = api(
        client,
        admin,
        "POST",
        "/conversions",
        json={"order_id": "o-1", "customer_id": 1, "revenue": "600.00", "occurred_at": at(279)},
    )
    assert conv.status_code == 201, conv.get_json()
    return campaign


def test_roi_attribution_funnel_and_touchpoint_screens(client, admin, traffic):
    roi = client.get("/channel-tracking/roi").get_data(as_text=True)
    kol_row = roi.split('id="roi-table-channel"')[1].split('data-key="kol"')[1].split("</tr>")[0]
    assert "KOL / influencer" in kol_row and "600.00" in kol_row and "200.00" in kol_row
    assert "200.00%" in kol_row and "3.00×" in kol_row  # ROI (600-200)/200, ROAS 600/200
    assert 'id="roi-table-kol"' in roi and "anna" in roi
    assert "data-ct-chart=" in roi

    linear = client.get("/channel-tracking/attribution?model=linear").get_data(as_text=True)
    assert 'data-model="linear" aria-current="page"' in linear and "Model: Linear" in linear
    bad = client.get("/channel-tracking/attribution?model=magic&from=yesterday").get_data(as_text=True)
    assert "Unknown attribution model." in bad and "Not a valid date" in bad

    funnel = client.get("/channel-tracking/funnels?step=link_click&step=live_view&step=order&window=7")
    html = funnel.get_data(as_text=True)
    assert funnel.status_code == 200 and 'data-count="1">2<' in html and 'data-count="3">1<' in html
    assert "funnel-chart" in html
    one = client.get("/channel-tracking/funnels?step=order").get_data(as_text=True)
    assert "Choose at least two steps." in one

    tp = client.get("/channel-tracking/touchpoints?visitor=v-one").get_data(as_text=True)
    assert "3 touchpoints" in tp and "Live stream view" in tp and "Customer 1" in tp
    kol = client.get("/channel-tracking/touchpoints?channel=kol").get_data(as_text=True)
    assert "1 touchpoint<" in kol and "<td>Link click</td>" in kol and "<td>Live stream view</td>" not in kol
    zh = client.get("/channel-tracking/touchpoints?visitor=v-one", headers=ZH).get_data(as_text=True)
    assert "达人/KOL" in zh and "直播观看" in zh

    campaign = client.get(f"/channel-tracking/campaigns/{traffic['id']}").get_data(as_text=True)
    assert 'data-kpi="revenue">600.00<' in campaign and 'data-kpi="roi">200.00%<' in campaign


def test_scoped_reader_sees_reports_but_no_write_controls(
    app, client, admin, analyst_role, traffic, make_user
):
    make_user("ct_analyst_user", roles=(analyst_role,))
    reader = app.test_client()
    web_login(reader, "ct_analyst_user")
    menu = _menu(reader.get("/").get_data(as_text=True))
    assert "Campaigns" in menu and "Channel analytics" in menu and "Touchpoints" not in menu
    page = reader.get(f"/channel-tracking/campaigns/{traffic['id']}").get_data(as_text=True)
    assert 'id="edit-campaign"' not in page and 'id="link-form"' not in page and 'id="spend-form"' not in page
    assert reader.get("/channel-tracking/campaigns/new").status_code == 403
    assert reader.get("/channel-tracking/touchpoints").status_code == 403
    refused = post_form(
        reader,
        f"/channel-tracking/campaigns/{traffic['id']}/links",
        {"target_url": "https://shop.example.com/"},
        page="/channel-tracking/campaigns",
    )
    assert refused.status_code == 403
    assert reader.get("/channel-tracking/roi").status_code == 200


def test_zh_cn_screens_have_no_untranslated_labels(client, admin, traffic):
    for path in (
        "/channel-tracking/campaigns",
        "/channel-tracking/roi",
        "/channel-tracking/attribution",
        "/channel-tracking/funnels",
        "/channel-tracking/touchpoints",
        f"/channel-tracking/campaigns/{traffic['id']}",
        "/channel-tracking/campaigns/new",
    ):
        html = client.get(path, headers=ZH).get_data(as_text=True)
        main = html.split("<main", 1)[1]
        for english in (
            "Campaigns",
            "Revenue",
            "Spend",
            "Attribution model",
            "Conversions",
            "Apply",
            "Start date",
        ):
            assert f">{english}<" not in main, (path, english)


def test_catalogue_complete():
    import subprocess
    import sys
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "crm_channel_tracking"
    check = [sys.executable, "-m", "crm_core.web.catalogs", "check", str(package)]  # the catalogue tool
    result = subprocess.run(check, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deleting_needs_the_form_token_and_removes_links(client, admin):
    campaign = _campaign(client, admin)
    link = api(
        client,
        admin,
        "POST",
        "/links",
        json={"campaign_id": campaign["id"], "target_url": "https://shop.example.com/"},
    ).get_json()
    page = f"/channel-tracking/campaigns/{campaign['id']}"
    # a post without the CSRF token changes nothing
    assert client.post(f"/channel-tracking/links/{link['id']}/delete").status_code == 400
    assert client.post(f"{page}/delete").status_code == 400
    assert len(api(client, admin, "GET", "/links").get_json()) == 1

    r = post_form(client, f"/channel-tracking/links/{link['id']}/delete", {}, page=page)
    assert r.status_code == 302 and api(client, admin, "GET", "/links").get_json() == []
    assert client.get(f"/channel-tracking/links/{link['id']}/qr.png").status_code == 404

    api(
        client,
        admin,
        "POST",
        "/links",
        json={"campaign_id": campaign["id"], "target_url": "https://shop.example.com/"},
    )
    r = post_form(client, f"{page}/delete", {}, page=page)
    assert r.status_code == 302
    assert client.get(page).status_code == 404
    assert api(client, admin, "GET", "/links").get_json() == []  # its links went with it
    assert "No such campaign." in client.get(page).get_data(as_text=True)


def test_touchpoints_name_only_customers_the_reader_may_read(app, client, admin, traffic, make_user):
    role = client.post(
        "/api/v1/roles",
        json={
            "name": "ct_touch",
            "grants": [{"resource": "channel_tracking.touchpoints", "action": "read", "scope": "all"}],
        },
        headers=admin,
    )
    assert role.status_code == 201, role.get_json()
    make_user("ct_touch_user", roles=("ct_touch",))
    reader = app.test_client()
    web_login(reader, "ct_touch_user")
    html = reader.get("/channel-tracking/touchpoints?visitor=v-one&to=9999-12-31").get_data(as_text=True)
    assert "3 touchpoints" in html and "Not a valid date" in html
    assert "Customer 1" not in html and "/records/customers/1" not in html
    # nor campaign names without campaigns:read (the touch's own utm_campaign is shown)
    assert "Spring launch" not in html and "spring26" in html


def test_permission_labels_translated_on_the_role_page(client, admin, analyst_role):
    roles = client.get("/api/v1/roles", headers=admin).get_json()
    role_id = next(
        r["id"] for r in (roles["items"] if isinstance(roles, dict) else roles) if r["name"] == analyst_role
    )
    html = client.get(f"/admin/roles/{role_id}", headers=ZH).get_data(as_text=True)
    assert "渠道追踪：报表、归因与漏斗" in html and "渠道追踪：追踪链接与二维码" in html
    english = client.get(f"/admin/roles/{role_id}").get_data(as_text=True)
    assert "Channel tracking: reports, attribution and funnels" in english


@pytest.mark.parametrize(
    ("headers", "title"), [({}, "tracking links and QR codes"), (ZH, None)], ids=["en", "zh"]
)
def test_generic_record_pages_are_titled_by_the_plugins_label(client, admin, headers, title):
    """The generic /records/channel_tracking.links/ page was titled with the raw resource code."""
    html = client.get("/records/channel_tracking.links/", headers=headers).get_data(as_text=True)
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S).group(1)
    assert "channel_tracking.links" not in heading
    if title is not None:
        assert title in heading
    else:
        assert re.search(r"[\u4e00-\u9fff]", heading), heading


def test_touchpoint_times_show_in_the_readers_time_zone(app, client, admin, traffic):
    """The touchpoints page printed UTC (strftime) whatever zone the reader chose."""
    from crm_channel_tracking.models import Touchpoint

    with app.app_context():
        stored = Touchpoint.select().where(Touchpoint.visitor_id == "v-one").first().occurred_at
    r = post_form(client, "/account/timezone", {"timezone": "Asia/Shanghai"}, page="/account/password")
    assert r.status_code == 200
    page = client.get("/channel-tracking/touchpoints?visitor=v-one").get_data(as_text=True)
    local = stored.replace(tzinfo=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8)))
    shown = local.strftime("%-I:%M %p")  # English short time, e.g. 9:05 PM
    assert shown in page.replace("\u202f", " "), (shown, stored)

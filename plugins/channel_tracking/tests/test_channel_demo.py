"""The plugin's ``crm_demo_data`` hookimpl: campaigns with budgets and spend, links,
touchpoints over the last weeks and conversions of the demo's customers, in its language."""

from __future__ import annotations

import datetime as dt
import random

import crm_channel_tracking
import pytest
from channel_testlib import SEEDED_CUSTOMERS
from crm_channel_tracking.models import Campaign, Channel, Conversion, Spend, Touchpoint, TrackingLink

from crm_core.browser_testing import web_login
from crm_core.plugin_api import DemoContext, actor_for_user, database, utcnow


def _demo(app, user, locale):
    context = DemoContext(
        locale=locale,
        admin=actor_for_user(user),
        customers=list(SEEDED_CUSTOMERS),
        random=random.Random(7),
    )
    # as ``crm demo-data`` calls it: an app context (no request) and the command's transaction
    with app.app_context(), database.atomic():
        crm_channel_tracking.crm_demo_data(context)


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_demo_data_fills_every_screen(app, client, make_user, locale):
    user, _ = make_user("demo_admin")
    _demo(app, user, locale)
    campaigns = list(Campaign.select())
    assert len(campaigns) == 5 and all(c.budget and c.channel_id for c in campaigns)
    names = " ".join(c.name for c in campaigns) + " ".join(c.name for c in Channel.select())
    if locale == "zh_CN":
        assert "达人" in names and "直播" in names
    else:
        assert "creators" in names and not any("\u4e00" <= ch <= "\u9fff" for ch in names)
    assert Spend.select().count() >= 5 * 28
    assert TrackingLink.select().count() == 5
    assert all(link.clicks > 0 for link in TrackingLink.select())  # clicks and scans came through them
    assert Touchpoint.select().where(Touchpoint.event_type == "qr_scan").exists()
    now = utcnow()
    times = [t for (t,) in Touchpoint.select(Touchpoint.occurred_at).tuples()]
    assert len(times) > 200 and min(times) >= now - dt.timedelta(days=30) and max(times) <= now
    assert (max(times) - min(times)).days >= 14  # spread over the last weeks
    attached = {
        c
        for (c,) in Conversion.select(Conversion.customer_id)
        .where(Conversion.customer_id.is_null(False))
        .tuples()
    }
    assert attached and attached <= set(SEEDED_CUSTOMERS)
    assert Touchpoint.select().where(Touchpoint.customer_id.in_(list(SEEDED_CUSTOMERS))).exists()

    # running it again adds nothing
    _demo(app, user, locale)
    assert Campaign.select().count() == 5 and TrackingLink.select().count() == 5

    # and the screens show it
    web_login(client, "demo_admin")
    roi = client.get("/channel-tracking/roi").get_data(as_text=True)
    assert 'data-key="kol"' in roi and "data-roi>—<" not in roi.split('data-key="kol"')[1].split("</tr>")[0]
    campaign = campaigns[0]
    page = client.get(f"/channel-tracking/campaigns/{campaign.id}").get_data(as_text=True)
    assert page.count('class="ct-qr"') == 1

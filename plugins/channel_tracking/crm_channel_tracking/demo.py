"""Demo data for ``crm demo-data`` (hook ``crm_demo_data``): channels, campaigns with budgets and
daily spend, tracking links, four weeks of touchpoints and the conversions of the demo customers,
written in the demo's language through the plugin's own paths (``crm_core.plugin_api.create_record`` and friends for
channels, campaigns and links, :func:`.spend.set_spend`, :func:`.ingest.ingest`,
:func:`.conversions.record_conversion`), so the screens show what a real install would.

Running it twice adds nothing the second time (the demo campaigns are recognised by their
``utm_campaign``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm_core.plugin_api import base_url, create_record, utcnow

from .conversions import record_conversion
from .ingest import ingest
from .links import new_code
from .models import Campaign, Channel, Touchpoint, TrackingLink
from .settings import redirect_domains, setting_list
from .spend import set_spend

DAYS = 28
FOREIGN_KEYS = {"channel_id": "channel", "campaign_id": "campaign"}
PREFIX = "demo-"

#: (zh name, en name, group)
CHANNELS = (
    ("抖音达人", "Douyin creators", "kol"),
    ("小红书种草", "Xiaohongshu notes", "social"),
    ("百度搜索广告", "Baidu search ads", "paid_search"),
    ("微信视频号直播", "WeChat Channels live", "live_stream"),
    ("线下快闪店", "Pop-up store", "offline_event"),
)

#: (zh name, en name, channel index, utm_source, utm_medium, utm_campaign, kol, budget)
CAMPAIGNS = (
    ("冬季新品达人种草", "Winter launch with creators", 0, "douyin", "kol", "winter-kol", "李佳", 30000),
    ("小红书好物笔记", "Xiaohongshu product notes", 1, "xiaohongshu", "social", "xhs-notes", "小鹿", 12000),
    ("品牌词搜索", "Brand search", 2, "baidu", "cpc", "brand-search", None, 18000),
    ("双十二直播专场", "Double 12 live special", 3, "wechat", "live", "d12-live", "阿May", 25000),
    ("商场快闪扫码", "Mall pop-up QR codes", 4, "poster", "qr", "mall-popup", None, 8000),
)

#: the steps a visitor may go through, with the chance to go on to the next one
JOURNEY = (
    ("link_click", 1.0),
    ("page_view", 0.9),
    ("live_view", 0.55),
    ("follow", 0.6),
    ("signup", 0.55),
    ("add_to_cart", 0.6),
    ("order", 0.6),
)


def _write(resource, model, data, actor, **options):
    """Through the core's write path when the demo has an admin, else straight (and unaudited)."""
    if actor is not None:
        return create_record(resource, model, data, actor, **options)
    record = model(**{FOREIGN_KEYS.get(k, k): v for k, v in data.items()})
    if "before_save" in options:
        options["before_save"](record, data, None)
    record.save(force_insert=True)
    return record


def _target_base() -> str:
    """Where the demo links go: the first configured redirect domain, else the CRM itself."""
    if setting_list("REDIRECT_DOMAINS"):
        return f"https://{redirect_domains()[0]}"
    return base_url()


def add_demo_data(context) -> None:
    """Add the channel tracking demo (see the module docstring) for ``context``
    (:class:`crm_core.plugin_api.DemoContext`)."""
    from .api import _campaign_checks, _link_checks

    if Campaign.select().where(Campaign.utm_campaign.startswith(PREFIX)).exists():
        return
    zh = str(context.locale).lower().startswith("zh")
    rnd = context.random
    actor = context.admin
    today = utcnow().date()
    start = today - dt.timedelta(days=DAYS)

    channels = []
    for name_zh, name_en, group in CHANNELS:
        name = name_zh if zh else name_en
        existing = Channel.get_or_none(Channel.name == name)
        channels.append(
            existing
            or _write(
                "channel_tracking.channels",
                Channel,
                {"name": name, "group": group, "description": ""},
                actor,
            )
        )

    campaigns, links = [], []
    target = _target_base()
    for name_zh, name_en, channel, source, medium, utm, kol, budget in CAMPAIGNS:
        campaign = _write(
            "channel_tracking.campaigns",
            Campaign,
            {
                "name": name_zh if zh else name_en,
                "channel_id": channels[channel].id,
                "utm_source": source,
                "utm_medium": medium,
                "utm_campaign": PREFIX + utm,
                "kol": kol
                if (zh or kol is None)
                else {"李佳": "Li Jia", "小鹿": "Xiao Lu", "阿May": "May"}[kol],
                "budget": Decimal(budget),
                "currency": "CNY",
                "starts_on": start,
                "ends_on": today + dt.timedelta(days=14),
            },
            actor,
            before_save=_campaign_checks,
        )
        campaigns.append(campaign)
        # a budget paced over the whole campaign, spent unevenly day by day
        daily = Decimal(budget) / (DAYS + 14) / 3
        spend = {
            start + dt.timedelta(days=i): (daily * Decimal(str(rnd.uniform(0.6, 1.3)))).quantize(
                Decimal("0.01")
            )
            for i in range(DAYS + 1)
        }
        set_spend(campaign, spend, actor)
        link = _write(
            "channel_tracking.links",
            TrackingLink,
            {
                "campaign_id": campaign.id,
                "kol": campaign.kol,
                "target_url": f"{target}/shop/{utm}",
                "code": new_code(),
            },
            actor,
            before_save=_link_checks,
        )
        links.append(link)

    events, orders = _journeys(context, campaigns, start, today)
    for i in range(0, len(events), 1000):
        ingest(events[i : i + 1000])
    for link in links:
        # the campaign's clicks and scans came through its link, as /t/<code> records them
        through = (Touchpoint.campaign_id == link.campaign_id) & Touchpoint.event_type.in_(
            ("link_click", "qr_scan")
        )
        Touchpoint.update(link_id=link.id).where(through).execute()
        clicks = Touchpoint.select().where(through).count()
        TrackingLink.update(clicks=clicks).where(TrackingLink.id == link.id).execute()
    for order_ref, revenue, at, customer_id, visitor_id in orders:
        record_conversion(
            order_ref, revenue, at, customer_id=customer_id, visitor_id=visitor_id, source="demo", actor=actor
        )


def _journeys(context, campaigns, start: dt.date, today: dt.date):
    """Visitors (the demo customers and anonymous ones) going some way through the journey from
    a campaign, a search or a direct visit: ``(events, orders)``."""
    rnd = context.random
    now = utcnow()
    people = [(f"demo-c{cid}", cid) for cid in context.customers]
    people += [(f"demo-v{i:04d}", None) for i in range(max(60, 2 * len(people)))]
    events, orders = [], []
    for index, (visitor, customer) in enumerate(people):
        visits = rnd.randint(1, 3)
        for visit in range(visits):
            # every other demo customer buys on their last visit, so each screen has conversions
            # of known customers however few the demo has
            buys = customer is not None and index % 2 == 0 and visit == visits - 1
            day = start + dt.timedelta(days=rnd.randint(0, (today - start).days))
            at = dt.datetime.combine(day, dt.time(rnd.randint(8, 22), rnd.randint(0, 59)))
            if at > now - dt.timedelta(hours=2):  # a visit today ends before now
                at = now - dt.timedelta(hours=2, minutes=rnd.randint(0, 300))
            source = rnd.random()
            base = {"visitor_id": visitor}
            first = "page_view"  # a search or a direct visit starts on a page
            if source < 0.75:
                campaign = rnd.choice(campaigns)
                base.update(
                    utm_source=campaign.utm_source,
                    utm_medium=campaign.utm_medium,
                    utm_campaign=campaign.utm_campaign,
                )
                first = "qr_scan" if campaign.utm_medium == "qr" else "link_click"
            elif source < 0.88:
                base["referrer"] = "https://www.baidu.com/s?wd=demo"
            for step, (event_type, chance) in enumerate(JOURNEY):
                if step == 0:
                    event_type = first
                elif step == 1 and first == "page_view":
                    continue  # the visit already began with a page view
                if step and not buys and rnd.random() > chance:
                    break
                at += dt.timedelta(minutes=rnd.randint(1, 12))
                event = {**base, "event_type": event_type, "timestamp": at.isoformat()}
                if event_type == "signup" and customer:
                    event["customer_id"] = customer
                if step:  # the later steps happen on the site, in the same session
                    event = {k: v for k, v in event.items() if not k.startswith("utm_") and k != "referrer"}
                events.append(event)
                if event_type == "order":
                    revenue = Decimal(rnd.randrange(19900, 399900)) / 100
                    orders.append((f"{PREFIX}{visitor}-{len(orders)}", revenue, at, customer, visitor))
    return events, orders

"""Channel classification, sessions, funnels and ROI maths as pure functions."""

import datetime as dt
from decimal import Decimal

import pytest
from crm_channel_tracking.attribution import Touch
from crm_channel_tracking.classify import classify, classify_cached, host_of
from crm_channel_tracking.funnels import FunnelEvent, funnel, person_depth
from crm_channel_tracking.metrics import cpa, rate, roas, roi
from crm_channel_tracking.sessions import sessionize

T0 = dt.datetime(2026, 3, 1, 9, 0)


@pytest.mark.parametrize(
    ("kwargs", "group"),
    [
        ({}, "direct"),
        ({"referrer": ""}, "direct"),
        ({"referrer": "https://www.google.com/search?q=crm"}, "organic_search"),
        ({"referrer": "https://m.baidu.com/s?wd=crm"}, "organic_search"),
        ({"referrer": "https://notgoogle.example/"}, "referral"),
        ({"referrer": "https://www.douyin.com/video/1"}, "social"),
        ({"referrer": "https://t.co/abc"}, "social"),
        ({"referrer": "https://blog.example.org/post"}, "referral"),
        ({"referrer": "https://shop.example.com/cart", "own_hosts": ("example.com",)}, "direct"),
        ({"utm_source": "google", "utm_medium": "cpc"}, "paid_search"),
        ({"utm_source": "facebook", "utm_medium": "cpc"}, "paid_social"),
        ({"utm_source": "douyin", "utm_medium": "kol"}, "kol"),
        ({"utm_source": "douyin", "utm_medium": "livestream"}, "live_stream"),
        ({"utm_source": "expo2026", "utm_medium": "qr"}, "offline_event"),
        ({"utm_source": "newsletter", "utm_medium": "email"}, "email"),
        ({"utm_source": "weibo", "utm_medium": "social"}, "social"),
        ({"utm_source": "partner", "utm_medium": "referral"}, "referral"),
        ({"utm_source": "bing"}, "organic_search"),
        ({"utm_source": "xiaohongshu"}, "social"),
        ({"utm_source": "somewhere"}, "other"),
        ({"click_ids": {"gclid": "abc"}}, "paid_search"),
        ({"click_ids": {"msclkid": "abc"}, "referrer": "https://bing.com"}, "paid_search"),
        ({"click_ids": {"ttclid": "abc"}}, "paid_social"),
        ({"click_ids": {"fbclid": "abc"}}, "social"),
        # UTM wins over the referrer it came with
        ({"utm_source": "douyin", "utm_medium": "kol", "referrer": "https://google.com"}, "kol"),
    ],
)
def test_classify(kwargs, group):
    assert classify(**kwargs) == group
    # the memoised form ingestion uses agrees
    clicks = frozenset(k for k, v in (kwargs.get("click_ids") or {}).items() if v)
    cached = classify_cached(
        kwargs.get("utm_source"),
        kwargs.get("utm_medium"),
        host_of(kwargs.get("referrer")),
        clicks,
        kwargs.get("own_hosts", ()),
    )
    assert cached == group


def touch(minutes, channel, id_):
    return Touch(at=T0 + dt.timedelta(minutes=minutes), channel=channel, id=id_)


@pytest.mark.parametrize(
    ("minutes", "expected_sessions"),
    [
        ([0, 10, 39], [[0, 10, 39]]),  # gaps of 10 and 29 minutes: one session
        ([0, 30], [[0, 30]]),  # exactly 30 minutes is not "more than" the timeout
        ([0, 31], [[0], [31]]),
        ([0, 20, 60, 70, 200], [[0, 20], [60, 70], [200]]),
        ([50, 0, 20], [[0, 20, 50]]),  # order of arrival does not matter
    ],
)
def test_sessions_split_after_30_minutes(minutes, expected_sessions):
    sessions = sessionize([touch(m, "direct", i) for i, m in enumerate(minutes)])
    got = [[int((t.at - T0).total_seconds() // 60) for t in s.touches] for s in sessions]
    assert got == expected_sessions


def test_session_takes_channel_of_first_touch():
    sessions = sessionize([touch(0, "kol", 1), touch(5, "direct", 2), touch(100, "direct", 3)])
    assert [s.channel for s in sessions] == ["kol", "direct"]


def test_session_timeout_configurable():
    assert len(sessionize([touch(0, "kol", 1), touch(20, "kol", 2)], timeout_minutes=10)) == 2


def ev(days, type_, id_=0, channel="kol"):
    return FunnelEvent(at=T0 + dt.timedelta(days=days), type=type_, id=id_, channel=channel)


STEPS = ["live_view", "follow", "order"]
WINDOW = dt.timedelta(days=14)


@pytest.mark.parametrize(
    ("events", "depth"),
    [
        ([ev(0, "live_view"), ev(1, "follow"), ev(2, "order")], 3),
        ([ev(0, "live_view"), ev(1, "order"), ev(2, "follow")], 2),  # order before follow: stops at 2
        ([ev(0, "follow"), ev(1, "live_view"), ev(2, "order")], 1),  # follow came before the start
        ([ev(0, "live_view"), ev(1, "follow"), ev(15, "order")], 2),  # order outside the 14 days
        ([ev(0, "live_view"), ev(1, "follow"), ev(14, "order")], 3),  # exactly 14 days: inside
        ([ev(0, "follow"), ev(1, "order")], 0),  # never started
        # the second start reaches further: the person counts at depth 3
        ([ev(0, "live_view"), ev(20, "live_view"), ev(21, "follow"), ev(22, "order")], 3),
        ([ev(0, "live_view"), ev(0, "follow"), ev(0, "order")], 3),  # same instant, different steps
        ([ev(0, "live_view"), ev(1, "page_view"), ev(2, "follow"), ev(3, "order")], 3),  # others between
    ],
)
def test_person_depth(events, depth):
    assert person_depth(events, STEPS, WINDOW)[0] == depth


def test_same_type_steps_need_two_events():
    steps = ["page_view", "page_view"]
    assert person_depth([ev(0, "page_view", 1)], steps, WINDOW)[0] == 1
    assert person_depth([ev(0, "page_view", 1), ev(0, "page_view", 2)], steps, WINDOW)[0] == 1
    assert person_depth([ev(0, "page_view", 1), ev(1, "page_view", 2)], steps, WINDOW)[0] == 2


def test_funnel_counts_and_conversions_by_channel():
    people = {
        "a": [ev(0, "live_view", channel="kol"), ev(1, "follow"), ev(2, "order")],
        "b": [ev(0, "live_view", channel="kol"), ev(1, "follow")],
        "c": [ev(0, "live_view", channel="social")],
        "d": [ev(0, "live_view", channel="social"), ev(3, "follow")],
        "e": [ev(0, "follow"), ev(1, "order")],
    }
    result = funnel(people, STEPS)
    assert [s["count"] for s in result["steps"]] == [4, 3, 1]
    assert [s["step_conversion"] for s in result["steps"]] == [
        Decimal("1"),
        Decimal("0.75"),
        Decimal("0.3333"),
    ]
    assert [s["overall_conversion"] for s in result["steps"]] == [
        Decimal("1"),
        Decimal("0.75"),
        Decimal("0.25"),
    ]
    assert [s["count"] for s in result["by_channel"]["kol"]] == [2, 2, 1]
    assert [s["count"] for s in result["by_channel"]["social"]] == [2, 1, 0]


def test_funnel_needs_two_steps():
    with pytest.raises(ValueError):
        funnel({}, ["order"])


@pytest.mark.parametrize(
    ("revenue", "spend", "expected_roi", "expected_roas"),
    [
        ("300", "100", Decimal("2.0000"), Decimal("3.0000")),
        ("50", "100", Decimal("-0.5000"), Decimal("0.5000")),
        ("0", "100", Decimal("-1.0000"), Decimal("0.0000")),
        ("100", "0", None, None),  # no spend: undefined, not infinite
    ],
)
def test_roi_roas(revenue, spend, expected_roi, expected_roas):
    assert roi(Decimal(revenue), Decimal(spend)) == expected_roi
    assert roas(Decimal(revenue), Decimal(spend)) == expected_roas


def test_cpa_and_rate():
    assert cpa(Decimal("100"), Decimal("2.5")) == Decimal("40.00")
    assert cpa(Decimal("100"), 0) is None
    assert rate(1, 4) == Decimal("0.2500")
    assert rate(1, 0) is None

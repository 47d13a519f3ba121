"""The set-based SQL attribution and funnel give what the pure functions give (SQLite and
PostgreSQL), on generated journeys with ties, direct-only paths, gaps around the session timeout
and touches outside the window."""

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from crm_channel_tracking import sql
from crm_channel_tracking.attribution import MODELS, Touch, attribute
from crm_channel_tracking.funnels import FunnelEvent, funnel
from crm_channel_tracking.models import Conversion, Touchpoint
from crm_channel_tracking.sessions import sessionize

BASE = dt.datetime(2026, 3, 1)
CHANNELS = ["direct", "direct", "social", "kol", "paid_search", "referral"]
TYPES = ["page_view", "live_view", "follow", "order"]


def generate(seed=7, people=40):
    rng = random.Random(seed)
    touches, conversions = [], []
    for p in range(people):
        subject = f"v:p{p}"
        at = BASE + dt.timedelta(hours=rng.randint(0, 24 * 20))
        for _ in range(rng.randint(0, 12)):
            # gaps straddle the 30-minute timeout and the 30-day window; some exact ties
            at += rng.choice(
                [dt.timedelta(0), dt.timedelta(minutes=30), dt.timedelta(minutes=31)]
                + [dt.timedelta(minutes=rng.randint(1, 60 * 24 * 9))]
            )
            touches.append(
                {
                    "subject": subject,
                    "visitor_id": f"p{p}",
                    "event_type": rng.choice(TYPES),
                    "occurred_at": at,
                    "received_at": at,
                    "channel_group": rng.choice(CHANNELS),
                }
            )
        for _ in range(rng.randint(0, 2)):
            conv_at = BASE + dt.timedelta(days=rng.randint(5, 45), minutes=rng.randint(0, 1440))
            conversions.append((subject, conv_at, Decimal(rng.randint(1, 500))))
    # a person whose every touch is direct converts too
    for i in range(3):
        touches.append(
            {
                "subject": "v:direct_only",
                "visitor_id": "direct_only",
                "event_type": "page_view",
                "occurred_at": BASE + dt.timedelta(days=i * 2),
                "received_at": BASE,
                "channel_group": "direct",
            }
        )
    conversions.append(("v:direct_only", BASE + dt.timedelta(days=6), Decimal("99")))
    return touches, conversions


@pytest.fixture
def journeys(db):
    touches, conversions = generate()
    with db.atomic():
        Touchpoint.insert_many(touches).execute()
        for i, (subject, at, revenue) in enumerate(conversions):
            Conversion.create(
                order_ref=f"o{i}", subject=subject, revenue=revenue, occurred_at=at, currency="CNY"
            )
    by_subject = defaultdict(list)
    for t in Touchpoint.select():
        by_subject[t.subject].append(Touch(at=t.occurred_at, channel=t.channel_group, id=t.id))
    return by_subject


@pytest.mark.parametrize("days", [(0, 60), (33, 40)], ids=["all", "narrow"])
@pytest.mark.parametrize("model", MODELS)
def test_sql_credits_equal_pure_credits(db, journeys, model, days):
    # the narrow range leaves touches before "from - lookback - timeout": the session rule must
    # still be exact for the first touch the SQL reads
    date_from, date_to = BASE + dt.timedelta(days=days[0]), BASE + dt.timedelta(days=days[1])
    got = {}
    for conv_id, tp_id, _channel, _camp, _kol, _revenue, credit in sql.attribution_credits(
        db, date_from, date_to, model, "CNY", lookback_days=30, half_life_days=7, timeout_minutes=30
    ):
        got[(conv_id, tp_id)] = float(credit)
    expected = {}
    for conv in Conversion.select().where(
        Conversion.occurred_at >= date_from, Conversion.occurred_at < date_to
    ):
        starts = [s.start for s in sessionize(journeys.get(conv.subject, []), 30)]
        credits = attribute(starts, conv.occurred_at, model, lookback_days=30, half_life_days=7)
        if not credits:
            expected[(conv.id, None)] = 1.0
        for c in credits:
            expected[(conv.id, c.touch.id)] = c.credit
    assert expected and set(got) == set(expected)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    per_conversion = defaultdict(float)
    for (conv_id, _), value in got.items():
        per_conversion[conv_id] += value
    assert all(v == pytest.approx(1.0) for v in per_conversion.values())


def test_sql_totals_reconcile_revenue(db, journeys):
    totals = sql.attributed_totals(
        db, "channel", BASE, BASE + dt.timedelta(days=60), "time_decay", "CNY", 30, 7, 30
    )
    revenue = sum(float(c.revenue) for c in Conversion.select())
    assert sum(v[1] for v in totals.values()) == pytest.approx(revenue)
    assert sum(v[0] for v in totals.values()) == pytest.approx(Conversion.select().count())


@pytest.mark.parametrize(
    "steps",
    [["live_view", "follow", "order"], ["page_view", "order"], ["page_view", "page_view", "follow"]],
)
@pytest.mark.parametrize("window_days", [1, 14])
def test_sql_funnel_equals_pure_funnel(db, journeys, steps, window_days):
    date_from, date_to = BASE + dt.timedelta(days=3), BASE + dt.timedelta(days=25)
    people = defaultdict(list)
    for subject, touches in journeys.items():
        types = {t.id: t.event_type for t in Touchpoint.select().where(Touchpoint.subject == subject)}
        # sessions rebuilt from one day before the range, as the SQL does
        visible = [t for t in touches if t.at >= date_from - dt.timedelta(days=1)]
        for session in sessionize(visible, 30):
            for t in session.touches:
                people[subject].append(
                    FunnelEvent(at=t.at, type=types[t.id], id=t.id, channel=session.channel)
                )
    expected = funnel(people, steps, window_days, start_from=date_from, start_before=date_to)
    got = sql.funnel_counts(db, steps, date_from, date_to, window_days=window_days)
    expected_by_channel = {ch: [r["count"] for r in rows] for ch, rows in expected["by_channel"].items()}
    assert got == expected_by_channel
    assert sum(v[0] for v in got.values()) > 0

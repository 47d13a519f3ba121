"""Channel, campaign and KOL reports, and funnels split by channel.

Every figure comes from SQL aggregates (touchpoints and visitors by dimension, attributed
conversions and revenue from :mod:`.sql`, spend by day range), and every report states the model,
lookback window, half-life, session timeout and currency it used, because ROAS under one model is
not comparable with ROAS under another. Conversions in another currency are left out (no FX).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee as pw

from crm_core.plugin_api import database, reading_replica

from . import sql
from .classify import classify
from .funnels import step_table
from .metrics import MONEY_PLACES, cpa, rate, roas, roi
from .models import Campaign, Channel, Spend, Touchpoint

CONVERSION_PLACES = Decimal("0.0001")


def _dimension_column(dimension: str):
    return {"channel": Touchpoint.channel_group, "campaign": Touchpoint.campaign_id, "kol": Touchpoint.kol}[
        dimension
    ]


def _traffic(dimension: str, date_from: dt.datetime, date_to: dt.datetime) -> dict:
    column = _dimension_column(dimension)
    query = (
        Touchpoint.select(column, pw.fn.COUNT(Touchpoint.id), pw.fn.COUNT(Touchpoint.visitor_id.distinct()))
        .where(Touchpoint.occurred_at >= date_from, Touchpoint.occurred_at < date_to)
        .group_by(column)
        .tuples()
    )
    return {key: (count, visitors) for key, count, visitors in query}


def _spend(dimension: str, date_from: dt.date, date_to: dt.date, currency: str) -> dict:
    query = (
        Spend.select(
            Campaign.id,
            Campaign.kol,
            Channel.group,
            Campaign.utm_source,
            Campaign.utm_medium,
            pw.fn.SUM(Spend.amount),
        )
        .join(Campaign)
        .join(Channel, join_type=pw.JOIN.LEFT_OUTER, on=(Campaign.channel == Channel.id))
        .where(Spend.day >= date_from, Spend.day < date_to, Campaign.currency == currency)
        .group_by(Campaign.id, Campaign.kol, Channel.group, Campaign.utm_source, Campaign.utm_medium)
        .tuples()
    )
    out: dict = {}
    for campaign_id, kol, group, source, medium, amount in query:
        if dimension == "campaign":
            key = campaign_id
        elif dimension == "kol":
            key = kol
        else:
            key = group or classify(source, medium)
        out[key] = out.get(key, Decimal(0)) + Decimal(amount or 0)
    return out


def _labels(dimension: str, keys) -> dict:
    if dimension != "campaign":
        return {k: k for k in keys}
    ids = [k for k in keys if k is not None]
    names = (
        dict(Campaign.select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids)).tuples()) if ids else {}
    )
    return {k: names.get(k, k) for k in keys}


# a report tolerates a few seconds of lag: it reads from the replica when one is set
@reading_replica()
def channel_report(
    dimension: str,
    date_from: dt.date,
    date_to: dt.date,
    model: str,
    currency: str,
    lookback_days: int,
    half_life_days: int,
    timeout_minutes: int,
) -> dict:
    """The report for ``[date_from, date_to)`` (dates, UTC days) by ``channel``, ``campaign`` or
    ``kol`` under ``model``: one row per value with touchpoints, visitors, conversions, revenue,
    spend, conversion rate, ROI, ROAS and CPA, plus totals."""
    start = dt.datetime.combine(date_from, dt.time())
    end = dt.datetime.combine(date_to, dt.time())
    traffic = _traffic(dimension, start, end)
    attributed = sql.attributed_totals(
        database.obj, dimension, start, end, model, currency, lookback_days, half_life_days, timeout_minutes
    )
    spend = _spend(dimension, date_from, date_to, currency)
    keys = set(traffic) | set(attributed) | set(spend)
    labels = _labels(dimension, keys)
    rows = []
    totals = {
        "touchpoints": 0,
        "visitors": 0,
        "conversions": Decimal(0),
        "revenue": Decimal(0),
        "spend": Decimal(0),
    }
    for key in sorted(keys, key=lambda k: (k is None, str(k))):
        touchpoints, visitors = traffic.get(key, (0, 0))
        conversions, revenue = attributed.get(key, (0.0, 0.0))
        conversions = Decimal(repr(conversions)).quantize(CONVERSION_PLACES)
        revenue = Decimal(repr(revenue)).quantize(MONEY_PLACES)
        cost = spend.get(key, Decimal(0)).quantize(MONEY_PLACES)
        rows.append(_row(key, labels.get(key), touchpoints, visitors, conversions, revenue, cost))
        for name, value in (
            ("touchpoints", touchpoints),
            ("visitors", visitors),
            ("conversions", conversions),
            ("revenue", revenue),
            ("spend", cost),
        ):
            totals[name] += value
    # people are counted once in the total even when they came through several channels
    totals["visitors"] = (
        Touchpoint.select(pw.fn.COUNT(Touchpoint.visitor_id.distinct()))
        .where(Touchpoint.occurred_at >= start, Touchpoint.occurred_at < end)
        .scalar()
        or 0
    )
    return {
        "dimension": dimension,
        "date_from": date_from,
        "date_to": date_to,
        "model": model,
        "lookback_days": lookback_days,
        "half_life_days": half_life_days if model == "time_decay" else None,
        "session_timeout_minutes": timeout_minutes,
        "currency": currency,
        "rows": rows,
        "totals": _row(None, "total", **totals),
    }


def _row(key, label, touchpoints, visitors, conversions, revenue, spend) -> dict:
    return {
        "key": None if key is None else str(key),
        "label": None if label is None else str(label),
        "touchpoints": touchpoints,
        "visitors": visitors,
        "conversions": conversions,
        "revenue": revenue,
        "spend": spend,
        "conversion_rate": rate(conversions, visitors),
        "roi": roi(revenue, spend),
        "roas": roas(revenue, spend),
        "cpa": cpa(spend, conversions),
    }


@reading_replica()  # as the channel report
def funnel_report(
    steps: list[str], date_from: dt.date, date_to: dt.date, window_days: int, timeout_minutes: int
) -> dict:
    """Funnel counts and conversions for starts in ``[date_from, date_to)``, overall and by the
    channel of the session in which each person's funnel started."""
    start = dt.datetime.combine(date_from, dt.time())
    end = dt.datetime.combine(date_to, dt.time())
    by_channel = sql.funnel_counts(database.obj, steps, start, end, window_days, timeout_minutes)
    overall = [sum(counts[k] for counts in by_channel.values()) for k in range(len(steps))]
    return {
        "steps": step_table(overall, steps),
        "by_channel": [
            {"channel": channel, "steps": step_table(counts, steps)}
            for channel, counts in sorted(by_channel.items())
        ],
        "date_from": date_from,
        "date_to": date_to,
        "window_days": window_days,
        "session_timeout_minutes": timeout_minutes,
    }

"""Conversions: record a paid order and attribute it to the person's sessions under every model.

One conversion's path is small, so it is attributed with the pure functions (the same rules the
set-based SQL of the reports uses) and the credits of every model are stored; the configured
default model's result is announced as ``conversion.attributed`` (and, per credited channel, as
``attribution.assigned``, the name docs/events.md lists) for automation such as "came from a KOL
channel". Recording is idempotent on ``order_ref`` because ``order.paid`` is delivered at least once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm_core.plugin_api import database, emit, record_dict, record_written

from .attribution import DEFAULT_MODEL, MODELS, Touch, attribute
from .ingest import stitch
from .models import Conversion, Credit, Touchpoint
from .sessions import session_touches
from .settings import setting

CENT = Decimal("0.01")


def journey(
    subject: str, converted_at: dt.datetime, lookback_days: float, timeout_minutes: float
) -> list[Touch]:
    """The session starts of ``subject`` that may fall in a window ending at ``converted_at``
    (touches are read from ``lookback + timeout`` before, so the first session is judged right)."""
    since = converted_at - dt.timedelta(days=lookback_days, minutes=timeout_minutes)
    rows = (
        Touchpoint.select(
            Touchpoint.id,
            Touchpoint.occurred_at,
            Touchpoint.channel_group,
            Touchpoint.campaign_id,
            Touchpoint.kol,
        )
        .where(
            Touchpoint.subject == subject,
            Touchpoint.occurred_at >= since,
            Touchpoint.occurred_at <= converted_at,
        )
        .tuples()
    )
    touches = [Touch(at=at, channel=ch, id=tid, campaign_id=camp, kol=kol) for tid, at, ch, camp, kol in rows]
    return session_touches(touches, timeout_minutes)


def record_conversion(
    order_ref: str,
    revenue: Decimal,
    occurred_at: dt.datetime,
    customer_id: int | None = None,
    visitor_id: str | None = None,
    currency: str | None = None,
    source: str = "api",
    actor=None,
) -> tuple[Conversion, bool]:
    """Store and attribute a conversion; ``(conversion, created)``. A second call with the same
    ``order_ref`` returns the first conversion unchanged."""
    existing = Conversion.get_or_none(Conversion.order_ref == order_ref)
    if existing is not None:
        return existing, False
    lookback = float(setting("LOOKBACK_DAYS"))
    half_life = float(setting("HALF_LIFE_DAYS"))
    timeout = float(setting("SESSION_TIMEOUT_MINUTES"))
    currency = (currency or setting("CURRENCY")).upper()
    with database.atomic():
        if customer_id and visitor_id:
            stitch(visitor_id, customer_id)
        subject = f"c:{customer_id}" if customer_id else f"v:{visitor_id}"
        conversion = Conversion.create(
            order_ref=order_ref,
            subject=subject,
            customer_id=customer_id,
            visitor_id=visitor_id,
            revenue=revenue,
            currency=currency,
            occurred_at=occurred_at,
            source=source,
        )
        touches = journey(subject, occurred_at, lookback, timeout)
        rows, by_model = [], {}
        for model in MODELS:
            credits = attribute(touches, occurred_at, model, lookback, half_life)
            by_model[model] = credits
            for c in credits:
                rows.append(
                    {
                        "conversion": conversion.id,
                        "model": model,
                        "touchpoint_id": c.touch.id,
                        "channel_group": c.touch.channel,
                        "campaign_id": c.touch.campaign_id,
                        "kol": c.touch.kol,
                        "credit": c.credit,
                        "revenue": (revenue * Decimal(repr(c.credit))).quantize(CENT),
                    }
                )
        if rows:
            Credit.insert_many(rows).execute()
        # the core's write path: audit entry and outbox event in this transaction
        after = record_dict(conversion)
        after["credits"] = len(rows)
        record_written("create", "channel_tracking.conversions", conversion, actor, None, after)
        _announce(conversion, by_model[DEFAULT_MODEL], lookback, actor)
    return conversion, True


def _announce(conversion: Conversion, credits, lookback: float, actor) -> None:
    shares: dict[tuple, float] = {}
    for c in credits:
        if c.credit > 0:
            key = (c.touch.channel, c.touch.campaign_id, c.touch.kol)
            shares[key] = shares.get(key, 0.0) + c.credit
    data = {
        "conversion_id": conversion.id,
        "order_id": conversion.order_ref,
        "customer_id": conversion.customer_id,
        "visitor_id": conversion.visitor_id,
        "revenue": conversion.revenue,
        "currency": conversion.currency,
        "occurred_at": conversion.occurred_at,
        "model": DEFAULT_MODEL,
        "lookback_days": lookback,
        "channel": max(shares, key=shares.get)[0] if shares else None,
        "credits": [
            {"channel": ch, "campaign_id": camp, "kol": kol, "weight": f"{w:.4f}"}
            for (ch, camp, kol), w in sorted(shares.items(), key=lambda kv: -kv[1])
        ],
    }
    emit("conversion.attributed", data, actor=actor, resource="channel_tracking.conversions")
    if conversion.customer_id:
        for (channel, campaign_id, kol), weight in shares.items():
            emit(
                "attribution.assigned",
                {
                    "customer_id": conversion.customer_id,
                    "order_id": conversion.order_ref,
                    "channel": channel,
                    "campaign_id": campaign_id,
                    "kol": kol,
                    "model": DEFAULT_MODEL,
                    "weight": f"{weight:.4f}",
                },
                actor=actor,
                resource="channel_tracking.conversions",
            )


def from_order_paid(event) -> Conversion | None:
    """Record the conversion an ``order.paid`` event describes (docs/events.md); None when the
    payload lacks what attribution needs (it is logged by the caller, never retried forever)."""
    data = event.data or {}
    try:
        order_ref = str(data["order_id"])
        customer_id = int(data["customer_id"])
        revenue = Decimal(str(data["amount"])).quantize(CENT)
        paid_at = data.get("paid_at")
        if paid_at:
            at = dt.datetime.fromisoformat(str(paid_at).replace("Z", "+00:00"))
            occurred_at = at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at
        else:
            occurred_at = event.occurred_at
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return None
    conversion, _ = record_conversion(
        order_ref,
        revenue,
        occurred_at,
        customer_id=customer_id,
        visitor_id=data.get("visitor_id") or None,
        currency=data.get("currency"),
        source="event",
    )
    return conversion

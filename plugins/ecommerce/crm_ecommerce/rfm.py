"""RFM scores: recency, frequency and monetary value of a customer's paid orders, each 1..5.

Each dimension has four ascending thresholds (settings ``ECOMMERCE_RFM_RECENCY_DAYS``,
``ECOMMERCE_RFM_FREQUENCY``, ``ECOMMERCE_RFM_MONETARY``):

- recency: days since the last paid order; 5 within the first threshold, 4 within the second,
  3, 2, else 1 (fewer days, higher score);
- frequency and monetary: paid orders and net spend (total less refunds) in the last
  ``ECOMMERCE_RFM_WINDOW_DAYS``; 1 below the first threshold, +1 for each threshold reached.

A customer without a paid order scores 0 on all three (no score, not the lowest).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask import current_app
from peewee import fn

from .models import Order

#: statuses of a purchase that counts (a fully refunded or cancelled order does not)
COUNTED = ("paid", "shipped", "delivered", "partially_refunded")
CENT = Decimal("0.01")
BAND_SETTINGS = {
    "recency": "ECOMMERCE_RFM_RECENCY_DAYS",
    "frequency": "ECOMMERCE_RFM_FREQUENCY",
    "monetary": "ECOMMERCE_RFM_MONETARY",
}
DEFAULT_BANDS = {"recency": "30,90,180,365", "frequency": "2,3,5,10", "monetary": "500,1000,3000,10000"}


def parse_bands(text: str, name: str = "bands") -> tuple[Decimal, ...]:
    """Four strictly ascending non-negative numbers from ``"30,90,180,365"``; ``ValueError``
    naming ``name`` otherwise."""
    try:
        values = tuple(Decimal(part.strip()) for part in str(text).split(","))
    except InvalidOperation:
        raise ValueError(f"{name}: expected four numbers separated by commas, got {text!r}") from None
    if len(values) != 4 or any(v < 0 or not v.is_finite() for v in values):
        raise ValueError(f"{name}: expected four non-negative numbers, got {text!r}")
    if any(a >= b for a, b in zip(values, values[1:], strict=False)):
        raise ValueError(f"{name}: the thresholds must ascend, got {text!r}")
    return values


def bands() -> dict[str, tuple[Decimal, ...]]:
    """The configured thresholds of each dimension."""
    config = current_app.config
    return {
        dim: parse_bands(config.get(setting) or DEFAULT_BANDS[dim], setting)
        for dim, setting in BAND_SETTINGS.items()
    }


def recency_score(days: int | None, thresholds) -> int:
    """5 for a purchase within the first threshold's days ... 1 beyond the last; 0: none."""
    if days is None:
        return 0
    for i, limit in enumerate(thresholds):
        if days <= limit:
            return 5 - i
    return 1


def rising_score(value, thresholds) -> int:
    """1 below the first threshold, +1 for each threshold ``value`` reaches; 0 for no value."""
    if value is None or value <= 0:
        return 0
    return 1 + sum(1 for limit in thresholds if value >= limit)


def window_days() -> int:
    """Days of orders frequency and monetary count (0: all)."""
    return int(current_app.config.get("ECOMMERCE_RFM_WINDOW_DAYS", 365) or 0)


def figures(customer_ids: list[int], now: dt.datetime) -> dict[int, dict]:
    """Each customer's paid orders: ``orders``, ``spent``, ``avg_order``, ``max_order`` in the
    window, ``last_order_at`` and ``recency_days`` overall, and ``r``, ``f``, ``m``."""
    at = fn.COALESCE(Order.paid_at, Order.placed_at)
    paid = (Order.customer_id.in_(customer_ids)) & (Order.status.in_(COUNTED))
    last = dict(Order.select(Order.customer_id, fn.MAX(at)).where(paid).group_by(Order.customer_id).tuples())
    windowed = paid
    if window_days():
        windowed = paid & (at >= now - dt.timedelta(days=window_days()))
    rows = (
        Order.select(
            Order.customer_id, fn.COUNT(Order.id), fn.SUM(Order.total - Order.refunded), fn.MAX(Order.total)
        )
        .where(windowed)
        .group_by(Order.customer_id)
        .tuples()
    )
    stats = {cid: (n, spent, top) for cid, n, spent, top in rows}
    limits = bands()
    result = {}
    for cid in customer_ids:
        n, spent, top = stats.get(cid, (0, 0, 0))
        spent = Decimal(str(spent or 0)).quantize(CENT)
        last_at = last.get(cid)
        if isinstance(last_at, str):  # SQLite hands an aggregate of a datetime column back as text
            last_at = dt.datetime.fromisoformat(last_at)
        days = max(0, (now - last_at).days) if last_at is not None else None
        result[cid] = {
            "orders": n,
            "spent": spent,
            "avg_order": (spent / n).quantize(CENT) if n else Decimal("0.00"),
            "max_order": Decimal(str(top or 0)).quantize(CENT),
            "last_order_at": last_at,
            "recency_days": days,
            "r": recency_score(days, limits["recency"]),
            "f": rising_score(n, limits["frequency"]) if n else 0,
            "m": max(1, rising_score(spent, limits["monetary"])) if n else 0,  # refunded to 0: lowest
        }
    return result

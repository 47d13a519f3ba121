"""Return on spend: ROI, ROAS and cost per acquisition (reference notes, part B.6).

All take and return ``Decimal`` (money is never a float) and return None where the ratio is
undefined (no spend, no conversions) rather than inventing a zero or an infinity.
"""

from __future__ import annotations

from decimal import Decimal

RATIO_PLACES = Decimal("0.0001")
MONEY_PLACES = Decimal("0.01")


def _dec(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def roi(revenue, spend) -> Decimal | None:
    """ROI = (revenue - spend) / spend; None without spend."""
    spend = _dec(spend)
    if spend <= 0:
        return None
    return ((_dec(revenue) - spend) / spend).quantize(RATIO_PLACES)


def roas(revenue, spend) -> Decimal | None:
    """ROAS = revenue / spend; None without spend."""
    spend = _dec(spend)
    if spend <= 0:
        return None
    return (_dec(revenue) / spend).quantize(RATIO_PLACES)


def cpa(spend, conversions) -> Decimal | None:
    """Cost per acquisition = spend / conversions (attributed, so possibly fractional); None
    without conversions."""
    conversions = _dec(conversions)
    if conversions <= 0:
        return None
    return (_dec(spend) / conversions).quantize(MONEY_PLACES)


def rate(part, whole) -> Decimal | None:
    """``part / whole`` (conversion rates, funnel steps); None when ``whole`` is zero."""
    whole = _dec(whole)
    if whole <= 0:
        return None
    return (_dec(part) / whole).quantize(RATIO_PLACES)

"""How the screens print numbers: money with two decimals and thousands separators, ratios as
percentages, ROAS as a multiple, missing values (no spend, no conversions) as a dash."""

from __future__ import annotations

from decimal import Decimal

DASH = "—"


def money(value) -> str:
    """``1234.5`` -> ``1,234.50``; None -> dash."""
    if value is None or value == "":
        return DASH
    return f"{Decimal(str(value)):,.2f}"


def pct(value) -> str:
    """A ratio as a percentage (``0.1234`` -> ``12.34%``); None -> dash."""
    if value is None or value == "":
        return DASH
    return f"{Decimal(str(value)) * 100:,.2f}%"


def times(value) -> str:
    """ROAS as a multiple (``2.5`` -> ``2.50×``); None -> dash."""
    if value is None or value == "":
        return DASH
    return f"{Decimal(str(value)):,.2f}×"


def number(value, places: int = 2) -> str:
    """A count that may be fractional (attributed conversions): ``3.5000`` -> ``3.5``."""
    if value is None or value == "":
        return DASH
    d = Decimal(str(value))
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return f"{d:,.{places}f}".rstrip("0").rstrip(".")


def formatters() -> dict:
    """The functions templates use."""
    return {"ct_money": money, "ct_pct": pct, "ct_times": times, "ct_number": number}

"""Constants and helpers of the loyalty tests (a unique module name: conftest.py is not importable
when several plugins' tests run in one session)."""

from __future__ import annotations

import datetime as dt

L = "/api/v1/loyalty"

#: ids of the customers ``conftest.seeded_customers`` creates for every test that has an app
SEEDED_CUSTOMERS = (1, 2, 5, *range(11, 23), 31, 41, 42, 43, 50, 60, 61, 62, 63, 70, 71, 77, 500)

TIERS = [
    {
        "code": "silver",
        "name": "Silver",
        "rank": 10,
        "metric": "spend",
        "window": "rolling",
        "window_days": 365,
        "threshold": "0",
    },
    {
        "code": "gold",
        "name": "Gold",
        "rank": 20,
        "metric": "spend",
        "window": "rolling",
        "window_days": 365,
        "threshold": "1000",
        "multiplier": "1.5",
        "benefits": {"discount_rate": "0.05", "free_shipping": True},
    },
    {
        "code": "platinum",
        "name": "Platinum",
        "rank": 30,
        "metric": "spend",
        "window": "rolling",
        "window_days": 365,
        "threshold": "5000",
        "multiplier": "2",
        "benefits": {"discount_rate": "0.10", "free_shipping": True, "perks": ["lounge"]},
    },
]


def at(days: float) -> dt.datetime:
    """Now plus ``days`` (UTC, naive)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=days)

"""Shared setup of the loyalty tests: a programme with three tiers and earning rules."""

from __future__ import annotations

import pytest
from loyalty_testlib import TIERS, L


@pytest.fixture
def program(client, admin_headers):
    """Tiers silver/gold/platinum on rolling-365-day spend, 1 point per unit, and settings."""

    def setup(**settings):
        for tier in TIERS:
            r = client.post(f"{L}/tiers", json=tier, headers=admin_headers)
            assert r.status_code == 201, r.get_json()
        r = client.post(
            f"{L}/rules",
            json={"name": "1 point per yuan", "kind": "purchase", "rate": "1"},
            headers=admin_headers,
        )
        assert r.status_code == 201, r.get_json()
        if settings:
            r = client.patch(f"{L}/program", json=settings, headers=admin_headers)
            assert r.status_code == 200, r.get_json()
        return admin_headers

    return setup


@pytest.fixture
def purchase(client, admin_headers):
    """``purchase(customer_id, reference, amount)`` through POST /activities."""

    def buy(customer_id, reference, amount, headers=None, **extra):
        body = {
            "customer_id": customer_id,
            "kind": "purchase",
            "reference": reference,
            "amount": str(amount),
            **extra,
        }
        return client.post(f"{L}/activities", json=body, headers=headers or admin_headers)

    return buy

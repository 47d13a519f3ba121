"""Shared setup of the loyalty tests: a programme with three tiers and earning rules, and the
customers the tests enrol by id."""

from __future__ import annotations

import pytest
from loyalty_testlib import SEEDED_CUSTOMERS, TIERS, L


@pytest.fixture(autouse=True)
def seeded_customers(request):
    """Customers with the ids the tests enrol (members need an existing customer: a foreign key,
    and enrolment checks the actor can read it). Unowned, so only ``all``-scope readers (admins)
    see them; tests of row scopes create their own customers through the API."""
    if "app" not in request.fixturenames:
        return
    request.getfixturevalue("app")
    seed_customers(SEEDED_CUSTOMERS)


def seed_customers(ids) -> None:
    from crm_core.plugin_api import Customer, database, is_postgres, utcnow

    now = utcnow()
    with database.atomic():
        Customer.insert_many(
            [
                {"id": i, "name": f"Customer {i}", "created_at": now, "updated_at": now, "custom": {}}
                for i in ids
            ]
        ).execute()
        if is_postgres():  # explicit ids do not move the sequence: API-created customers come after
            database.execute_sql(
                "SELECT setval(pg_get_serial_sequence('customer', 'id'), MAX(id)) FROM customer"
            )


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

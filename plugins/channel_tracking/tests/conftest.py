"""Fixtures for the channel tracking tests: settings, an ingestion key, the customers the tests
name by id, and small helpers."""

import pytest
from channel_testlib import SEEDED_CUSTOMERS

ALLOWED = "shop.example.com,example.org"


@pytest.fixture(autouse=True)
def seeded_customers(request):
    """Unowned customers with the ids the tests use, for every test that has an app (only
    ``all``-scope readers, admins, see them)."""
    if "app" not in request.fixturenames:
        return
    request.getfixturevalue("app")
    from crm_core.plugin_api import Customer, database, is_postgres, utcnow

    now = utcnow()
    rows = [
        {"id": i, "name": f"Customer {i}", "created_at": now, "updated_at": now, "custom": {}}
        for i in SEEDED_CUSTOMERS
    ]
    with database.atomic():
        Customer.insert_many(rows).execute()
        if is_postgres():  # explicit ids do not move the sequence: API-created customers come after
            database.execute_sql(
                "SELECT setval(pg_get_serial_sequence('customer', 'id'), MAX(id)) FROM customer"
            )


@pytest.fixture
def app_config(app_config):
    """Redirects allowed to two test domains; rate limit high unless a test lowers it."""
    return {
        **app_config,
        "CHANNEL_TRACKING_REDIRECT_DOMAINS": ALLOWED,
        "CHANNEL_TRACKING_RATE_LIMIT": "10000/minute",
        "CHANNEL_TRACKING_CORS_ORIGINS": "https://shop.example.com",
    }


@pytest.fixture
def ingest_key(client, admin_headers):
    """A fresh write-only ingestion key created through the API."""
    r = client.post("/api/v1/channel-tracking/keys", json={"name": "web"}, headers=admin_headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["key"]


@pytest.fixture
def track(client, ingest_key):
    """``track(events)`` -> response of POST /api/v1/track/batch with the key."""

    def send(events, key=None):
        return client.post(
            "/api/v1/track/batch", json={"events": events}, headers={"X-Tracking-Key": key or ingest_key}
        )

    return send

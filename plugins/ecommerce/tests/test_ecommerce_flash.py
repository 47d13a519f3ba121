"""Flash sales: reservations hold stock for the sale's hold time (or ECOMMERCE_HOLD_MINUTES),
stop counting the moment they expire (before the job marks them), are confirmed by the order's
payment and released by its cancellation; racing reservers never oversell (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from crm_ecommerce.flash_models import FlashReservation
from ecommerce_testlib import E, apply_order, make_shop

from crm_core.plugin_api import database
from crm_core.testing import run_cli

F = f"{E}/flash-sales"


def _iso(delta_minutes: float) -> str:
    at = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=delta_minutes)
    return at.isoformat(timespec="seconds") + "Z"


def make_sale(client, headers, **fields):
    body = {
        "name": "双十一 tea",
        "sku": "TEA-1",
        "price": "9.90",
        "stock": 3,
        "per_customer_limit": 0,
        "starts_at": _iso(-5),
        "ends_at": _iso(60),
        **fields,
    }
    r = client.post(F, json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def customer(client, headers, email="li.na@example.com"):
    r = client.post("/api/v1/customers", json={"name": "李娜", "email": email}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def reserve(client, headers, sale, customer_id, quantity=1, **extra):
    body = {"customer_id": customer_id, "quantity": quantity, **extra}
    return client.post(f"{F}/{sale['id']}/reservations", json=body, headers=headers)


def sale_of(client, headers, sale):
    return client.get(f"{F}/{sale['id']}", headers=headers).get_json()


def tally(client, headers, sale) -> tuple[int, int, int]:
    """(reserved, sold, available) of the sale as the API reads them now."""
    data = sale_of(client, headers, sale)
    return data["reserved"], data["sold"], data["available"]


def _minutes(reservation) -> float:
    made = dt.datetime.fromisoformat(reservation["created_at"].rstrip("Z"))
    return (dt.datetime.fromisoformat(reservation["expires_at"].rstrip("Z")) - made).total_seconds() / 60


def test_holds_count_until_their_time_is_up_then_the_job_marks_them(app, client, admin_headers):
    buyer = customer(client, admin_headers)
    sale = make_sale(client, admin_headers, hold_minutes=10)
    first = reserve(client, admin_headers, sale, buyer, 2)
    assert first.status_code == 201 and round(_minutes(first.get_json())) == 10
    assert reserve(client, admin_headers, sale, buyer, 1).status_code == 201
    refused = reserve(client, admin_headers, sale, buyer, 1)
    assert refused.status_code == 409 and "quantity" in refused.get_json()["errors"]
    assert tally(client, admin_headers, sale) == (3, 0, 0)
    # the first hold's time is up: its units are available again at once, before any job ran
    FlashReservation.update(expires_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)).where(
        FlashReservation.id == first.get_json()["id"]
    ).execute()
    assert sale_of(client, admin_headers, sale)["available"] == 2
    assert reserve(client, admin_headers, sale, buyer, 2).status_code == 201
    # the job marks it expired; ten minutes on, it marks the others too
    assert "'expired': 1" in run_cli(app, "jobs", "run", "ecommerce:flash_expire").output
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)).strftime("%Y-%m-%dT%H:%M:%S")
    assert "'expired': 2" in run_cli(app, "jobs", "run", "ecommerce:flash_expire", "--at", later).output
    states = [
        r["status"] for r in client.get(f"{F}/{sale['id']}/reservations", headers=admin_headers).get_json()
    ]
    assert states == ["expired"] * 3


def test_default_hold_limits_key_and_a_closed_sale(client, admin_headers):
    buyer = customer(client, admin_headers)
    sale = make_sale(client, admin_headers, per_customer_limit=2)
    held = reserve(client, admin_headers, sale, buyer, 1, key="cart-7")
    assert held.status_code == 201 and round(_minutes(held.get_json())) == 15  # ECOMMERCE_HOLD_MINUTES
    again = reserve(client, admin_headers, sale, buyer, 1, key="cart-7")
    assert again.status_code == 200 and again.get_json()["id"] == held.get_json()["id"]
    assert reserve(client, admin_headers, sale, buyer, 1).status_code == 201
    over = reserve(client, admin_headers, sale, buyer, 1)
    assert over.status_code == 409 and over.get_json()["reason"] == "customer_limit"
    released = client.post(f"{F}/reservations/{held.get_json()['id']}/release", headers=admin_headers)
    assert released.get_json()["status"] == "released"
    assert reserve(client, admin_headers, sale, buyer, 1).status_code == 201
    closed = make_sale(client, admin_headers, starts_at=_iso(30))
    assert reserve(client, admin_headers, closed, buyer, 1).get_json()["reason"] == "closed"
    bad = client.post(
        F,
        json={"name": "x", "sku": "s", "price": "1", "stock": 1, "starts_at": _iso(5), "ends_at": _iso(1)},
        headers=admin_headers,
    )
    assert bad.status_code == 422 and "ends_at" in bad.get_json()["errors"], bad.get_json()


def test_payment_confirms_and_cancellation_releases(client, admin_headers):
    shop = make_shop(client, admin_headers)
    buyer = customer(client, admin_headers)
    sale = make_sale(client, admin_headers, shop_id=shop["id"])
    held = reserve(client, admin_headers, sale, buyer, 2).get_json()
    order = apply_order(client, admin_headers, shop, "f1", status="pending")
    assert sale_of(client, admin_headers, sale)["reserved"] == 2  # not paid yet
    apply_order(client, admin_headers, shop, "f1", updated_at="2026-11-01T11:00:00Z")  # paid, TEA-1 x2
    [confirmed] = client.get(f"{F}/{sale['id']}/reservations", headers=admin_headers).get_json()
    assert confirmed["id"] == held["id"] and confirmed["status"] == "confirmed"
    assert confirmed["order_id"] == order["id"]
    assert tally(client, admin_headers, sale) == (0, 2, 1)
    apply_order(client, admin_headers, shop, "f1", status="cancelled", updated_at="2026-11-01T12:00:00Z")
    assert tally(client, admin_headers, sale) == (0, 0, 3)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_racing_reservers_never_oversell(app, client, admin_headers):
    buyer = customer(client, admin_headers)
    sale = make_sale(client, admin_headers, stock=10)
    if not database.is_closed():
        database.close()  # the threads open their own connections
    statuses, lock = [], threading.Lock()
    start = threading.Barrier(30)

    def go():
        own = app.test_client()
        start.wait()
        r = reserve(own, admin_headers, sale, buyer, 1)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=go) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert statuses.count(201) == 10 and statuses.count(409) == 20, statuses
    assert sale_of(client, admin_headers, sale)["reserved"] == 10

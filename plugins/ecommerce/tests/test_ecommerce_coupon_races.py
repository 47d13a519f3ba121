"""Racing redemptions: 50 clients redeem one single-use code at once and exactly one wins; a
customer's limit holds when their redemptions race (both backends; PostgreSQL is the real race)."""

from __future__ import annotations

import threading

from ecommerce_testlib import C, apply_order, issue, make_shop, make_template

from crm_core.plugin_api import database


def _race(app, headers, bodies):
    """POST each body to /coupons/redeem from its own thread at once; the statuses."""
    if not database.is_closed():
        database.close()  # the threads open their own connections
    statuses, lock = [], threading.Lock()
    start = threading.Barrier(len(bodies))

    def go(body):
        own = app.test_client()
        start.wait()
        r = own.post(f"{C}/redeem", json=body, headers=headers)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=go, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return statuses


def test_fifty_concurrent_redemptions_of_one_single_use_code(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    orders = [
        apply_order(client, admin_headers, shop, f"o{i}", customer={"email": f"buyer{i}@example.com"})["id"]
        for i in range(50)
    ]
    [code] = issue(client, admin_headers, make_template(client, admin_headers)).get_json()
    statuses = _race(app, admin_headers, [{"code": code["code"], "order_id": o} for o in orders])
    assert statuses.count(201) == 1 and statuses.count(409) == 49, statuses
    [stored] = client.get(f"{C}/codes", query_string={"code": code["code"]}, headers=admin_headers).get_json()
    assert stored["uses"] == 1
    redemptions = client.get(f"{C}/redemptions", headers=admin_headers).get_json()
    assert len(redemptions) == 1


def test_a_customers_limit_holds_when_their_redemptions_race(app, client, admin_headers):
    shop = make_shop(client, admin_headers)
    buyer = {"external_id": "same-person", "email": "same@example.com"}
    orders = [apply_order(client, admin_headers, shop, f"o{i}", customer=buyer)["id"] for i in range(20)]
    template = make_template(client, admin_headers, per_customer_limit=3, uses_per_code=1000)
    [code] = issue(client, admin_headers, template).get_json()
    statuses = _race(app, admin_headers, [{"code": code["code"], "order_id": o} for o in orders])
    assert statuses.count(201) == 3 and statuses.count(409) == 17, statuses

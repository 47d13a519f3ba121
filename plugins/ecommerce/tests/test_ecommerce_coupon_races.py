"""Racing redemptions: 50 clients redeem one single-use code at once and exactly one wins; a
customer's limit holds when their redemptions race; a segment issue racing single issues takes
exactly the stock, and two runs of one segment at once issue each customer once (both backends;
PostgreSQL is the real race)."""

from __future__ import annotations

import threading

from crm_ecommerce import coupon_api
from ecommerce_testlib import C, apply_order, issue, make_shop, make_template

from crm_core.plugin_api import database
from crm_core.testing import follow_task


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


def _at_once(jobs):
    """Run each callable from its own thread at once; their results in the jobs' order."""
    if not database.is_closed():
        database.close()  # the threads open their own connections
    results = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def go(i):
        start.wait()
        results[i] = jobs[i]()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def _vip_segment(client, headers, count: int) -> tuple[int, list[int]]:
    ids = []
    for i in range(count):
        r = client.post(
            "/api/v1/customers", json={"name": f"VIP {i}", "source_channel": "vip"}, headers=headers
        )
        ids.append(r.get_json()["id"])
    r = client.post(
        "/api/v1/segments", json={"name": "VIPs", "filters": {"source_channel": "vip"}}, headers=headers
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"], ids


def _task(client, headers, queued):
    r = client.get(queued.headers["Location"], headers=headers)
    assert r.status_code == 200
    return r.get_json()


def test_a_segment_issue_racing_single_issues_never_oversells(app, client, admin_headers, monkeypatch):
    monkeypatch.setattr(coupon_api, "CHUNK", 3)
    segment_id, customers = _vip_segment(client, admin_headers, 18)
    template = make_template(client, admin_headers, total_quantity=20)
    queued = issue(client, admin_headers, template, segment_id=segment_id)
    assert queued.status_code == 202

    def run_segment():
        follow_task(app.test_client(), queued, admin_headers)

    def single(customer_id):
        return lambda: issue(app.test_client(), admin_headers, template, customer_id=customer_id).status_code

    statuses = _at_once([run_segment, *[single(c) for c in customers[:10]]])[1:]

    task = _task(client, admin_headers, queued)
    assert task["status"] == "done", task
    result = task["result"]
    codes = client.get(
        f"{C}/codes", query_string={"template_id": template["id"], "page_size": 200}, headers=admin_headers
    ).get_json()
    # 28 asked for 20: exactly the stock went out, each code counted once
    assert len(codes) == 20 and statuses.count(201) + result["issued"] == 20, (statuses, result)
    assert (
        set(statuses) <= {201, 409} and result["stopped"] == "Every coupon of this template has been issued."
    )
    stored = client.get(f"{C}/templates/{template['id']}", headers=admin_headers).get_json()
    assert stored["issued"] == 20
    from_segment = [c["customer_id"] for c in codes if c["issued_by"] == f"segment:{segment_id}"]
    assert len(from_segment) == len(set(from_segment)) == result["issued"]


def test_two_runs_of_one_segment_at_once_issue_each_customer_once(app, client, admin_headers, monkeypatch):
    monkeypatch.setattr(coupon_api, "CHUNK", 2)
    segment_id, customers = _vip_segment(client, admin_headers, 12)
    template = make_template(client, admin_headers)
    queued = [issue(client, admin_headers, template, segment_id=segment_id) for _ in range(2)]
    assert [q.status_code for q in queued] == [202, 202]

    # each thread runs whatever task is queued (one each when they overlap, both when one is quick)
    _at_once([lambda q=q: follow_task(app.test_client(), q, admin_headers) for q in queued])

    tasks = [_task(client, admin_headers, q) for q in queued]
    assert [t["status"] for t in tasks] == ["done", "done"], tasks
    assert sum(t["result"]["issued"] for t in tasks) == 12
    assert sum(t["result"]["skipped"] for t in tasks) == 12
    codes = client.get(
        f"{C}/codes", query_string={"template_id": template["id"], "page_size": 200}, headers=admin_headers
    ).get_json()
    assert sorted(c["customer_id"] for c in codes) == sorted(customers)
    stored = client.get(f"{C}/templates/{template['id']}", headers=admin_headers).get_json()
    assert stored["issued"] == 12

"""Racing redemptions: 50 threads spend one balance at once; the total never exceeds it."""

from __future__ import annotations

import threading

from loyalty_testlib import L

from crm_core.plugin_api import database


def test_fifty_concurrent_redemptions_never_overspend(app, client, admin_headers):
    assert client.post(f"{L}/members", json={"customer_id": 500}, headers=admin_headers).status_code == 201
    body = {"points": 1000, "reference": "seed", "reason": "balance to race for"}
    assert client.post(f"{L}/members/500/adjust", json=body, headers=admin_headers).status_code == 201
    if not database.is_closed():
        database.close()  # the threads open their own connections

    statuses: list[int] = []
    start = threading.Barrier(50)
    lock = threading.Lock()

    def redeem(i):
        own = app.test_client()
        start.wait()
        r = own.post(
            f"{L}/members/500/redeem", json={"points": 30, "reference": f"race-{i}"}, headers=admin_headers
        )
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=redeem, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert sorted(set(statuses)) == [201, 409], statuses
    won = statuses.count(201)
    assert won == 1000 // 30  # every redemption that fits succeeds, none beyond
    points = client.get(f"{L}/members/500", headers=admin_headers).get_json()["points"]
    assert points["balance"] == 1000 - 30 * won == points["active"] >= 0
    assert points["spent"] == 30 * won

"""No update is lost under concurrency (issue 13), through the public HTTP API on SQLite and
PostgreSQL: 20 real threads, each with its own test client (and so its own database connection),
released together by a barrier.

- One ETag in ``If-Match`` on 20 concurrent PATCHes: exactly one 200, the other 19 get 412.
- 20 concurrent PATCHes of different custom-field keys, or of different columns, without
  ``If-Match``: every change is there afterwards (PATCH writes only what it changes, custom keys
  merge under the row lock, and SQLite writers serialise on ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import threading

import pytest

API = "/api/v1"
N = 20


def run_concurrently(app, requests):
    """Send ``requests`` (each ``(method, url, kwargs)``) from one thread apiece, all released at
    once; returns the responses' (status, json) in the order of ``requests``."""
    barrier = threading.Barrier(len(requests))
    results: list = [None] * len(requests)

    def worker(i, method, url, kwargs):
        client = app.test_client()
        try:
            barrier.wait(timeout=30)
            r = getattr(client, method)(url, **kwargs)
            results[i] = (r.status_code, r.get_json())
        except Exception as exc:  # reported by the assertions below, not swallowed
            results[i] = ("error", repr(exc))

    # the main thread's connection is not needed while the workers run (PostgreSQL pool slots)
    db = app.extensions["crm"].db
    if not db.is_closed():
        db.close()
    threads = [
        threading.Thread(target=worker, args=(i, method, url, kwargs))
        for i, (method, url, kwargs) in enumerate(requests)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request never finished"
    return results


def define_string_fields(client, headers, names):
    for name in names:
        r = client.post(f"{API}/fields/customers", json={"name": name, "type": "string"}, headers=headers)
        assert r.status_code == 201, r.get_json()


def make_customer(client, headers, **body):
    r = client.post(f"{API}/customers", json={"name": "racer", **body}, headers=headers)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"], r.headers["ETag"]


def test_concurrent_patches_with_one_etag_exactly_one_wins(app, client, admin_headers):
    cid, etag = make_customer(client, admin_headers)
    url = f"{API}/customers/{cid}"
    headers = {**admin_headers, "If-Match": etag}
    results = run_concurrently(
        app, [("patch", url, {"json": {"name": f"writer {i:02d}"}, "headers": headers}) for i in range(N)]
    )

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [412] * (N - 1), results
    winner = next(body for status, body in results if status == 200)
    final = client.get(url, headers=admin_headers)
    assert final.get_json()["name"] == winner["name"]
    for status, body in results:
        if status == 412:
            assert body["etag"] == final.headers["ETag"]  # the losers are told the winner's ETag


def test_concurrent_deletes_with_one_etag_exactly_one_wins(app, client, admin_headers):
    cid, etag = make_customer(client, admin_headers)
    url = f"{API}/customers/{cid}"
    headers = {**admin_headers, "If-Match": etag}
    results = run_concurrently(app, [("delete", url, {"headers": headers}) for _ in range(N)])

    statuses = [status for status, _ in results]
    assert statuses.count(204) == 1, results
    # the others find the record gone (404) once the winner committed
    assert sorted(statuses) == [204] + [404] * (N - 1), results
    assert client.get(url, headers=admin_headers).status_code == 404


def test_concurrent_patches_of_different_custom_keys_all_land(app, client, admin_headers):
    keys = [f"k{i:02d}" for i in range(N)]
    define_string_fields(client, admin_headers, keys)
    cid, _ = make_customer(client, admin_headers)
    url = f"{API}/customers/{cid}"
    results = run_concurrently(
        app,
        [("patch", url, {"json": {"custom": {key: f"v-{key}"}}, "headers": admin_headers}) for key in keys],
    )

    assert [status for status, _ in results] == [200] * N, results
    custom = client.get(url, headers=admin_headers).get_json()["custom"]
    assert custom == {key: f"v-{key}" for key in keys}


def test_concurrent_patches_of_different_columns_all_land(app, client, admin_headers):
    # a customer has seven writable columns; the other thirteen writers take a custom key each,
    # so every one of the twenty requests changes something no other request touches
    columns = {
        "name": "renamed",
        "phone": "+8613800138000",
        "email": "racer@example.com",
        "gender": "female",
        "birthday": "1990-05-17",
        "source_channel": "wechat",
        "lifecycle_stage": "vip",
    }
    keys = [f"c{i:02d}" for i in range(N - len(columns))]
    define_string_fields(client, admin_headers, keys)
    cid, _ = make_customer(client, admin_headers, custom={"c00": "old"})
    url = f"{API}/customers/{cid}"
    bodies = [{name: value} for name, value in columns.items()]
    bodies += [{"custom": {key: f"v-{key}"}} for key in keys]
    assert len(bodies) == N
    results = run_concurrently(app, [("patch", url, {"json": b, "headers": admin_headers}) for b in bodies])

    assert [status for status, _ in results] == [200] * N, results
    final = client.get(url, headers=admin_headers).get_json()
    assert {name: final[name] for name in columns} == columns
    assert final["custom"] == {key: f"v-{key}" for key in keys}


def test_concurrent_patches_of_different_columns_only(app, client, admin_headers):
    # columns alone (no custom keys): each of the seven writers changes one column, three times
    # over with the same value, so no two requests disagree about any column
    columns = {
        "name": "renamed",
        "phone": "+8613800138001",
        "email": "cols@example.com",
        "gender": "male",
        "birthday": "1985-01-02",
        "source_channel": "store",
        "lifecycle_stage": "customer",
    }
    cid, _ = make_customer(client, admin_headers)
    url = f"{API}/customers/{cid}"
    bodies = [{name: value} for name, value in columns.items()] * 3
    results = run_concurrently(app, [("patch", url, {"json": b, "headers": admin_headers}) for b in bodies])

    assert [status for status, _ in results] == [200] * len(bodies), results
    final = client.get(url, headers=admin_headers).get_json()
    assert {name: final[name] for name in columns} == columns


def test_a_writer_that_read_before_another_keeps_the_others_changes(app, client, admin_headers, make_user):
    # the service's other callers (web forms, automations) read the record without its lock:
    # only what they change is written, and custom keys merge with what is stored
    from crm_core.api.customers import crud
    from crm_core.auth import actor_for_user
    from crm_core.entities.models import Customer
    from crm_core.records import service

    define_string_fields(client, admin_headers, ["a", "b", "gone"])
    cid, _ = make_customer(client, admin_headers, custom={"gone": "x"})
    stale = Customer.get_by_id(cid)
    r = client.patch(
        f"{API}/customers/{cid}",
        json={"gender": "other", "custom": {"a": "from-api"}},
        headers=admin_headers,
    )
    assert r.status_code == 200, r.get_json()

    actor = actor_for_user(make_user("stale_writer")[0])
    service.update(
        "customers",
        stale,
        {"name": "late", "custom": {"b": "late", "gone": None}},
        actor,
        **crud.write_options,
    )
    final = client.get(f"{API}/customers/{cid}", headers=admin_headers).get_json()
    assert (final["name"], final["gender"]) == ("late", "other")
    assert final["custom"] == {"a": "from-api", "b": "late"}


def test_sqlite_writers_wait_for_the_lock(app, db):
    # every connection (one per thread) waits this long for SQLite's write lock instead of failing
    if db.__class__.__name__ != "SqliteDatabase":
        pytest.skip("SQLite only")
    seen = []

    def read():
        seen.append(db.execute_sql("PRAGMA busy_timeout").fetchone()[0])
        db.close()

    t = threading.Thread(target=read)
    t.start()
    t.join()
    assert seen[0] >= 5000

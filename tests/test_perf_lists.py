"""Lists count up to a cap (then say "at least") and page by cursor (``?after=``) as well as by
number: the same rows in the same order, deep pages as cheap as the first."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from crm_core.entities.models import Customer

CAP = 5


@pytest.fixture
def app_config(app_config):
    return {**app_config, "LIST_COUNT_CAP": CAP}


@pytest.fixture
def seeded(app, admin_headers):
    """12 customers; some share a creation time, so only the id breaks their tie."""
    start = dt.datetime(2026, 1, 1, 9, 0, 0)
    with app.app_context():
        Customer.insert_many(
            [
                {"name": f"Person {i:02d}", "created_at": start + dt.timedelta(minutes=i // 3), "custom": {}}
                for i in range(12)
            ]
        ).execute()
    return admin_headers


def _meta(r) -> dict:
    assert r.status_code == 200, r.get_json()
    return json.loads(r.headers["X-Pagination"])


def test_total_is_exact_up_to_the_cap_then_a_lower_bound(client, seeded):
    meta = _meta(client.get("/api/v1/customers?name__contains=Person 0&page_size=3", headers=seeded))
    # ten "Person 0x" rows, counted only to the cap
    assert meta["total_at_least"] is True and meta["total"] == CAP and meta["next_page"] == 2
    few = _meta(client.get("/api/v1/customers?name=Person 01&name=Person 02", headers=seeded))
    assert few["total"] == 2 and "total_at_least" not in few
    # a page past the cap: counted to its end, and the next page is announced
    deep = _meta(client.get("/api/v1/customers?page=3&page_size=3", headers=seeded))
    assert deep["total"] == 9 and deep["total_at_least"] is True and deep["next_page"] == 4


@pytest.mark.parametrize("sort", ["", "name", "-name,created_at", "created_at,-id"])
def test_cursor_pages_follow_the_numbered_pages(client, seeded, sort):
    every = client.get(f"/api/v1/customers?sort={sort}&page_size=200", headers=seeded).get_json()
    seen, after = [], ""
    for _ in range(10):
        r = client.get(f"/api/v1/customers?sort={sort}&page_size=5&after={after}", headers=seeded)
        seen += [c["id"] for c in r.get_json()]
        after = _meta(r).get("next_after")
        if not after:
            break
    assert seen == [c["id"] for c in every] and len(seen) == 12


def test_bad_cursors_answer_400_in_the_callers_language(client, seeded):
    r = client.get("/api/v1/customers?page_size=5", headers=seeded)
    cursor = _meta(r)["next_after"]
    tampered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    bad = client.get(f"/api/v1/customers?after={tampered}", headers=seeded)
    assert bad.status_code == 400 and "after" in bad.get_json()["errors"]
    other = client.get(f"/api/v1/customers?sort=name&after={cursor}", headers=seeded)
    assert other.status_code == 400 and "another list or sort" in other.get_json()["errors"]["after"][0]
    both = client.get(f"/api/v1/customers?page=2&after={cursor}", headers=seeded)
    assert both.status_code == 400
    zh = client.get(f"/api/v1/customers?after={tampered}", headers={**seeded, "Accept-Language": "zh-CN"})
    assert zh.status_code == 400 and "游标" in zh.get_json()["errors"]["after"][0]
    # a sort on a field that may be empty pages by number only
    nullable = client.get(f"/api/v1/customers?sort=email&after={cursor}", headers=seeded)
    assert nullable.status_code == 400 and "page numbers" in nullable.get_json()["errors"]["after"][0]


def test_no_custom_field_takes_the_cursor_parameter_name(client, admin_headers):
    r = client.post("/api/v1/fields/customers", json={"name": "after", "type": "text"}, headers=admin_headers)
    assert r.status_code == 422 and "name" in r.get_json()["errors"]

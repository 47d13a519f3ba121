"""No side door: linked records, the customer timeline, search, counts, segments and filters obey
the same row scopes and field rules as the objects' own endpoints; SQL metacharacters in filters
are plain data."""

from __future__ import annotations

import json

import pytest

from crm_core.auth.models import Role
from crm_core.directory.departments import create_department
from crm_core.permissions.models import FieldRule, Grant


@pytest.fixture
def two_branches(client, make_user, admin_headers):
    north, south = create_department("north"), create_department("south")
    _n, north_sales = make_user("north_sales", roles=("sales",), department_id=north.id)
    mine = client.post(
        "/api/v1/customers", json={"name": "North Co", "phone": "+8613800000001"}, headers=north_sales
    )
    theirs = client.post(
        "/api/v1/customers",
        json={"name": "South Secret", "phone": "+8613800000002", "department_id": south.id},
        headers=admin_headers,
    )
    assert mine.status_code == 201 and theirs.status_code == 201
    mine, theirs = mine.get_json(), theirs.get_json()
    for customer, dept in ((mine, north), (theirs, south)):
        r = client.post(
            "/api/v1/activities",
            json={
                "kind": "call",
                "subject": f"call {customer['name']}",
                "customer_id": customer["id"],
                "department_id": dept.id,
            },
            headers=admin_headers,
        )
        assert r.status_code == 201, r.get_json()
    return {
        "north": north,
        "south": south,
        "sales": north_sales,
        "admin": admin_headers,
        "mine": mine,
        "theirs": theirs,
    }


def test_timeline_of_a_customer_outside_scope_is_404(client, two_branches):
    w = two_branches
    assert client.get(f"/api/v1/customers/{w['mine']['id']}/timeline", headers=w["sales"]).status_code == 200
    r = client.get(f"/api/v1/customers/{w['theirs']['id']}/timeline", headers=w["sales"])
    assert r.status_code == 404 and "South" not in r.get_data(as_text=True)


def test_linked_activities_follow_their_own_scope(client, two_branches):
    w = two_branches
    r = client.get(f"/api/v1/activities?customer_id={w['theirs']['id']}", headers=w["sales"])
    assert r.status_code == 200 and r.get_json() == []
    subjects = [a["subject"] for a in client.get("/api/v1/activities", headers=w["sales"]).get_json()]
    assert subjects == ["call North Co"]


@pytest.mark.parametrize(
    "query", ["q=South", "q=Secret", "name=South%20Secret", "phone=%2B8613800000002", "name__contains=South"]
)
def test_search_and_filters_do_not_reveal_out_of_scope_rows(client, two_branches, query):
    w = two_branches
    r = client.get(f"/api/v1/customers?{query}", headers=w["sales"])
    assert r.status_code == 200 and r.get_json() == []
    assert json.loads(r.headers["X-Pagination"])["total"] == 0


def test_hidden_field_cannot_be_probed_through_filters_or_sort(client, two_branches):
    role = Role.create(name="no_phone")
    Grant.create(role=role, resource="customers", action="read", scope="all")
    FieldRule.create(role=role, resource="customers", field="phone", rule="hidden")
    from crm_core.auth import create_user, issue_token
    from crm_core.testing import TEST_PASSWORD

    user = create_user("phoneless", TEST_PASSWORD, roles=("no_phone",))
    headers = {"Authorization": f"Bearer {issue_token(user)[0]}"}
    listed = client.get("/api/v1/customers", headers=headers)
    assert listed.status_code == 200 and all("phone" not in c for c in listed.get_json())
    # filtering or sorting on a hidden field would leak it bit by bit: refused or ignored, never answered
    for query in (
        "phone=%2B8613800000002",
        "phone__contains=0002",
        "phone__in=%2B8613800000002",
        "sort=phone",
    ):
        r = client.get(f"/api/v1/customers?{query}", headers=headers)
        assert r.status_code in (400, 403) and "phone" in r.get_data(as_text=True), (query, r.status_code)


METACHARACTERS = [
    "' OR '1'='1",
    "1; DROP TABLE customer; --",
    "%",
    "_",
    "\\",
    '"',
    "*/ OR 1=1 /*",
    "1) OR (1=1",
    "$1",
]


@pytest.mark.parametrize(
    "field",
    [
        "q",
        "name",
        "name__contains",
        "email",
        "phone",
        "source_channel__in",
        "id",
        "created_at__gte",
        "sort",
        "department_id",
    ],
)
def test_sql_metacharacters_in_filters_are_data(client, two_branches, field):
    w = two_branches
    for value in METACHARACTERS:
        r = client.get("/api/v1/customers", query_string={field: value}, headers=w["sales"])
        assert r.status_code in (200, 400, 422), (value, r.get_data(as_text=True)[:200])
        if r.status_code == 200:
            assert all(c["name"] != "South Secret" for c in r.get_json()), value
    assert client.get("/api/v1/customers", headers=w["admin"]).status_code == 200  # table intact


def test_nul_character_in_list_filters_is_a_client_error(client, two_branches):
    r = client.get("/api/v1/customers", query_string={"name": "a\x00b"}, headers=two_branches["sales"])
    assert r.status_code in (400, 422) and r.get_json()["code"] == r.status_code


@pytest.mark.parametrize(
    "path, query",
    [
        ("/api/v1/audit", {"resource": "a\x00b"}),
        ("/api/v1/users", {"q": "a\x00b"}),
    ],
)
def test_nul_character_in_identity_filters_is_422(client, admin_headers, path, query):
    r = client.get(path, query_string=query, headers=admin_headers)
    assert r.status_code == 422 and r.get_json()["errors"]

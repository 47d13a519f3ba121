"""Lists as flask-smorest documents them: every filter and sort of a collection in OpenAPI, one
pager (the same ``X-Pagination`` shape on CRUD lists, identity lists and ``@blp.paginate`` lists),
and the list grammar's 400s unchanged (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest

PAGINATION_KEYS = {"total", "total_pages", "first_page", "last_page", "page", "page_size"}


def _parameters(client, path: str) -> dict[str, dict]:
    document = client.get("/api/v1/openapi.json").get_json()
    return {p["name"]: p for p in document["paths"][path]["get"]["parameters"] if p["in"] == "query"}


def _sort_choices(parameter: dict) -> set[str]:
    return set(parameter["schema"]["items"]["enum"])


def test_openapi_lists_the_filters_and_sorts_of_customers(client):
    params = _parameters(client, "/api/v1/customers")
    for name in (
        "source_channel",
        "lifecycle_stage",
        "owner_id",
        "created_at",
        "tag",
        "q",
        "page",
        "page_size",
    ):
        assert name in params, name
    assert params["created_at"]["schema"]["format"] == "date-time"
    assert params["owner_id"]["schema"]["type"] == "integer"
    assert params["page_size"]["schema"]["maximum"] == 200
    assert "__gte" in params["source_channel"]["description"]
    choices = _sort_choices(params["sort"])
    assert {"name", "-name", "lifecycle_stage", "-created_at"} <= choices
    # nothing secret is offered to filter or sort on
    assert "custom" not in params and "custom" not in choices


def test_openapi_lists_the_filters_and_sorts_of_a_plugin_collection(client):
    params = _parameters(client, "/api/v1/loyalty/tiers")
    for name in ("code", "rank", "metric", "window", "threshold"):
        assert name in params, name
    assert params["rank"]["schema"]["type"] == "integer"
    assert {"rank", "-rank", "code"} <= _sort_choices(params["sort"])
    assert "benefits" not in params  # a JSON column is not filterable


def test_openapi_documents_one_pagination_header_for_every_list(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/customers", "/api/v1/events", "/api/v1/users", "/api/v1/loyalty/tiers"):
        headers = document["paths"][path]["get"]["responses"]["200"]["headers"]
        assert "page_size" in headers["X-Pagination"]["description"], path


def test_every_pager_sends_the_same_header_shape(client, admin_headers):
    for index in range(3):
        r = client.post("/api/v1/customers", json={"name": f"Pager {index}"}, headers=admin_headers)
        assert r.status_code == 201
    shapes = {}
    for path in ("/api/v1/customers", "/api/v1/events", "/api/v1/users", "/api/v1/roles"):
        r = client.get(path, query_string={"page_size": 2}, headers=admin_headers)
        assert r.status_code == 200, (path, r.get_json())
        meta = json.loads(r.headers["X-Pagination"])
        assert set(meta) >= PAGINATION_KEYS, (path, meta)
        assert meta["page"] == 1 and meta["page_size"] == 2 and meta["first_page"] == 1
        assert len(r.get_json()) == min(2, meta["total"])
        assert ("next_page" in meta) == (meta["total"] > 2)
        shapes[path] = set(meta) - {"next_page", "previous_page", "next_after"}  # where they apply
    assert len({frozenset(shape) for shape in shapes.values()}) == 1, shapes


def test_an_empty_page_has_the_same_header_on_both_pagers(client, admin_headers):
    one = client.get("/api/v1/customers?name=nobody-at-all", headers=admin_headers)
    two = client.get("/api/v1/events?type=nothing.happened", headers=admin_headers)
    assert (
        json.loads(one.headers["X-Pagination"])
        == json.loads(two.headers["X-Pagination"])
        == {
            "total": 0,
            "total_pages": 1,
            "first_page": 1,
            "last_page": 1,
            "page": 1,
            "page_size": 20,
        }
    )


def test_the_list_grammar_still_answers_400_naming_the_parameter(client, admin_headers):
    cases = {
        "no_such_field=1": "no_such_field",
        "owner_id=abc": "owner_id",
        "created_at__gte=yesterday": "created_at__gte",
        "sort=nope": "sort",
        "page_size=500": "page_size",
        "lifecycle_stage__between=a": "lifecycle_stage__between",
    }
    for query, name in cases.items():
        r = client.get(f"/api/v1/customers?{query}", headers=admin_headers)
        assert r.status_code == 400, query
        assert name in r.get_json()["errors"], (query, r.get_json())


@pytest.mark.parametrize("value", ["5.8100518875591145e+271", "1e14", "-1e14"])
def test_a_decimal_filter_beyond_its_column_is_a_400_not_a_500(client, admin_headers, value):
    # amount is NUMERIC(16, 2): no stored value reaches 10^14, and rounding such a value to two
    # places overflowed when the query ran (the fuzz found it)
    r = client.get("/api/v1/deals", query_string={"amount": value}, headers=admin_headers)
    assert r.status_code == 400 and "amount" in r.get_json()["errors"], r.get_json()
    within = client.get(
        "/api/v1/deals", query_string={"amount__lt": "99999999999999.99"}, headers=admin_headers
    )
    assert within.status_code == 200, within.get_json()


def test_documented_filters_work(client, admin_headers):
    for name, channel in (("Wechat one", "wechat"), ("Douyin one", "douyin")):
        body = {"name": name, "source_channel": channel, "lifecycle_stage": "customer"}
        assert client.post("/api/v1/customers", json=body, headers=admin_headers).status_code == 201
    r = client.get(
        "/api/v1/customers?source_channel=wechat&lifecycle_stage=customer&sort=name", headers=admin_headers
    )
    assert [c["name"] for c in r.get_json()] == ["Wechat one"]

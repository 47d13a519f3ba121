"""The GraphQL endpoint's edges: depth and cost limits refuse with a clear 400 naming the setting
(fragments, aliases and variables counted too); requests that cannot run answer 400, a missing
token 401, and the REST rate limit counts GraphQL calls; and a fuzz of valid queries generated
from a reader's own schema never gets a server error nor a record outside the reader's scope."""

from __future__ import annotations

import json

import pytest
from graphql import build_client_schema, get_introspection_query, print_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries

from crm_core.testing import user_with_token

API = "/api/v1/graphql"
SECRET = "not-for-reps"


def run(client, headers, query, variables=None):
    return client.post(API, json={"query": query, "variables": variables}, headers=headers)


class TestLimits:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "GRAPHQL_MAX_DEPTH": 4, "GRAPHQL_MAX_COST": 300}

    def test_depth_and_cost_limits(self, client, admin_headers):
        tier = {"name": "tier", "type": "string"}
        assert client.post("/api/v1/fields/customers", json=tier, headers=admin_headers).status_code == 201
        ok = run(client, admin_headers, "{ customers { items { id custom { tier } } } }")
        assert ok.status_code == 200, ok.get_json()
        fragment = "fragment F on CustomersRecord { custom { tier } } { customers { items { ...F } } }"
        assert run(client, admin_headers, fragment).status_code == 200  # depth 4, as written out
        for query in (
            "{ __schema { types { fields { type { name } } } } }",
            "fragment T on __Type { fields { type { name } } } { __schema { types { ...T } } }",
        ):
            deep = run(client, admin_headers, query)
            assert deep.status_code == 400, query
            error = deep.get_json()["errors"][0]
            assert error["extensions"] == {"code": 400, "limit": "depth", "measured": 5, "allowed": 4}
            assert "GRAPHQL_MAX_DEPTH" in error["message"]

        zh = {**admin_headers, "Accept-Language": "zh-CN"}
        r = client.post(
            API, json={"query": "{ __schema { types { fields { type { name } } } } }"}, headers=zh
        )
        assert r.get_json()["errors"][0]["message"].startswith("查询深度 5 超过上限 4")
        r = client.post(
            API, json={"query": '{ customers(filter: [{field: "page", value: "1"}]) { total } }'}, headers=zh
        )
        # (spacing between Chinese and Latin text is the catalogue's affair)
        assert r.get_json()["errors"][0]["message"].replace(" ", "") == "筛选条件'page'无效：未知字段。"
        rest = client.get("/api/v1/customers?nope=1", headers=zh).get_json()["message"]
        r = client.post(
            API, json={"query": '{ customers(filter: [{field: "nope", value: "1"}]) { total } }'}, headers=zh
        )
        assert r.get_json()["errors"][0]["message"] == rest  # the REST list's message, as REST words it

        def cost(query, variables=None):
            r = run(client, admin_headers, query, variables)
            errors = (r.get_json() or {}).get("errors") or [{}]
            return r.status_code, errors[0].get("extensions", {}).get("measured")

        page = "customers(page_size: %d) { items { id name } }"
        assert cost("{ %s }" % (page % 99))[0] == 200  # 1 + 99 x 3 = 298
        assert cost("{ %s }" % (page % 100)) == (400, 301)
        aliases = " ".join(f"a{i}: customers(page_size: 50) {{ items {{ id }} }}" for i in range(3))
        assert cost(f"{{ {aliases} }}") == (400, 303)  # each alias counts
        by_variable = "query($n: Int) { customers(page_size: $n) { items { id name } } }"
        assert cost(by_variable, {"n": 100}) == (400, 301)
        assert cost(by_variable)[0] == 200  # the default page of 20
        assert cost(by_variable.replace("Int)", "Int = 100)")) == (400, 301)  # a declared default
        assert (
            "GRAPHQL_MAX_COST"
            in run(client, admin_headers, "{ %s }" % (page % 100)).get_json()["errors"][0]["message"]
        )


class TestRequests:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "RATELIMIT_ENABLED": True, "RATELIMIT_ENDPOINT": "6/minute"}

    def test_bad_requests_auth_and_the_rate_limit(self, client, admin_headers):
        assert client.post(API, json={"query": "{ customers { total } }"}).status_code == 401
        for body in ({}, {"query": ""}, {"query": "{ customers { total "}, {"query": "{ nope }"}):
            r = client.post(API, json=body, headers=admin_headers)
            assert r.status_code == 400 and r.get_json()["errors"][0]["message"], body
        r = run(client, admin_headers, "mutation { customers { total } }")
        assert r.status_code == 400  # there is no mutation type: the endpoint only reads
        # GET takes the same query, variables as JSON
        query = "query($s: String) { customers(sort: $s) { total } }"
        r = client.get(
            API, query_string={"query": query, "variables": json.dumps({"s": "-id"})}, headers=admin_headers
        )
        assert r.status_code == 200 and r.get_json()["data"]["customers"]["total"] == 0
        # the REST limiter counts GraphQL calls like any endpoint's (6 a minute here)
        statuses = [run(client, admin_headers, "{ customers { total } }").status_code for _ in range(3)]
        assert statuses[-1] == 429 and "Retry-After" in run(client, admin_headers, "{ x }").headers


def _int64():
    return st.integers(-(2**63), 2**63 - 1).map(nodes.Int)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_fuzzed_queries_never_fail_nor_leak(client, admin_headers):
    """Random valid queries over a rep's schema: never a 500 nor an error code 500, never a
    record the REST API would not give them, never a hidden value."""

    def post(path, body):
        r = client.post(f"/api/v1/{path}", json=body, headers=admin_headers)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    post("fields/customers", {"name": "secret_note", "type": "string"})
    post("fields/customers", {"name": "score", "type": "int"})
    rules = [{"resource": "customers", "field": "secret_note", "rule": "hidden"}]
    grants = [{"resource": r, "action": "read", "scope": "own"} for r in ("customers", "deals")]
    post("roles", {"name": "gql_fuzz_rep", "grants": grants, "field_rules": rules})
    rep, headers = user_with_token("gql_fuzz_rep_user", ("gql_fuzz_rep",))
    for i in range(4):
        body = {"name": f"F{i}", "custom": {"secret_note": SECRET, "score": i}}
        post("customers", {**body, **({"owner_id": rep.id} if i % 2 else {})})
    readable = {c["id"] for c in client.get("/api/v1/customers?page_size=200", headers=headers).get_json()}
    assert len(readable) == 2
    # the standard introspection query fits the default limits
    r = run(client, headers, get_introspection_query())
    assert r.status_code == 200, r.get_json()
    sdl = print_schema(build_client_schema(r.get_json()["data"]))

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(queries(sdl, fields=["customers", "customers_by_id"], custom_scalars={"Int64": _int64()}))
    def check(query):
        r = run(client, headers, query)
        text = r.get_data(as_text=True)
        assert r.status_code in (200, 400), (query, text)
        assert SECRET not in text
        body = r.get_json()
        assert all(e.get("extensions", {}).get("code") != 500 for e in body.get("errors", ())), body
        data = body.get("data") or {}
        found = set()
        for value in data.values():
            items = value.get("items") or [] if isinstance(value, dict) and "items" in value else [value]
            found |= {i["id"] for i in items if isinstance(i, dict) and "id" in i}
        assert found <= readable, (query, found)

    check()


def test_an_oauth_client_sees_only_what_its_scopes_allow(client, admin_headers, make_user):
    """A client credentials token limited to ``customers:read`` of a sales user: its schema has
    customers and nothing else the user could read (deals, companies), as REST answers 403."""
    user, _headers = make_user("gql_agent", roles=("sales",))
    made = client.post(
        "/api/v1/oauth-clients",
        json={"name": "gql-shop", "user_id": user.id, "scopes": ["customers:read"]},
        headers=admin_headers,
    ).get_json()
    grant = {
        "grant_type": "client_credentials",
        "client_id": made["client_id"],
        "client_secret": made["client_secret"],
    }
    token = client.post("/oauth/token", data=grant).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    fields = run(client, headers, "{ __schema { queryType { fields { name } } } }").get_json()
    names = {f["name"] for f in fields["data"]["__schema"]["queryType"]["fields"]}
    assert names == {"customers", "customers_by_id"}
    assert client.get("/api/v1/deals", headers=headers).status_code == 403
    assert run(client, headers, "{ deals { total } }").status_code == 400

"""Benchmark: a page of customers through GraphQL vs the same page through REST, same run.

    .venv/bin/python bench/bench_graphql.py                      # 200 customers, 200 requests
    .venv/bin/python bench/bench_graphql.py --customers 2000 --requests 500

An embedded SQLite instance (a temporary folder) with every installed plugin; customers created
through the API. Both are driven through Flask's test client in this process, one request at a
time, as an admin: ``GET /api/v1/customers?page_size=20&sort=id`` and the GraphQL query selecting
every field of the same page. GraphQL runs REST's list and dump and adds its own steps (the
reader's schema signature, parsing, validation, limits, execution), so the ratio is that
overhead. Also measured: the first GraphQL request after a metadata change, which builds the
reader's schema (cached afterwards per metadata version and field rules).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from crm_core.app import create_app
from crm_core.testing import migrate_url, user_with_token

FIELDS = '{ __type(name: "CustomersRecord") { fields { name type { kind ofType { kind } } } } }'


def timed(call, n: int) -> float:
    """Median milliseconds of ``n`` calls."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="crm-bench-graphql-")
    url = f"sqlite:///{folder}/crm.db"
    migrate_url(url)
    app = create_app(
        {"DATABASE_URL": url, "INSTANCE_PATH": folder, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False}
    )
    client = app.test_client()
    with app.app_context():
        _admin, headers = user_with_token("bench_admin")
    for i in range(args.customers):
        r = client.post(
            "/api/v1/customers", json={"name": f"Customer {i}", "email": f"c{i}@example.com"}, headers=headers
        )
        assert r.status_code == 201, r.get_json()

    def graphql(query):
        r = client.post("/api/v1/graphql", json={"query": query}, headers=headers)
        assert r.status_code == 200 and "errors" not in r.get_json(), r.get_json()
        return r.get_json()["data"]

    def cold_build() -> float:
        # a new custom field changes the metadata version: the next request builds the schema
        name = f"bench_{time.perf_counter_ns()}"
        r = client.post("/api/v1/fields/customers", json={"name": name, "type": "string"}, headers=headers)
        assert r.status_code == 201, r.get_json()
        start = time.perf_counter()
        graphql("{ customers(page_size: 1) { total } }")
        return (time.perf_counter() - start) * 1000

    cold = statistics.median(cold_build() for _ in range(3))
    scalars = [
        f["name"]
        for f in graphql(FIELDS)["__type"]["fields"]
        if (f["type"]["ofType"] or f["type"])["kind"] != "OBJECT"
    ]
    selection = " ".join(scalars)
    query = f'{{ customers(page_size: 20, sort: "id") {{ total items {{ {selection} custom {{ __typename }} }} }} }}'
    rest_page = client.get("/api/v1/customers?page_size=20&sort=id", headers=headers).get_json()
    assert [c["id"] for c in graphql(query)["customers"]["items"]] == [c["id"] for c in rest_page]

    rest_ms = timed(
        lambda: client.get("/api/v1/customers?page_size=20&sort=id", headers=headers), args.requests
    )
    graphql_ms = timed(lambda: graphql(query), args.requests)
    total_ms = timed(lambda: graphql("{ customers { total } }"), args.requests)
    print(f"customers: {args.customers}, requests: {args.requests}, fields per record: {len(scalars)}")
    print(f"REST    GET /customers (20)      median {rest_ms:7.2f} ms")
    print(f"GraphQL customers(20) all fields median {graphql_ms:7.2f} ms  ({graphql_ms / rest_ms:.2f}x REST)")
    print(f"GraphQL customers {{ total }}     median {total_ms:7.2f} ms")
    print(f"GraphQL schema build (cold)      median {cold:7.2f} ms")


if __name__ == "__main__":
    main()

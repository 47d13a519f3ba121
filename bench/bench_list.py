"""Benchmark: the customer list endpoint vs a bare Flask view running the same SQL, same run.

    .venv/bin/python bench/bench_list.py                       # 20,000 customers, 300 requests
    .venv/bin/python bench/bench_list.py --customers 1000000 --requests 2000
    BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_list.py

Seeds a fresh PostgreSQL database with ``crm demo-data --customers N`` (bulk inserts), then asks
``GET /api/v1/customers?source_channel=kol&sort=-created_at&page_size=20`` -- a filter and a sort
that the ``(source_channel, created_at, id)`` index serves (the EXPLAIN is printed). The baseline
is a bare Flask app whose one view runs the very SQL our endpoint ran (captured from it: the COUNT
and the page) on one psycopg2 connection and returns the rows as JSON. Both are driven through
Flask's test client in this process, one request at a time, so the ratio measures our stack
(auth, permissions, list parsing, marshmallow, masking, per-request connection) over the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import psycopg2.extras

from crm_core.testing import scratch_database, url_with_database  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUERY = "/api/v1/customers?source_channel=kol&sort=-created_at&page_size=20"


def rate(client, path, headers, n) -> tuple[float, float]:
    """Requests per second and p99 latency (ms) of ``n`` sequential GETs."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        r = client.get(path, headers=headers)
        times.append(time.perf_counter() - start)
        assert r.status_code == 200, r.get_data(as_text=True)[:300]
    times.sort()
    return n / sum(times), times[int(len(times) * 0.99) - 1] * 1000


def run(url: str, args) -> None:
    """Migrate (and seed unless ``--database``), then measure the list endpoint against a bare
    Flask view on the same SQL."""
    instance = tempfile.mkdtemp(prefix="crm-bench-")
    env = {
        **os.environ,
        "CRM_DATABASE_URL": url,
        "CRM_INSTANCE_PATH": instance,
        "CRM_SECRET_KEY": "bench",
        "CRM_RATELIMIT_ENABLED": "false",
        "CRM_LOG_LEVEL": "WARNING",
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("CRM_")})
    crm = str(Path(sys.executable).parent / "crm")
    subprocess.run([crm, "migrate"], env=env, check=True, capture_output=True)
    if not args.database:
        start = time.perf_counter()
        command = [crm, "demo-data", "--customers", str(args.customers)]
        subprocess.run(command, env=env, check=True, capture_output=True)
        print(
            f"seeded {args.customers:,} customers with `crm demo-data` in {time.perf_counter() - start:.1f} s"
        )
    # VACUUM sets the visibility map, so the COUNT can be an index-only scan as in production
    vacuum = psycopg2.connect(url)
    vacuum.autocommit = True
    with vacuum.cursor() as cur:
        cur.execute("VACUUM ANALYZE customer")
    vacuum.close()

    from flask import Flask, jsonify

    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token

    app = create_app({"RATELIMIT_ENABLED": False})
    with app.app_context():
        user = create_user(f"bench_{uuid.uuid4().hex[:6]}", "Bench-Passw0rd!", roles=["admin"])
        raw, _ = issue_token(user, ttl=0)
    headers = {"Authorization": f"Bearer {raw}"}
    client = app.test_client()

    # capture the SQL our endpoint runs for the customer rows (count + page)
    db = app.extensions["crm"].db
    captured: list[tuple[str, tuple]] = []
    real = db.execute_sql

    def capture(sql, params=None, *a, **k):
        if 'FROM "customer"' in sql:
            captured.append((sql, tuple(params or ())))
        return real(sql, params, *a, **k)

    db.execute_sql = capture
    ours = client.get(QUERY, headers=headers)
    db.execute_sql = real
    assert ours.status_code == 200, ours.get_data(as_text=True)
    count_sql = next(s for s in captured if "COUNT" in s[0].upper())
    page_sql = next(s for s in captured if "ORDER BY" in s[0].upper() and "COUNT" not in s[0].upper())
    print("page SQL:", page_sql[0] % tuple(repr(p) for p in page_sql[1]))
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("EXPLAIN " + page_sql[0], page_sql[1])
        plan = "\n    ".join(r[0] for r in cur.fetchall())
    print("plan:\n    " + plan)

    bare = Flask("bare")
    conn = psycopg2.connect(url)
    conn.autocommit = True

    @bare.get("/api/v1/customers")
    def bare_list():
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(*count_sql)
            total = next(iter(cur.fetchone().values()))
            cur.execute(*page_sql)
            rows = cur.fetchall()
        response = jsonify(
            [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]
        )
        response.headers["X-Pagination"] = json.dumps({"total": total})
        return response

    bare_client = bare.test_client()
    assert len(bare_client.get(QUERY).get_json()) == len(ours.get_json())
    rate(client, QUERY, headers, 20)  # warm up both
    rate(bare_client, QUERY, {}, 20)
    ours_rps, ours_p99 = rate(client, QUERY, headers, args.requests)
    bare_rps, bare_p99 = rate(bare_client, QUERY, {}, args.requests)

    # the same app with pooled connections (playhouse.pool): the app connects per request,
    # and a fresh PostgreSQL backend costs a connect plus cold catalog caches every time
    from playhouse.pool import PooledPostgresqlDatabase

    from crm_core.db import database

    app.extensions["crm"].db.close()
    parts = urlsplit(url)
    pooled = PooledPostgresqlDatabase(
        parts.path[1:],
        user=parts.username,
        host=parts.hostname,
        port=parts.port or 5432,
        max_connections=4,
    )
    database.initialize(pooled)
    app.extensions["crm"].db = pooled
    rate(client, QUERY, headers, 20)
    pool_rps, pool_p99 = rate(client, QUERY, headers, args.requests)
    pooled.close_all()
    conn.close()

    print(f"customers={args.customers:,} requests={args.requests} query={QUERY}")
    print(f"crm-core list endpoint          : {ours_rps:8.1f} req/s  p99 {ours_p99:6.1f} ms")
    print(f"crm-core list endpoint, pooled  : {pool_rps:8.1f} req/s  p99 {pool_p99:6.1f} ms")
    print(f"bare Flask, same SQL            : {bare_rps:8.1f} req/s  p99 {bare_p99:6.1f} ms")
    print(f"ratio ours / bare               : {ours_rps / bare_rps:8.2f}")
    print(f"ratio ours pooled / bare        : {pool_rps / bare_rps:8.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=int(os.environ.get("BENCH_CUSTOMERS", 20_000)))
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", 300)))
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database.")
    parser.add_argument("--database", help="Reuse this already seeded database (no seeding; kept).")
    args = parser.parse_args()

    if args.database:  # reused as it is: no seeding, kept
        run(url_with_database(args.pg_url, args.database), args)
    else:
        with scratch_database(args.pg_url, "crm_bench_list", keep=args.keep) as url:
            run(url, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

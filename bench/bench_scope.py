"""Benchmark: the customer list for a ``department_tree`` user vs an admin (no scope), same run.

    .venv/bin/python bench/bench_scope.py                          # 20,000 customers, 200 requests
    .venv/bin/python bench/bench_scope.py --customers 1000000 --requests 500
    BENCH_PG_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_scope.py

Creates a fresh PostgreSQL database, migrates it, builds a department tree (``--fanout`` roots,
each with ``--fanout`` children, each with ``--fanout`` grandchildren), and bulk-inserts customers
spread evenly over every department. A ``manager`` (scope ``department_tree``) sits on one
second-level department, so they see 1 + fanout of the (fanout + fanout^2 + fanout^3)
departments. Both users ask ``GET /api/v1/customers?sort=-created_at&page_size=20`` (page and
COUNT) through Flask's test client; the script prints requests/s, p50/p99 latency, the ratio
tree/admin, and PostgreSQL's plan for the scoped page and count, so one can see that the scope
is served from indexes (the department path prefix and the ``(department_id, created_at, id)``
index) rather than by reading the table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time

from crm_core.testing import scratch_database  # noqa: E402

QUERY = "/api/v1/customers?sort=-created_at&page_size=20"


def measure(client, users: dict, n: int) -> dict:
    """Requests/s, p50 and p99 (ms) of ``n`` list requests per user. Requests alternate between
    the users, so that load from other processes on the machine hits both alike."""
    for headers in users.values():
        for _ in range(min(20, n)):
            client.get(QUERY, headers=headers)
    times = {label: [] for label in users}
    totals = {}
    for _ in range(n):
        for label, headers in users.items():
            start = time.perf_counter()
            r = client.get(QUERY, headers=headers)
            times[label].append(time.perf_counter() - start)
            assert r.status_code == 200, r.get_data(as_text=True)[:300]
            totals[label] = r.headers.get("X-Pagination")
    out = {}
    for label, t in times.items():
        t.sort()
        out[label] = {
            "rps": n / sum(t),
            "p50": statistics.median(t) * 1000,
            "p99": t[max(0, int(len(t) * 0.99) - 1)] * 1000,
            "total": totals[label],
        }
    return out


def seed(n: int, fanout: int, chunk: int = 10_000):
    """The department tree and ``n`` customers spread over it; returns (departments, manager dept)."""
    from crm_core.bulk import insert_rows
    from crm_core.db import database, utcnow
    from crm_core.directory.departments import create_department
    from crm_core.entities.models import Customer

    depts = []
    for r in range(fanout):
        root = create_department(f"region {r}")
        depts.append(root)
        for c in range(fanout):
            child = create_department(f"branch {r}.{c}", root.id)
            depts.append(child)
            for g in range(fanout):
                depts.append(create_department(f"team {r}.{c}.{g}", child.id))
    manager_dept = [d for d in depts if d.path.count("/") == 3][0]  # a second-level department
    rng = random.Random(7)
    now = utcnow()
    ids = [d.id for d in depts]
    # insert_rows sends exactly these columns: give the ones with model defaults too
    fields = ("name", "lifecycle_stage", "department_id", "owner_id", "custom", "created_at", "updated_at")
    for offset in range(0, n, chunk):
        rows = []
        for i in range(offset, min(n, offset + chunk)):
            created = now - dt.timedelta(seconds=rng.randrange(0, 730 * 86400))
            rows.append((f"customer {i}", "lead", ids[i % len(ids)], None, {}, created, created))
        with database.atomic():
            insert_rows(Customer, fields, rows)
        print(f"  seeded {min(n, offset + chunk):,}/{n:,}", end="\r", flush=True)
    print()
    # steady state of a table that is mostly read: visibility map set, so COUNTs may go index-only
    database.execute_sql("VACUUM ANALYZE customer")
    database.execute_sql("ANALYZE")
    return depts, manager_dept


def explain(actor) -> str:
    """PostgreSQL's plan for the scoped page query and its COUNT, as the API runs them."""
    from crm_core import permissions
    from crm_core.db import database
    from crm_core.entities.models import Customer

    query = permissions.scoped(Customer.select(), actor, "customers")
    page = query.order_by(Customer.created_at.desc(), Customer.id.desc()).limit(20)
    out = []
    for label, q in (("page", page), ("count", query.select(Customer.id))):
        sql, params = q.sql()
        if label == "count":
            sql = f"SELECT COUNT(*) FROM ({sql}) AS t"
        rows = database.execute_sql("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params).fetchall()
        out.append(f"-- {label}\n" + "\n".join(r[0] for r in rows))
    return "\n".join(out)


def run(args) -> None:
    """Seed, then measure the list endpoint as the admin and as the department_tree manager."""
    from crm_core.app import create_app
    from crm_core.auth import actor_for_user, create_user, issue_token
    from crm_core.migrate import migrate

    app = create_app()
    crm = app.extensions["crm"]
    with app.app_context():
        migrate(crm.db, crm.plugins)
        print(f"seeding {args.customers:,} customers over a {args.fanout}-ary 3-level department tree")
        started = time.perf_counter()
        depts, manager_dept = seed(args.customers, args.fanout)
        print(f"  {len(depts)} departments, seeded in {time.perf_counter() - started:.1f} s")
        admin = create_user("bench_admin", "Bench-passw0rd", roles=("admin",))
        manager = create_user(
            "bench_manager", "Bench-passw0rd", roles=("manager",), department_id=manager_dept.id
        )
        admin_h = {"Authorization": f"Bearer {issue_token(admin)[0]}"}
        manager_h = {"Authorization": f"Bearer {issue_token(manager)[0]}"}
        print(explain(actor_for_user(manager)))
    client = app.test_client()
    results = measure(client, {"admin (all)": admin_h, "manager (department_tree)": manager_h}, args.requests)
    print(f"\nGET {QUERY}  ({args.customers:,} customers, {args.requests} requests each)")
    for label, r in results.items():
        print(
            f"  {label:28s} {r['rps']:8.1f} req/s   p50 {r['p50']:7.2f} ms   p99 {r['p99']:7.2f} ms   {r['total']}"
        )
    admin_r, tree_r = results["admin (all)"], results["manager (department_tree)"]
    print(
        f"  ratio department_tree / admin: throughput {tree_r['rps'] / admin_r['rps']:.2f}x, "
        f"p50 latency {tree_r['p50'] / admin_r['p50']:.2f}x"
    )
    crm.db.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=int(os.environ.get("BENCH_CUSTOMERS", 20_000)))
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", 200)))
    parser.add_argument("--fanout", type=int, default=int(os.environ.get("BENCH_FANOUT", 4)))
    parser.add_argument(
        "--pg-url", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database.")
    args = parser.parse_args()

    with scratch_database(args.pg_url, "crm_bench_scope", keep=args.keep) as url:
        os.environ.update(
            {
                "CRM_DATABASE_URL": url,
                "CRM_INSTANCE_PATH": tempfile.mkdtemp(prefix="crm-bench-"),
                "CRM_SECRET_KEY": "bench",
                "CRM_RATELIMIT_ENABLED": "false",
                "CRM_LOG_LEVEL": "WARNING",
            }
        )
        run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

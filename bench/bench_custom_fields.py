#!/usr/bin/env python3
"""Filter on a custom field vs the same filter on a real column, PostgreSQL, same run.

Loads N customers into a fresh database. Each gets a custom field ``credit_score`` (int,
``filterable``: an expression index) and the same number in the real, indexed ``owner_id``
column, so both filters select exactly the same rows. Then it times, through the full HTTP stack
(auth, permissions, list API, masking, JSON):

    GET /api/v1/customers?credit_score__gte=T&sort=-credit_score    (custom field)
    GET /api/v1/customers?owner_id__gte=T&sort=-owner_id            (real column)

and the bare SQL count of each filter. Prints medians and the custom/real ratio.

    .venv/bin/python bench/bench_custom_fields.py            # N=20000 (smoke size)
    BENCH_N=1000000 .venv/bin/python bench/bench_custom_fields.py
    options: --n N --repeat R --selectivity 0.01 --pg-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from httpload import timed  # noqa: E402

from crm_core.testing import migrate_url, scratch_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", 20000)))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", 20)))
    parser.add_argument("--selectivity", type=float, default=0.01, help="share of rows the filter matches")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()

    with scratch_database(args.pg_url, "crm_bench_cf") as url:
        return run(url, args)


def run(url: str, args) -> int:
    os.environ.setdefault("CRM_PLUGINS_DISABLED", "loyalty,channel_tracking")
    migrate_url(url)
    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token
    from crm_core.custom import custom_expression
    from crm_core.custom.definitions import create_field
    from crm_core.db import database, utcnow
    from crm_core.entities.models import Customer

    instance = tempfile.mkdtemp(prefix="crm-bench-")
    app = create_app(
        {"DATABASE_URL": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False}
    )
    scale = 1000
    threshold = int(scale * (1 - args.selectivity))
    with app.app_context():
        user = create_user("bench_admin", "Bench-Passw0rd!", roles=("admin",))
        raw, _ = issue_token(user, ttl=0)
        headers = {"Authorization": f"Bearer {raw}"}
        create_field(
            "customers", {"name": "credit_score", "type": "int", "min": 0, "max": scale, "filterable": True}
        )

        rng = random.Random(7)
        start = time.perf_counter()
        now = utcnow()
        batch = []
        for i in range(args.n):
            score = rng.randrange(scale)
            batch.append(
                {
                    "name": f"bench {i}",
                    "owner_id": score,
                    "custom": {"credit_score": score},
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(batch) == 5000:
                with database.atomic():
                    Customer.insert_many(batch).execute()
                batch = []
        if batch:
            with database.atomic():
                Customer.insert_many(batch).execute()
        database.execute_sql("ANALYZE customer")
        load_s = time.perf_counter() - start

        client = app.test_client()
        expected = Customer.select().where(Customer.owner_id >= threshold).count()

        def api(query):
            def call():
                r = client.get(f"/api/v1/customers?{query}&page_size=50", headers=headers)
                assert r.status_code == 200, r.get_json()
                return r

            return call

        custom_q = f"credit_score__gte={threshold}&sort=-credit_score"
        real_q = f"owner_id__gte={threshold}&sort=-owner_id"
        r1, r2 = api(custom_q)(), api(real_q)()
        assert f'"total": {expected}' in r1.headers["X-Pagination"], r1.headers["X-Pagination"]
        assert [c["custom"]["credit_score"] for c in r1.get_json()] == [c["owner_id"] for c in r2.get_json()]

        expr = custom_expression(Customer, "credit_score")
        custom_count = Customer.select().where(expr >= threshold)
        real_count = Customer.select().where(Customer.owner_id >= threshold)
        sql, params = custom_count.sql()
        plan = " ".join(r[0] for r in database.execute_sql("EXPLAIN " + sql, params).fetchall())

        results = [
            ("HTTP list, custom field", timed(api(custom_q), args.repeat)),
            ("HTTP list, real column", timed(api(real_q), args.repeat)),
            ("SQL count, custom field", timed(custom_count.count, args.repeat)),
            ("SQL count, real column", timed(real_count.count, args.repeat)),
        ]
    print(f"customers: {args.n}  matching: {expected} ({args.selectivity:.1%})  load: {load_s:.1f} s")
    print(f"plan (custom): {'cf_customer_credit_score' in plan and 'index used' or 'NO INDEX'}: {plan[:160]}")
    for label, ms in results:
        print(f"{label:<26} {ms:9.2f} ms (median of {args.repeat})")
    print(
        f"ratio custom/real, HTTP: {results[0][1] / results[1][1]:.2f}x   SQL: {results[2][1] / results[3][1]:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Loyalty on PostgreSQL: tier evaluation of N members, and redemption latency over HTTP.

1. Tier evaluation. Loads N members (random tier, tier age and grace state) with A activities
   each into a fresh database, then times the plugin's evaluation (``crm_loyalty.tiers.evaluate``:
   a handful of set-based statements through peewee, events off) against ONE hand-written SQL
   statement (data-modifying CTEs) doing the same job: clear grace of members who qualify again,
   start grace after retention, drop members whose grace ran out one step, upgrade members who
   qualify higher, record every change. Both start from the same state; the script checks that
   they end in the same state and prints seconds and the ratio plugin/hand-written.

2. Redemption latency. Starts ``crm serve`` (gunicorn) on the same database, gives C members a
   balance, and has C concurrent clients (bench/httpload.py, each with its own token) each
   redeem R times on their own member (``--shared``: all on one member, which serialises on its
   row lock). Prints p50/p99 and throughput, and the same for ``GET /api/v1/health`` under the
   same load as the baseline of the stack without loyalty work. ``--think-ms 0,500,1000`` repeats
   this at each pause between a client's requests (0: a closed loop).

    .venv/bin/python bench/bench_loyalty.py                     # N=20000, C=50, R=20 (smoke size)
    .venv/bin/python bench/bench_loyalty.py --n 1000000         # the issue's size
    options: --n N --activities A --clients C --requests R --workers W --threads T --shared --skip-http
             --think-ms T[,T...]
             --pg-url postgresql://postgres@127.0.0.1:5432/test   (env: LOYALTY_BENCH_N, ...)
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpload  # noqa: E402

from crm_core.testing import migrate_url, scratch_database  # noqa: E402

TIERS = [("silver", 10, 0), ("gold", 20, 1000), ("platinum", 30, 5000)]
GRACE_DAYS, RETENTION_DAYS, WINDOW_DAYS = 30, 90, 365

# One statement, written by hand for these three tiers, doing what tiers.evaluate() does.
HAND_WRITTEN = """
WITH metric AS (
    SELECT member_id, SUM(CASE WHEN occurred_at >= %(start)s THEN amount ELSE 0 END) AS spend
    FROM loyalty_activity GROUP BY member_id
), state AS (
    SELECT m.id, m.tier_since, m.grace_until, t.rank AS cur,
           CASE WHEN COALESCE(x.spend, 0) >= 5000 THEN 30
                WHEN COALESCE(x.spend, 0) >= 1000 THEN 20 ELSE 10 END AS qual
    FROM loyalty_member m
    LEFT JOIN loyalty_tier t ON t.id = m.tier_id
    LEFT JOIN metric x ON x.member_id = m.id
), decided AS (
    SELECT id, cur, qual,
           CASE WHEN cur IS NULL OR qual > cur THEN qual
                WHEN qual < cur AND (grace_until <= %(now)s OR (grace_until IS NULL
                     AND tier_since <= %(retained)s AND %(grace)s <= %(now)s))
                THEN GREATEST(qual, CASE cur WHEN 30 THEN 20 ELSE 10 END) END AS target,
           CASE WHEN qual >= cur THEN NULL
                WHEN grace_until IS NULL AND tier_since <= %(retained)s THEN %(grace)s
                ELSE grace_until END AS new_grace,
           grace_until
    FROM state
), changed AS (
    UPDATE loyalty_member m
    SET tier_id = CASE WHEN d.target IS NULL THEN m.tier_id ELSE (SELECT id FROM loyalty_tier WHERE rank = d.target) END,
        tier_since = CASE WHEN d.target IS NULL THEN m.tier_since ELSE %(now)s END,
        grace_until = CASE WHEN d.target IS NULL THEN d.new_grace ELSE NULL END
    FROM decided d
    WHERE m.id = d.id AND (d.target IS NOT NULL OR d.new_grace IS DISTINCT FROM d.grace_until)
    RETURNING m.id, d.cur, d.target
)
INSERT INTO loyalty_tier_change (member_id, from_tier_id, to_tier_id, direction, reason, created_at, updated_at)
SELECT c.id, tf.id, tt.id, CASE WHEN c.cur IS NULL THEN 'initial' WHEN c.target > c.cur THEN 'up' ELSE 'down' END,
       'evaluation: below the tier''s threshold after retention and grace', %(now)s, %(now)s
FROM changed c JOIN loyalty_tier tt ON tt.rank = c.target LEFT JOIN loyalty_tier tf ON tf.rank = c.cur
WHERE c.target IS NOT NULL
"""


def load(conn, n: int, activities: int, now: dt.datetime) -> None:
    """Tiers, programme settings, N members and N*A activities, generated in SQL."""
    cur = conn.cursor()
    for code, rank, threshold in TIERS:
        cur.execute(
            'INSERT INTO loyalty_tier (code, name, rank, metric, "window", window_days, threshold, multiplier,'
            " benefits, description, created_at, updated_at)"
            " VALUES (%s, %s, %s, 'spend', 'rolling', %s, %s, 1, '{}', '', %s, %s)",
            (code, code, rank, WINDOW_DAYS, threshold, now, now),
        )
    cur.execute(
        "UPDATE loyalty_program SET grace_days = %s, retention_days = %s, downgrade_steps = 1",
        (GRACE_DAYS, RETENTION_DAYS),
    )
    # members belong to customers (a foreign key): the N customers first, then their members
    cur.execute(
        """
        INSERT INTO customer (id, name, lifecycle_stage, custom, created_at, updated_at)
        SELECT g, 'Bench ' || g, 'lead', '{}', %(now)s, %(now)s FROM generate_series(1, %(n)s) AS g
        """,
        {"now": now, "n": n},
    )
    cur.execute("SELECT setval(pg_get_serial_sequence('customer', 'id'), %s)", (n,))
    cur.execute(
        """
        INSERT INTO loyalty_member (customer_id, member_no, joined_at, channel, tier_id, tier_since, grace_until,
                                    custom, created_at, updated_at)
        SELECT g, 'B' || g, %(now)s - interval '800 days', '',
               (SELECT id FROM loyalty_tier WHERE rank = (ARRAY[10, 20, 30])[1 + g %% 3]),
               %(now)s - (g %% 400) * interval '1 day',
               CASE g %% 5 WHEN 0 THEN %(now)s - interval '1 day' WHEN 1 THEN %(now)s + interval '10 days' END,
               '{}', %(now)s, %(now)s
        FROM generate_series(1, %(n)s) AS g
        """,
        {"now": now, "n": n},
    )
    cur.execute(
        """
        INSERT INTO loyalty_activity (member_id, kind, reference, occurred_at, amount, orders, growth, created_at,
                                      updated_at)
        SELECT m.id, 'purchase', 'o' || k, %(now)s - ((m.id * 7 + k * 131) %% 500) * interval '1 day',
               ((m.id * 37 + k * 101) %% 3000)::numeric, 1, 0, %(now)s, %(now)s
        FROM loyalty_member m, generate_series(1, %(a)s) AS k
        """,
        {"now": now, "a": activities},
    )
    cur.execute("ANALYZE")
    conn.commit()


def snapshot(cur) -> tuple:
    cur.execute(
        "SELECT md5(string_agg(id || ':' || COALESCE(tier_id, 0) || ':' || COALESCE(grace_until::text, '-'), ','"
        " ORDER BY id)) FROM loyalty_member"
    )
    members = cur.fetchone()[0]
    cur.execute("SELECT direction, count(*) FROM loyalty_tier_change GROUP BY direction ORDER BY direction")
    return members, tuple(cur.fetchall())


def bench_evaluation(url: str, n: int, activities: int) -> None:
    import psycopg2
    from crm_loyalty import tiers

    from crm_core.app import create_app

    now = dt.datetime(2026, 11, 25, 2, 0)
    conn = psycopg2.connect(url.replace("postgresql://", "postgres://", 1))
    t0 = time.perf_counter()
    load(conn, n, activities, now)
    print(f"loaded {n} members, {n * activities} activities in {time.perf_counter() - t0:.1f} s")
    cur = conn.cursor()
    cur.execute(
        "CREATE TABLE bench_member_copy AS SELECT id, tier_id, tier_since, grace_until FROM loyalty_member"
    )
    conn.commit()

    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        start = time.perf_counter()
        result = tiers.evaluate(now, emit_events=False)
        plugin_s = time.perf_counter() - start
        app.extensions["crm"].db.close()
    plugin_state = snapshot(cur)
    conn.commit()

    cur.execute(
        "UPDATE loyalty_member m SET tier_id = c.tier_id, tier_since = c.tier_since, grace_until = c.grace_until"
        " FROM bench_member_copy c WHERE c.id = m.id"
    )
    cur.execute("DELETE FROM loyalty_tier_change")
    conn.commit()
    params = {
        "now": now,
        "start": now - dt.timedelta(days=WINDOW_DAYS),
        "retained": now - dt.timedelta(days=RETENTION_DAYS),
        "grace": now + dt.timedelta(days=GRACE_DAYS),
    }
    start = time.perf_counter()
    cur.execute(HAND_WRITTEN, params)
    conn.commit()
    hand_s = time.perf_counter() - start
    hand_state = snapshot(cur)
    conn.close()

    same = "same end state" if plugin_state == hand_state else "DIFFERENT end state (bug!)"
    print(f"tier evaluation, {n} members: {result}")
    print(f"  plugin (set-based, peewee): {plugin_s:.2f} s")
    print(f"  one hand-written statement: {hand_s:.2f} s")
    print(f"  ratio plugin / hand-written: {plugin_s / hand_s:.2f}  ({same}: {hand_state[1]})")


def bench_http(
    url: str, clients: int, requests_each: int, workers: int, threads: int, shared: bool, paces: list[float]
) -> None:
    from crm_loyalty import activities, ledger

    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token

    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        user = create_user(f"bench_{uuid.uuid4().hex[:6]}", "Bench-Passw0rd!", roles=["admin"])
        tokens = [issue_token(user)[0] for _ in range(clients)]
        members = 1 if shared else clients
        seed = 10 * clients * requests_each * len(paces)
        from peewee import fn

        from crm_core.entities.models import Customer

        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        # ids after the evaluation's members (any --n)
        base = (Customer.select(fn.MAX(Customer.id)).scalar() or 0) + 1
        Customer.insert_many(
            [
                {
                    "id": base + i,
                    "name": f"Redeemer {i}",
                    "created_at": now,
                    "updated_at": now,
                    "custom": {},
                }
                for i in range(members)
            ]
        ).execute()
        for i in range(members):
            member, _ = activities.enrol(base + i)
            with ledger.member_lock(member.id) as locked:
                ledger.credit(locked, seed, "bench-seed", kind="adjust", emit=False)
        app.extensions["crm"].db.close()

    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(
        CRM_DATABASE_URL=url, CRM_SECRET_KEY="bench", CRM_RATELIMIT_ENABLED="0", CRM_LOG_LEVEL="WARNING"
    )
    results = []
    with httpload.served(env, workers, threads) as port:

        def health(index, i):
            return httpload.Request("GET", "/api/v1/health")

        httpload.run("127.0.0.1", port, clients, 2, health)  # warm-up of every worker
        for n, pace in enumerate(paces):

            def redeem(index, i, n=n):
                customer = base + (0 if shared else index)
                return httpload.Request(
                    "POST",
                    f"/api/v1/loyalty/members/{customer}/redeem",
                    {"points": 1, "reference": f"b{n}-{index}-{i}"},
                    {"Authorization": f"Bearer {tokens[index]}"},
                )

            health_run = httpload.run("127.0.0.1", port, clients, requests_each, health, pace)
            redeem_run = httpload.run("127.0.0.1", port, clients, requests_each, redeem, pace)
            results.append((pace, health_run, redeem_run))

    def figures(run):
        p50, p99 = httpload.percentile(run.latencies, 50), httpload.percentile(run.latencies, 99)
        return f"p50 {p50:6.1f}  p99 {p99:6.1f} ms {run.rate:5.0f}/s"

    who = "all on one member" if shared else "one member per client"
    print(
        f"redemption over HTTP: gunicorn {workers} workers x {threads} threads, {clients} clients x "
        f"{requests_each} requests, {who}"
    )
    print("  pause between a client's requests | POST .../redeem                 | GET /health (baseline)")
    for pace, health_run, redeem_run in results:
        for error in health_run.errors + redeem_run.errors:
            print(f"  error: {error}")
        label = f"{pace:g} ms" + (" (closed loop)" if not pace else "")
        met = "meets" if httpload.percentile(redeem_run.latencies, 99) < 200 else "misses"
        print(f"  {label:33s} | {figures(redeem_run)} | {figures(health_run)}  {met} the bar")
    print("  bar: redeem p99 < 200 ms")
    if any(h.errors or r.errors for _pace, h, r in results):
        raise SystemExit("some requests failed: the figures above do not measure redemptions")


def main() -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=int(env("LOYALTY_BENCH_N", 20000)))
    parser.add_argument("--activities", type=int, default=int(env("LOYALTY_BENCH_ACTIVITIES", 3)))
    parser.add_argument("--clients", type=int, default=int(env("LOYALTY_BENCH_CLIENTS", 50)))
    parser.add_argument("--requests", type=int, default=int(env("LOYALTY_BENCH_REQUESTS", 20)))
    parser.add_argument("--workers", type=int, default=int(env("LOYALTY_BENCH_WORKERS", 4)))
    parser.add_argument("--threads", type=int, default=int(env("LOYALTY_BENCH_THREADS", 1)))
    parser.add_argument("--shared", action="store_true", help="all clients redeem on one member")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--think-ms",
        default=env("LOYALTY_BENCH_THINK_MS", "0"),
        help="pause between a client's requests, in ms; a comma-separated list runs one pass per pace",
    )
    parser.add_argument(
        "--pg-url", default=env("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()

    with scratch_database(args.pg_url, "crm_bench_loyalty") as url:
        migrate_url(url)
        bench_evaluation(url, args.n, args.activities)
        if not args.skip_http:
            bench_http(
                url,
                args.clients,
                args.requests,
                args.workers,
                args.threads,
                args.shared,
                [float(p) for p in args.think_ms.split(",")],
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

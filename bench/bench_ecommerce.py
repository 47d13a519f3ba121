#!/usr/bin/env python3
"""E-commerce on PostgreSQL: order webhook ingestion over HTTP, and coupon redemption under 50
concurrent clients, each against a baseline measured in the same run.

1. Webhook ingestion. Starts ``crm serve`` (gunicorn) and has C concurrent clients POST N signed
   generic-platform order webhooks (``X-Signature: sha256=<HMAC>`` over the raw body, checked
   against the shop's sealed secret) to ``/api/v1/ecommerce/webhooks/<shop key>``: the request
   verifies and queues each into the inbox with ``INSERT ... ON CONFLICT DO NOTHING``. The
   baseline is a bare ``INSERT ... ON CONFLICT`` loop on the SAME table (``ecommerce_delivery``,
   one row per transaction, one psycopg2 connection, no HTTP, no signature). Then the inbox job
   applies the queued orders (upsert on (shop, external id), lines, customer identity, history,
   events), timed in one process as the scheduler runs it, against a bare ``INSERT ... ON
   CONFLICT DO UPDATE`` loop on ``ecommerce_order``. Prints rates and ratios (issue 16's bar:
   webhook ingestion >= 0.3 x the bare loop).

2. Coupon redemption. The same server; 50 clients (``--clients``) each send R redemptions:
   - own codes: every request redeems a single-use code of its own on an order of its own;
   - one code per round: in round i all clients redeem the SAME single-use code (each on its own
     order): exactly one may win.
   Prints p50/p99 and throughput of each, with ``GET /api/v1/health`` under the same load as the
   baseline of the stack, then counts double use in the database (a code redeemed more often
   than it allows): must be zero.

    .venv/bin/python bench/bench_ecommerce.py                   # N=2000, C=10, 50 x 20 redemptions
    options: --n N --webhook-clients C --clients 50 --requests R --workers W --threads T
             --pg-url postgresql://postgres@127.0.0.1:5432/test   (env: ECOMMERCE_BENCH_N, ...)
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpload  # noqa: E402

from crm_core.testing import migrate_url, scratch_database  # noqa: E402

SECRET = "bench-webhook-secret-0123456789"
BASE = dt.datetime(2026, 11, 1, 9, 0)


def order_body(i: int) -> dict:
    """A generic-platform order (200 distinct buyers, so identity mapping finds returning ones)."""
    buyer = i % 200
    at = (BASE + dt.timedelta(seconds=i)).isoformat() + "Z"
    return {
        "external_id": f"B{i}",
        "number": f"#B{i}",
        "status": "paid",
        "currency": "CNY",
        "subtotal": "200.00",
        "shipping": "10.00",
        "total": "210.00",
        "placed_at": at,
        "updated_at": at,
        "customer": {"external_id": f"buyer-{buyer}", "email": f"buyer{buyer}@bench.example"},
        "lines": [
            {"external_id": "l1", "sku": "TEA-1", "name": "Green tea", "quantity": 2, "unit_price": "50.00"},
            {"external_id": "l2", "sku": "CUP-1", "name": "Cup", "quantity": 1, "unit_price": "100.00"},
        ],
    }


def config(url: str, instance: str) -> tuple[dict, dict]:
    """The in-process app's settings and the server's environment: the same keys, so both open
    the shop's sealed secret."""
    master = base64.b64encode(os.urandom(32)).decode()
    settings = {
        "DATABASE_URL": url,
        "SECRET_KEY": "bench",
        "ENCRYPTION_MASTER_KEY": master,
        "INSTANCE_PATH": instance,
        "RATELIMIT_ENABLED": False,
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(
        CRM_DATABASE_URL=url,
        CRM_SECRET_KEY="bench",
        CRM_ENCRYPTION_MASTER_KEY=master,
        CRM_INSTANCE_PATH=instance,
        CRM_RATELIMIT_ENABLED="0",
        CRM_LOG_LEVEL="WARNING",
    )
    return settings, env


def setup(settings: dict, clients: int) -> dict:
    """An admin, one token per client, and a generic shop with a webhook secret."""
    from crm_core.app import create_app
    from crm_core.auth import create_user, issue_token

    app = create_app(settings)
    with app.app_context():
        user = create_user(f"bench_{uuid.uuid4().hex[:6]}", "Bench-Passw0rd!", roles=["admin"])
        tokens = [issue_token(user)[0] for _ in range(clients)]
        app.extensions["crm"].db.close()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {tokens[0]}"}
    body = {"name": "bench shop", "platform": "generic", "webhook_secret": SECRET}
    r = client.post("/api/v1/ecommerce/shops", json=body, headers=headers)
    assert r.status_code == 201, r.get_data(as_text=True)
    return {"app": app, "user_id": user.id, "tokens": tokens, "shop": r.get_json()}


def bare_inbox_loop(conn, shop_id: int, n: int) -> float:
    """Rows/s of a bare INSERT ... ON CONFLICT DO NOTHING loop on ecommerce_delivery."""
    cur = conn.cursor()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    start = time.perf_counter()
    for i in range(n):
        cur.execute(
            "INSERT INTO ecommerce_delivery (shop_id, dedupe_key, topic, body_token, status, attempts, error,"
            " received_at, created_at, updated_at) VALUES (%s, %s, '', %s, 'baseline', 0, '', %s, %s, %s)"
            " ON CONFLICT (shop_id, dedupe_key) DO NOTHING",
            (shop_id, f"baseline-{i}", json.dumps(order_body(i)), now, now, now),
        )
        conn.commit()
    seconds = time.perf_counter() - start
    cur.execute("DELETE FROM ecommerce_delivery WHERE status = 'baseline'")
    conn.commit()
    return n / seconds


def bare_order_loop(conn, shop_id: int, n: int) -> float:
    """Rows/s of a bare INSERT ... ON CONFLICT DO UPDATE (newer only) loop on ecommerce_order."""
    cur = conn.cursor()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    start = time.perf_counter()
    for i in range(n):
        at = BASE + dt.timedelta(seconds=i)
        cur.execute(
            "INSERT INTO ecommerce_order (shop_id, external_id, number, status, currency, subtotal, shipping,"
            " discount, total, refunded, placed_at, source_updated_at, channel, custom, created_at, updated_at)"
            " VALUES (%s, %s, %s, 'paid', 'CNY', 200, 10, 0, 210, 0, %s, %s, '', '{}', %s, %s)"
            " ON CONFLICT (shop_id, external_id) DO UPDATE SET status = excluded.status,"
            " total = excluded.total, source_updated_at = excluded.source_updated_at"
            " WHERE ecommerce_order.source_updated_at < excluded.source_updated_at",
            (shop_id, f"baseline-{i}", f"#b{i}", at, at, now, now),
        )
        conn.commit()
    seconds = time.perf_counter() - start
    cur.execute("DELETE FROM ecommerce_order WHERE external_id LIKE 'baseline-%%'")
    conn.commit()
    return n / seconds


def drain_inbox(app) -> tuple[int, float]:
    """Apply every queued delivery as the job does (one process); (applied, seconds)."""
    from crm_ecommerce import inbox

    from crm_core.jobs.context import JobActor

    actor = JobActor("ecommerce:inbox")
    applied = 0
    start = time.perf_counter()
    with app.app_context():
        while True:
            counts = inbox.process(actor)
            if not counts:
                break
            applied += counts.get("applied", 0)
        app.extensions["crm"].db.close()
    return applied, time.perf_counter() - start


def issue_codes(app, user_id: int, count: int) -> list[str]:
    """``count`` anonymous single-use codes of a 20-off template."""
    from crm_ecommerce import coupons
    from crm_ecommerce.coupon_models import CouponTemplate

    from crm_core.auth import User, actor_for_user

    with app.app_context():
        actor = actor_for_user(User.get_by_id(user_id))
        template = CouponTemplate.create(name="bench 20 off", kind="amount_off", value=20, currency="CNY")
        codes = [coupons.issue(template, None, actor, "bench").code for _ in range(count)]
        app.extensions["crm"].db.close()
    return codes


def double_use(conn) -> tuple[int, int]:
    """(codes used more often than they allow, redemptions in force)."""
    cur = conn.cursor()
    cur.execute(
        "SELECT count(*) FROM (SELECT c.id FROM ecommerce_coupon_code c JOIN ecommerce_coupon_redemption r"
        " ON r.code_id = c.id AND r.status = 'redeemed' GROUP BY c.id, c.max_uses"
        " HAVING count(*) > c.max_uses OR max(c.uses) > c.max_uses) over_used"
    )
    over = cur.fetchone()[0]
    cur.execute("SELECT count(*) FROM ecommerce_coupon_redemption WHERE status = 'redeemed'")
    return over, cur.fetchone()[0]


def figures(run) -> str:
    p50, p99 = httpload.percentile(run.latencies, 50), httpload.percentile(run.latencies, 99)
    return f"p50 {p50:6.1f}  p99 {p99:6.1f} ms {run.rate:5.0f}/s"


def main() -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=int(env("ECOMMERCE_BENCH_N", 2000)))
    parser.add_argument(
        "--webhook-clients", type=int, default=int(env("ECOMMERCE_BENCH_WEBHOOK_CLIENTS", 10))
    )
    parser.add_argument("--clients", type=int, default=int(env("ECOMMERCE_BENCH_CLIENTS", 50)))
    parser.add_argument("--requests", type=int, default=int(env("ECOMMERCE_BENCH_REQUESTS", 20)))
    parser.add_argument("--workers", type=int, default=int(env("ECOMMERCE_BENCH_WORKERS", 4)))
    parser.add_argument("--threads", type=int, default=int(env("ECOMMERCE_BENCH_THREADS", 1)))
    parser.add_argument(
        "--pg-url", default=env("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    clients, rounds = args.clients, args.requests
    if args.n < 2 * clients * rounds:
        parser.error(
            f"--n must be at least 2 x clients x requests = {2 * clients * rounds} (orders to redeem on)"
        )
    import psycopg2
    from crm_ecommerce.signatures import HEADERS, signature

    with (
        tempfile.TemporaryDirectory() as instance,
        scratch_database(args.pg_url, "crm_bench_ecommerce") as url,
    ):
        migrate_url(url, instance_path=instance)
        settings, server_env = config(url, instance)
        state = setup(settings, clients)
        shop = state["shop"]
        conn = psycopg2.connect(url.replace("postgresql://", "postgres://", 1))
        bodies = [json.dumps(order_body(i)) for i in range(args.n)]
        signed = [signature("generic", SECRET, b.encode()) for b in bodies]
        per_client = args.n // args.webhook_clients

        def webhook(index, i):
            k = index * per_client + i
            return httpload.Request(
                "POST",
                f"/api/v1/ecommerce/webhooks/{shop['key']}",
                json.loads(bodies[k]),
                {HEADERS["generic"]: signed[k], "X-Event-Id": f"evt-{k}"},
            )

        with httpload.served(server_env, args.workers, args.threads) as port:
            httpload.run(
                "127.0.0.1",
                port,
                args.webhook_clients,
                2,
                lambda c, i: httpload.Request("GET", "/api/v1/health"),
            )
            baseline_inbox = bare_inbox_loop(conn, shop["id"], args.n)
            hooks = httpload.run("127.0.0.1", port, args.webhook_clients, per_client, webhook)
            applied, drain_s = drain_inbox(state["app"])
            baseline_orders = bare_order_loop(conn, shop["id"], args.n)

            cur = conn.cursor()
            cur.execute("SELECT id FROM ecommerce_order WHERE shop_id = %s ORDER BY id", (shop["id"],))
            order_ids = [row[0] for row in cur.fetchall()]
            own_codes = issue_codes(state["app"], state["user_id"], clients * rounds)
            round_codes = issue_codes(state["app"], state["user_id"], rounds)
            tokens = state["tokens"]

            def redeem_own(index, i):
                k = index * rounds + i
                return httpload.Request(
                    "POST",
                    "/api/v1/ecommerce/coupons/redeem",
                    {"code": own_codes[k], "order_id": order_ids[k]},
                    {"Authorization": f"Bearer {tokens[index]}"},
                )

            def redeem_shared(index, i):
                return httpload.Request(
                    "POST",
                    "/api/v1/ecommerce/coupons/redeem",
                    {"code": round_codes[i], "order_id": order_ids[clients * rounds + index * rounds + i]},
                    {"Authorization": f"Bearer {tokens[index]}"},
                )

            def health(index, i):
                return httpload.Request(
                    "GET", "/api/v1/health", None, {"Authorization": f"Bearer {tokens[index]}"}
                )

            health_run = httpload.run("127.0.0.1", port, clients, rounds, health)
            own_run = httpload.run("127.0.0.1", port, clients, rounds, redeem_own)
            shared_run = httpload.run("127.0.0.1", port, clients, rounds, redeem_shared)
        over, in_force = double_use(conn)
        conn.close()

    accepted = hooks.statuses.get(200, 0)
    http_rate = accepted / hooks.seconds
    e2e_rate = applied / (hooks.seconds + drain_s)
    print(
        f"webhook ingestion: {args.n} signed order webhooks, {args.webhook_clients} clients, gunicorn "
        f"{args.workers} workers x {args.threads} threads"
    )
    for error in hooks.errors:
        print(f"  error: {error}")
    print(
        f"  HTTP, signature checked, queued:     {http_rate:7.0f}/s  ({accepted} accepted, {figures(hooks)})"
    )
    print(
        f"  bare INSERT ON CONFLICT, same table: {baseline_inbox:7.0f}/s  (ecommerce_delivery, one row a commit)"
    )
    ratio = http_rate / baseline_inbox
    print(f"  ratio: {ratio:.2f}  ({'meets' if ratio >= 0.3 else 'misses'} the bar >= 0.3)")
    print(
        f"  inbox job applying them (one process): {applied / drain_s:7.0f}/s ({applied} orders in {drain_s:.1f} s)"
    )
    print(f"  end to end (HTTP + apply):             {e2e_rate:7.0f}/s")
    print(
        f"  bare INSERT ON CONFLICT DO UPDATE on ecommerce_order: {baseline_orders:7.0f}/s "
        f"(ratio end to end {e2e_rate / baseline_orders:.2f})"
    )
    print(f"coupon redemption: {clients} concurrent clients x {rounds} requests")
    for run in (own_run, shared_run, health_run):
        for error in [e for e in run.errors if not e.startswith("409")]:
            print(f"  error: {error}")
    print(
        f"  own code each request     | {figures(own_run)} | statuses {dict(sorted(own_run.statuses.items()))}"
    )
    print(
        f"  one code per round (race) | {figures(shared_run)} | statuses {dict(sorted(shared_run.statuses.items()))}"
    )
    print(f"  GET /health (baseline)    | {figures(health_run)}")
    wins = shared_run.statuses.get(201, 0)
    print(
        f"  double use: {over} codes over their limit; {in_force} redemptions in force; race winners "
        f"{wins} for {rounds} codes ({'exactly one each' if wins == rounds else 'WRONG'})"
    )
    if over or wins != rounds or own_run.statuses.get(201, 0) != clients * rounds:
        raise SystemExit("coupon redemption went wrong: see the counts above")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

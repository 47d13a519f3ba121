"""Channel tracking benchmark (PostgreSQL): ingestion over HTTP, attribution and a funnel.

1. Batch ingestion: ``POST /api/v1/track/batch`` (1,000 events a request) against ``crm serve``
   (gunicorn), events/s, compared in the same run with a plain psycopg2 ``COPY`` of the same
   events into the same table (the floor: no HTTP, no JSON, no validation). The bar is 20,000
   events/s.
2. Attribution: every conversion of the range attributed over the touchpoint table with the
   set-based SQL of the reports (``sql.attributed_totals``), seconds per model.
3. Funnel: a 3-step funnel (``live_view -> follow -> order``) over the same table, seconds.

Sizes are configurable so a smoke run stays small (the defaults); the figures in the issue are
``--events 200000 --touchpoints 5000000 --conversions 100000``::

    .venv/bin/python bench/bench_channel.py                      # small
    .venv/bin/python bench/bench_channel.py --events 200000 --touchpoints 5000000 --conversions 100000

Environment: ``CRM_BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
a scratch database ``crm_bench_channel`` is created and dropped.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpload
import psycopg2
import requests

from crm_core.testing import scratch_database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def make_events(n: int, seed: int = 1) -> list[dict]:
    """Realistic events: a pool of visitors, a tenth of them from a campaign, some referrers."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    referrers = [
        None,
        None,
        "https://www.baidu.com/s?wd=x",
        "https://weibo.com/x",
        "https://blog.example.org/p",
    ]
    types = ["page_view", "page_view", "page_view", "click", "live_view", "follow", "add_to_cart", "order"]
    events = []
    for i in range(n):
        event = {
            "visitor_id": f"vis-{rng.randrange(50000)}",
            "event_type": rng.choice(types),
            "timestamp": (now - dt.timedelta(seconds=rng.randrange(86400))).isoformat() + "Z",
            "url": f"https://shop.example.com/p/{i % 997}",
        }
        ref = rng.choice(referrers)
        if ref:
            event["referrer"] = ref
        if i % 10 == 0:
            event.update(utm_source="douyin", utm_medium="kol", utm_campaign="bench-kol")
        if i % 37 == 0:
            event["gclid"] = f"gcl-{i}"
        events.append(event)
    return events


def migrate(db_url: str, env: dict) -> str:
    """Migrate the scratch database with every installed plugin and return an ingestion key."""
    code = (
        "from crm_core import create_app\n"
        "from crm_core.migrate import migrate\n"
        "app = create_app()\n"
        "crm = app.extensions['crm']\n"
        "with app.app_context():\n"
        "    migrate(crm.db, crm.plugins)\n"
        "    from crm_channel_tracking.keys import create_key\n"
        "    from crm_channel_tracking.models import Campaign\n"
        "    Campaign.create(name='bench', utm_campaign='bench-kol', utm_source='douyin', utm_medium='kol', kol='anna')\n"
        "    print(create_key('bench')[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def bench_http(events: list[dict], base: str, key: str, threads: int) -> float:
    """Send all events in batches of 1,000 from ``threads`` client threads; events/s."""
    bodies = [json.dumps({"events": events[i : i + 1000]}).encode() for i in range(0, len(events), 1000)]
    queue = list(range(len(bodies)))
    lock = threading.Lock()
    failures = []

    def worker():
        session = requests.Session()
        headers = {"Content-Type": "application/json", "X-Tracking-Key": key}
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop()
            r = session.post(f"{base}/api/v1/track/batch", data=bodies[index], headers=headers, timeout=120)
            if r.status_code != 200 or r.json()["accepted"] != len(json.loads(bodies[index])["events"]):
                failures.append((r.status_code, r.text[:200]))

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"ingestion failures: {failures[:3]}")
    return len(events) / elapsed


def bench_copy(events: list[dict], dsn: str) -> float:
    """The floor: the same events as rows, written with one COPY per 1,000 (no HTTP, no checks)."""
    columns = (
        "subject",
        "visitor_id",
        "event_type",
        "occurred_at",
        "received_at",
        "channel_group",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "click_ids",
        "referrer",
        "url",
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    conn = psycopg2.connect(dsn)
    start = time.perf_counter()
    with conn.cursor() as cur:
        for i in range(0, len(events), 1000):
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for e in events[i : i + 1000]:
                writer.writerow(
                    [
                        "v:" + e["visitor_id"],
                        e["visitor_id"],
                        e["event_type"],
                        e["timestamp"][:-1],
                        now,
                        "direct",
                        e.get("utm_source"),
                        e.get("utm_medium"),
                        e.get("utm_campaign"),
                        json.dumps({"gclid": e["gclid"]}) if "gclid" in e else None,
                        e.get("referrer"),
                        e["url"],
                    ]
                )
            buffer.seek(0)
            cur.copy_expert(
                f"COPY channel_tracking_touchpoint ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)",
                buffer,
            )
            conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return len(events) / elapsed


def load_history(dsn: str, touchpoints: int, conversions: int, people: int, days: int) -> None:
    """Touchpoints and conversions generated inside PostgreSQL (generate_series), over ``days``."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("TRUNCATE channel_tracking_touchpoint, channel_tracking_conversion CASCADE")
        cur.execute("SELECT setseed(0.42)")
        cur.execute(
            """
            INSERT INTO channel_tracking_touchpoint
                (subject, visitor_id, event_type, occurred_at, received_at, channel_group)
            SELECT 'v:p' || (g %% %(people)s), 'p' || (g %% %(people)s),
                   (ARRAY['page_view','page_view','live_view','follow','click','order'])[1 + floor(random() * 6)::int],
                   now()::timestamp - make_interval(secs => random() * %(span)s), now()::timestamp,
                   (ARRAY['direct','direct','social','kol','paid_search','organic_search','referral','live_stream'])
                       [1 + floor(random() * 8)::int]
            FROM generate_series(1, %(n)s) g
            """,
            {"people": people, "span": days * 86400, "n": touchpoints},
        )
        cur.execute(
            """
            INSERT INTO channel_tracking_conversion
                (order_ref, subject, revenue, currency, occurred_at, source, created_at, updated_at)
            SELECT 'o' || g, 'v:p' || floor(random() * %(people)s)::int, round((random() * 500)::numeric, 2), 'CNY',
                   now()::timestamp - make_interval(secs => random() * %(span)s), 'bench', now(), now()
            FROM generate_series(1, %(n)s) g
            """,
            {"people": people, "span": days * 86400, "n": conversions},
        )
        # the steady state of an append-only table: autovacuum has set the visibility map, so the
        # covering index serves index-only scans
        cur.execute("VACUUM ANALYZE channel_tracking_touchpoint")
        cur.execute("VACUUM ANALYZE channel_tracking_conversion")
    conn.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 20000)))
    parser.add_argument("--touchpoints", type=int, default=int(os.environ.get("BENCH_TOUCHPOINTS", 200000)))
    parser.add_argument("--conversions", type=int, default=int(os.environ.get("BENCH_CONVERSIONS", 4000)))
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    args = parser.parse_args(argv)

    server_url = os.environ.get("CRM_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    with scratch_database(server_url, "crm_bench_channel", keep=bool(os.environ.get("BENCH_KEEP"))) as db_url:
        return run(db_url, args)


def run(db_url: str, args) -> int:
    instance = tempfile.mkdtemp(prefix="crm-bench-channel-")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRM_")},
        "CRM_DATABASE_URL": db_url,
        "CRM_SECRET_KEY": "bench",
        "CRM_INSTANCE_PATH": instance,
        "CRM_LOG_LEVEL": "WARNING",
        "CRM_CHANNEL_TRACKING_RATE_LIMIT": "1000000/minute",
        # API limits off, as in the other benchmarks (several workers would need a shared store)
        "CRM_RATELIMIT_ENABLED": "false",
    }
    key = migrate(db_url, env)
    events = make_events(args.events)
    with httpload.served(env, args.workers) as port:
        base = f"http://127.0.0.1:{port}"
        bench_http(make_events(2000, seed=9), base, key, args.threads)  # warm-up: workers, caches
        http_rate = bench_http(events, base, key, args.threads)
    copy_rate = bench_copy(events, db_url)
    print(f"ingestion: {len(events)} events, {args.workers} gunicorn workers, {args.threads} client threads")
    print(f"  HTTP /api/v1/track/batch : {http_rate:10.0f} events/s")
    print(f"  psycopg2 COPY (floor)    : {copy_rate:10.0f} events/s")
    print(f"  ratio HTTP / COPY        : {http_rate / copy_rate:10.2f}   (bar: 20,000 events/s over HTTP)")

    people = max(1000, args.touchpoints // 50)
    start = time.perf_counter()
    load_history(db_url, args.touchpoints, args.conversions, people, days=90)
    print(
        f"history: {args.touchpoints} touchpoints, {args.conversions} conversions, {people} people, "
        f"loaded in {time.perf_counter() - start:.1f} s"
    )

    os.environ.update({k: v for k, v in env.items() if k.startswith("CRM_")})
    sys.path.insert(0, str(ROOT))
    from crm_channel_tracking import sql

    from crm_core import create_app

    app = create_app()
    db = app.extensions["crm"].db
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    date_from, date_to = now - dt.timedelta(days=91), now + dt.timedelta(days=1)
    with app.app_context():
        for model in ("last_non_direct", "time_decay"):
            start = time.perf_counter()
            totals = sql.attributed_totals(db, "channel", date_from, date_to, model, "CNY", 30, 7, 30)
            elapsed = time.perf_counter() - start
            credited = sum(v[0] for v in totals.values())
            print(
                f"attribution ({model}): {args.conversions} conversions over {args.touchpoints} touchpoints: "
                f"{elapsed:.2f} s (credits sum {credited:.1f})"
            )
        start = time.perf_counter()
        counts = sql.funnel_counts(db, ["live_view", "follow", "order"], date_from, date_to, 14, 30)
        elapsed = time.perf_counter() - start
        overall = [sum(c[k] for c in counts.values()) for k in range(3)]
        print(
            f"funnel live_view -> follow -> order over {args.touchpoints} events: {elapsed:.2f} s "
            f"(people per step {overall})"
        )
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

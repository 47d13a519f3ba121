#!/usr/bin/env python3
"""Events end to end and webhook deliveries per second, PostgreSQL, with same-run baselines.

1. Events: N customers are created through the core write path (service.create: permissions,
   validation, audit, outbox row in the same transaction), then the dispatcher delivers every
   committed event to a counting ``crm_event`` hook. Reported: writes/s with the outbox, the same
   writes/s with the events capability unregistered (baseline: the cost of the outbox on the
   write path), dispatched events/s (batch claim + per-consumer savepoints + done mark), the
   end-to-end rate (change -> hook called), the event machinery alone (emit() in its own
   transaction, then dispatch), and 2 dispatchers in parallel (SKIP LOCKED).
2. Webhooks: M events fan out to one subscription and are delivered, signed, to a local
   keep-alive HTTP receiver by ``deliver_due`` (lease, thread pool, attempt log). Baseline: the
   same bodies posted by one bare ``requests.Session`` with no signing and no database.

    .venv/bin/python bench/bench_events.py                  # smoke size (N=2000, M=1000)
    BENCH_EVENTS=20000 BENCH_DELIVERIES=5000 .venv/bin/python bench/bench_events.py
    options: --events N --deliveries M --concurrency C --pg-url postgresql://...
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from httpload import receiver  # noqa: E402

from crm_core.testing import migrate_url, scratch_database  # noqa: E402


class Counter:
    """A crm_event consumer that counts what it is given."""

    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def crm_event(self, event):
        with self.lock:
            self.count += 1


def _counter_plugin(counter):
    from crm_core import hookimpl

    class Plugin:
        @hookimpl
        def crm_event(self, event):
            counter.crm_event(event)

    return Plugin()


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s" if seconds > 0 else "inf"


def bench_events(app, n: int) -> None:
    from crm_core.auth import actor_for_user, create_user
    from crm_core.db import database
    from crm_core.entities import customers as customer_objects
    from crm_core.entities.models import Customer
    from crm_core.events import dispatch_pending
    from crm_core.events.models import OutboxEvent
    from crm_core.records import service

    crm = app.extensions["crm"]
    actor = actor_for_user(create_user(f"bench_{uuid.uuid4().hex[:6]}", "Bench-Passw0rd!", roles=["admin"]))
    write = customer_objects.WRITE_OPTIONS

    def create_many(prefix: str, count: int) -> float:
        start = time.perf_counter()
        for i in range(count):
            service.create(
                "customers", Customer, {"name": f"{prefix} {i}", "source_channel": "bench"}, actor, **write
            )
        return time.perf_counter() - start

    # baseline: the same writes without the events capability (no outbox row, no event).
    # Blocks of the two modes alternate so that load on the machine and table growth hit both.
    OutboxEvent.delete().execute()
    base_s = write_s = 0.0
    block = max(1, min(100, n // 10))
    done = 0
    while done < n:
        count = min(block, n - done)
        events_plugin = crm.plugins.pm.unregister(name="core.events")
        base_s += create_many(f"base{done}", count)
        crm.plugins.pm.register(events_plugin, name="core.events")
        write_s += create_many(f"evt{done}", count)
        done += count
    pending = OutboxEvent.select().where(OutboxEvent.status == "pending").count()
    counter = Counter()
    crm.plugins.pm.register(_counter_plugin(counter), name="bench_counter")
    start = time.perf_counter()
    dispatched = dispatch_pending()
    dispatch_s = time.perf_counter() - start
    assert counter.count == pending == dispatched == n, (counter.count, pending, dispatched, n)

    print(f"events: {n} customers through the write path (audit + outbox), then dispatched")
    print(f"  writes without outbox (baseline) {rate(n, base_s):>10}   {base_s * 1000 / n:.2f} ms/write")
    print(
        f"  writes with outbox               {rate(n, write_s):>10}   {write_s * 1000 / n:.2f} ms/write"
        f"   ratio {write_s / base_s:.2f}x baseline time"
    )
    print(
        f"  dispatch (hook called)           {rate(n, dispatch_s):>10}   ({len(crm.plugins.hook.crm_event.get_hookimpls())} consumers)"
    )
    print(f"  end to end (change -> hook)      {rate(n, write_s + dispatch_s):>10}")

    # the event machinery alone: emit() in its own transaction per event, no record write
    from crm_core.events import emit

    start = time.perf_counter()
    for i in range(n):
        with database.atomic():
            emit("bench.emitted", {"n": i, "customer_id": None})
    emit_s = time.perf_counter() - start
    counter.count = 0
    start = time.perf_counter()
    dispatch_pending()
    alone_s = time.perf_counter() - start
    assert counter.count == n, (counter.count, n)
    print(f"  emit() alone, 1 transaction each {rate(n, emit_s):>10}   {emit_s * 1000 / n:.2f} ms/event")
    print(f"  emit() alone -> hook, end to end {rate(n, emit_s + alone_s):>10}")

    # two dispatchers in parallel share the backlog (FOR UPDATE SKIP LOCKED): each event once
    create_many("par", n)
    counter.count = 0
    plugins = crm.plugins

    def worker():
        with app.app_context(), database.connection_context():
            dispatch_pending(batch_size=50, plugins=plugins)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    par_s = time.perf_counter() - start
    assert counter.count == n, (counter.count, n)
    print(
        f"  2 dispatchers in parallel        {rate(n, par_s):>10}   ratio {dispatch_s / par_s:.2f}x one dispatcher"
    )
    crm.plugins.pm.unregister(name="bench_counter")


def bench_webhooks(app, m: int) -> None:
    import json

    import requests

    from crm_core.db import database
    from crm_core.events import dispatch_pending, emit
    from crm_core.webhooks.models import WebhookDelivery, WebhookSubscription
    from crm_core.webhooks.outbound import deliver_due
    from crm_core.webhooks.signing import generate_secret

    server, url, hits = receiver()
    try:
        WebhookSubscription.create(url=url, events=["bench.*"], secret=generate_secret(), owner_id=None)
        with database.atomic():
            for i in range(m):
                emit("bench.ping", {"n": i, "customer_id": None, "note": "x" * 200})
        dispatch_pending()
        queued = WebhookDelivery.select().where(WebhookDelivery.status == "pending").count()
        assert queued == m, (queued, m)
        bodies = [d.payload for d in WebhookDelivery.select(WebhookDelivery.payload).limit(m)]

        start = time.perf_counter()
        sent = 0
        while True:
            done = deliver_due(limit=500)
            sent += done
            if not done:
                break
        deliver_s = time.perf_counter() - start
        ok = WebhookDelivery.select().where(WebhookDelivery.status == "succeeded").count()
        assert ok == m and len(hits) == m, (ok, len(hits), m)

        session = requests.Session()
        start = time.perf_counter()
        for body in bodies:
            session.post(url, data=body.encode(), headers={"content-type": "application/json"}, timeout=10)
        raw_s = time.perf_counter() - start
        json.dumps(None)
    finally:
        server.shutdown()
        server.server_close()
    print(
        f"webhooks: {m} signed deliveries to a local receiver (concurrency {app.config['WEBHOOK_CONCURRENCY']})"
    )
    print(f"  bare requests.Session, 1 thread  {rate(m, raw_s):>10}   (baseline: no signing, no database)")
    print(
        f"  deliver_due (sign, lease, log)   {rate(m, deliver_s):>10}   ratio {raw_s / deliver_s:.2f}x baseline throughput"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 2000)))
    parser.add_argument("--deliveries", type=int, default=int(os.environ.get("BENCH_DELIVERIES", 1000)))
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("BENCH_CONCURRENCY", 8)))
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()

    with scratch_database(args.pg_url, "crm_bench_ev") as url:
        migrate_url(url)
        from crm_core.app import create_app

        app = create_app(
            {
                "DATABASE_URL": url,
                "INSTANCE_PATH": tempfile.mkdtemp(prefix="crm-bench-"),
                "SECRET_KEY": "bench",
                "WEBHOOK_ALLOW_PRIVATE_URLS": True,
                "WEBHOOK_CONCURRENCY": args.concurrency,
            }
        )
        with app.app_context():
            bench_events(app, args.events)
            bench_webhooks(app, args.deliveries)
        app.extensions["crm"].db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

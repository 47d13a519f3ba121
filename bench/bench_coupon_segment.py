#!/usr/bin/env python3
"""Issuing a coupon to a segment on PostgreSQL: the chunked task against the per-code loop it
replaced, both in the same run, through the same task machinery.

Seeds N customers (one bulk insert) and a segment of them, then runs, each for a template of its
own and timed from queueing to the task's end as ``run_task`` runs it:

- per code (baseline): the task as it was before chunking (commit 8732075), one
  ``coupons.issue`` per customer: a transaction each, its own stock UPDATE, code INSERT, audit
  entry (and bump of the audit chain's head) and event;
- chunked: ``crm_ecommerce.coupon_api.issue_segment_task``, ``--chunk`` customers per
  transaction (one template lock, one stock UPDATE, one multi-row INSERT of codes, one batch of
  audit entries; still one ``coupon.issued`` event per code).

Prints codes/s of each, the ratio, the statements each sent through ``execute_sql`` (the audit
batch's multi-row insert goes through the driver and is not counted) and the audit head bumps;
then checks both issued N codes with N audit entries and N events and that the chain verifies.

    .venv/bin/python bench/bench_coupon_segment.py                  # 5,000 customers, chunks of 500
    options: --customers N --chunk C --pg-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from crm_core.testing import TEST_SECRET_KEY, migrate_url, scratch_database, statements_of  # noqa: E402

PER_CODE = "bench.coupons.issue_segment_per_code"


def per_code_task(ctx) -> dict:
    """The segment issue task as it was before chunking (commit 8732075), kept here as the
    baseline: the holders read once, then one ``coupons.issue`` (a transaction) per customer."""
    from crm_ecommerce import coupons
    from crm_ecommerce.coupon_models import CouponCode, CouponTemplate

    from crm_core.plugin_api import APIError, Segment, segment_customers

    template = CouponTemplate.get_by_id(ctx.params["template_id"])
    segment = Segment.get_by_id(ctx.params["segment_id"])
    source = f"segment:{segment.id}"
    query, _total = segment_customers(segment, ctx.actor, paginate=False)
    ids = [c.id for c in query]
    held = {
        c.customer_id
        for c in CouponCode.select(CouponCode.customer_id).where(
            CouponCode.template == template.id, CouponCode.issued_by == source
        )
    }
    ctx.progress(0, len(ids), "issuing")
    issued = skipped = 0
    refused = None
    for done, customer_id in enumerate(ids, 1):
        if customer_id in held:
            skipped += 1
        else:
            try:
                coupons.issue(template, customer_id, ctx.actor, source)
                issued += 1
            except APIError as exc:
                refused = exc.message
                break
        if done % 50 == 0 or done == len(ids):
            ctx.progress(done, len(ids))
    return {"issued": issued, "skipped": skipped, "customers": len(ids), "stopped": refused}


def seed(app, n: int) -> tuple[int, int]:
    """An admin and ``n`` customers in one segment; ``(user id, segment id)``."""
    from crm_core.auth import create_user
    from crm_core.db import write_transaction
    from crm_core.entities.models import Customer, Segment

    with app.app_context():
        user = create_user(f"bench_{uuid.uuid4().hex[:6]}", "Bench-Passw0rd!", roles=["admin"])
        with write_transaction():
            for start in range(0, n, 1000):
                rows = [
                    {"name": f"Segment customer {i}", "source_channel": "bench_segment"}
                    for i in range(start, min(n, start + 1000))
                ]
                Customer.insert_many(rows).execute()
            segment = Segment.create(name="bench segment", filters={"source_channel": "bench_segment"})
        app.extensions["crm"].db.close()
    return user.id, segment.id


def timed_run(app, kind: str, user_id: int, segment_id: int, name: str) -> dict:
    """Queue a task of ``kind`` for a new template and run it as the scheduler would; its
    figures."""
    from crm_ecommerce.coupon_models import CouponTemplate

    from crm_core.auth import User, actor_for_user
    from crm_core.jobs.tasks import Task, enqueue, run_task

    with app.app_context():
        actor = actor_for_user(User.get_by_id(user_id))
        template = CouponTemplate.create(name=name, kind="amount_off", value=20, currency="CNY")
        task = enqueue(kind, actor, {"template_id": template.id, "segment_id": segment_id})
        app.extensions["crm"].db.close()
    db = app.extensions["crm"].db
    start = time.perf_counter()
    _ran, sql = statements_of(db, lambda: run_task(app, task.id))
    seconds = time.perf_counter() - start
    with app.app_context():
        stored = Task.get_by_id(task.id)
        app.extensions["crm"].db.close()
    assert stored.status == "done", (stored.status, stored.error)
    return {
        "template_id": template.id,
        "result": stored.result,
        "seconds": seconds,
        "statements": len(sql),
        "head_bumps": sum(1 for s in sql if "audit_head" in s and "seq + " in s),
    }


def check(app, runs: dict, n: int) -> list[str]:
    """What is wrong with the runs' codes, audit entries and events (nothing: an empty list)."""
    from crm_ecommerce.coupon_models import CouponCode

    from crm_core.audit import seal, verify
    from crm_core.audit.models import AuditEntry
    from crm_core.events.models import OutboxEvent

    problems = []
    with app.app_context():
        for name, run in runs.items():
            ids = [
                str(c.id)
                for c in CouponCode.select(CouponCode.id).where(CouponCode.template == run["template_id"])
            ]
            entries = (
                AuditEntry.select()
                .where(AuditEntry.resource == "ecommerce.coupons", AuditEntry.record_id.in_(ids))
                .count()
            )
            events = (
                OutboxEvent.select()
                .where(OutboxEvent.type == "coupon.issued", OutboxEvent.record_id.in_(ids))
                .count()
            )
            if (len(ids), entries, events) != (n, n, n) or run["result"]["issued"] != n:
                problems.append(f"{name}: {len(ids)} codes, {entries} audit entries, {events} events for {n}")
        seal()
        result = verify()
        if not result.ok:
            problems.append(result.describe())
        app.extensions["crm"].db.close()
    return problems


def main() -> int:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=int(env("COUPON_BENCH_CUSTOMERS", 5000)))
    parser.add_argument("--chunk", type=int, default=int(env("COUPON_BENCH_CHUNK", 500)))
    parser.add_argument(
        "--pg-url", default=env("CRM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    from crm_ecommerce import coupon_api

    from crm_core.app import create_app
    from crm_core.jobs.tasks import register_kind

    coupon_api.CHUNK = args.chunk
    with (
        tempfile.TemporaryDirectory() as instance,
        scratch_database(args.pg_url, "crm_bench_coupon_segment") as url,
    ):
        migrate_url(url, instance_path=instance)
        settings = {
            "DATABASE_URL": url,
            "SECRET_KEY": TEST_SECRET_KEY,  # the key migrate_url sealed its audit entries with
            "ENCRYPTION_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
            "INSTANCE_PATH": instance,
            "RATELIMIT_ENABLED": False,
            "LOG_LEVEL": "WARNING",
        }
        app = create_app(settings)
        register_kind(PER_CODE, per_code_task)
        user_id, segment_id = seed(app, args.customers)
        runs = {
            "per code": timed_run(app, PER_CODE, user_id, segment_id, "bench per code"),
            "chunked": timed_run(app, coupon_api.SEGMENT_TASK, user_id, segment_id, "bench chunked"),
        }
        problems = check(app, runs, args.customers)

    n = args.customers
    print(f"coupon issue to a segment of {n:,} customers, PostgreSQL, one process")
    for name, run in runs.items():
        label = "per code (baseline, 8732075)" if name == "per code" else f"chunked ({args.chunk} a chunk)"
        print(
            f"  {label:<30} {n / run['seconds']:8.0f} codes/s  {run['seconds']:6.2f} s  "
            f"{run['statements'] / n:5.2f} statements a code  {run['head_bumps']:5d} audit head bumps"
        )
    print(f"  ratio chunked / per code: {runs['per code']['seconds'] / runs['chunked']['seconds']:.2f}x")
    for problem in problems:
        print(f"  WRONG: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

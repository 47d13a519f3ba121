"""``crm demo-data``: plausible demo records, inserted in bulk (a million customers in minutes).

Demo rows are written with bulk inserts in chunks rather than through the API or the write path:
they are seed data, not business events, so they are neither audited nor sent to webhooks. Phone
numbers and e-mail addresses continue from what is already there, so the command can be run again.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import click
from flask.cli import with_appcontext

from ..db import database, utcnow
from ..records.bulk import insert_rows
from .models import (
    ACTIVITY_KINDS,
    LIFECYCLE_STAGES,
    TICKET_PRIORITIES,
    Activity,
    Company,
    Customer,
    CustomerTag,
    Deal,
    DealStageChange,
    Pipeline,
    Stage,
    Tag,
    Ticket,
    TicketTransition,
)
from .tickets import sla_due

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红娥玲芬燕彬鹏辉宇浩然子轩梓涵一诺欣怡"
CHANNELS = ("wechat", "douyin", "xiaohongshu", "kol", "store", "website", "referral", "exhibition")
TAGS = ("vip", "kol", "new", "wholesale", "repeat")
DEFAULT_STAGES = (
    ("Lead", 10, "open"),
    ("Qualified", 30, "open"),
    ("Proposal", 60, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
)
MOBILE_PREFIXES = ("138", "139", "137", "136", "135", "158", "159", "186", "187", "188")


def default_pipeline() -> Pipeline:
    """The demo sales pipeline (created with its stages if missing)."""
    pipeline = Pipeline.get_or_none(Pipeline.name == "Sales")
    if pipeline is None:
        pipeline = Pipeline.create(name="Sales", is_default=not Pipeline.select().exists())
        for position, (name, probability, kind) in enumerate(DEFAULT_STAGES):
            Stage.create(pipeline=pipeline, name=name, position=position, probability=probability, kind=kind)
    return pipeline


def seed(customers: int, chunk: int = 5000, rng: random.Random | None = None, echo=lambda msg: None) -> dict:
    """Insert ``customers`` customers plus a few companies, deals, tickets and activities."""
    rng = rng or random.Random(42)
    now = utcnow()
    counts = {"customers": 0}
    start = (Customer.select(Customer.id).order_by(Customer.id.desc()).scalar() or 0) + 1
    with database.atomic():
        tag_ids = []
        for name in TAGS:
            tag, _ = Tag.get_or_create(name=name)
            tag_ids.append(tag.id)
    for offset in range(0, customers, chunk):
        with database.atomic():
            rows = []
            for i in range(offset, min(offset + chunk, customers)):
                n = start + i
                created = now - dt.timedelta(seconds=rng.randrange(0, 730 * 86400))
                prefix = MOBILE_PREFIXES[n // 10**8 % len(MOBILE_PREFIXES)]
                rows.append(
                    {
                        "name": rng.choice(SURNAMES)
                        + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2)))),
                        "phone": f"+86{prefix}{n % 10**8:08d}",
                        "email": f"demo{n}@example.com",
                        "gender": rng.choice(("male", "female")),
                        "birthday": dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(0, 16000)),
                        "source_channel": rng.choice(CHANNELS),
                        "lifecycle_stage": rng.choice(LIFECYCLE_STAGES),
                        "custom": {},
                        "created_at": created,
                        "updated_at": created,
                    }
                )
            names = list(rows[0])
            ids = insert_rows(Customer, names, [tuple(r.values()) for r in rows], ignore_conflicts=True)
            links = [{"customer": cid, "tag": rng.choice(tag_ids)} for cid in ids if rng.random() < 0.1]
            if links:
                CustomerTag.insert_many(links).on_conflict_ignore().execute()
            counts["customers"] += len(ids)
        echo(f"customers: {counts['customers']:,}/{customers:,}")
    counts.update(_related(min(customers, 1000), rng, now))
    return counts


def _related(n: int, rng: random.Random, now: dt.datetime) -> dict:
    """Companies (a small dealer tree), deals, tickets and activities for ``n`` recent customers."""
    if n == 0:
        return {}
    customer_ids = [c for (c,) in Customer.select(Customer.id).order_by(Customer.id.desc()).limit(n).tuples()]
    with database.atomic():
        pipeline = default_pipeline()
        stages = list(pipeline.stages)
        root = Company.create(name="华东总代理", industry="distribution")
        root.path = f"/{root.id}/"
        root.save()
        companies = [root]
        for i in range(max(1, n // 100)):
            parent = rng.choice(companies)
            company = Company.create(name=f"经销商 {i + 1}", parent=parent, industry="retail")
            company.path = f"{parent.path}{company.id}/"
            company.save()
            companies.append(company)
        deals = []
        for cid in customer_ids[: n // 2]:
            stage = rng.choice(stages)
            deals.append(
                {
                    "title": f"订单 #{cid}",
                    "customer": cid,
                    "pipeline": pipeline.id,
                    "stage": stage.id,
                    "status": stage.kind,
                    "amount": Decimal(rng.randrange(100, 500000)) / 100,
                    "currency": "CNY",
                    "custom": {},
                    "stage_changed_at": now,
                    "closed_at": now if stage.kind != "open" else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        deal_ids = [r[0] for r in Deal.insert_many(deals).returning(Deal.id).tuples().execute()]
        DealStageChange.insert_many(
            [
                {"deal": d, "to_stage": row["stage"], "changed_at": now}
                for d, row in zip(deal_ids, deals, strict=True)
            ]
        ).execute()
        tickets = []
        for cid in customer_ids[: n // 4]:
            priority = rng.choice(TICKET_PRIORITIES)
            tickets.append(
                {
                    "title": "售后咨询",
                    "customer": cid,
                    "priority": priority,
                    "status": "new",
                    "sla_due_at": sla_due(now, priority),
                    "custom": {},
                    "created_at": now,
                    "updated_at": now,
                }
            )
        ticket_ids = [r[0] for r in Ticket.insert_many(tickets).returning(Ticket.id).tuples().execute()]
        TicketTransition.insert_many(
            [{"ticket": t, "to_status": "new", "changed_at": now} for t in ticket_ids]
        ).execute()
        activities = [
            {
                "kind": rng.choice(ACTIVITY_KINDS),
                "subject": "回访",
                "body": "",
                "related_type": "customers",
                "related_id": cid,
                "customer": cid,
                "done": False,
                "custom": {},
                "created_at": now,
                "updated_at": now,
            }
            for cid in customer_ids[: n // 2]
        ]
        Activity.insert_many(activities).execute()
    return {
        "companies": len(companies),
        "deals": len(deal_ids),
        "tickets": len(ticket_ids),
        "activities": len(activities),
    }


@click.command("demo-data")
@click.option(
    "--customers",
    default=200,
    show_default=True,
    type=click.IntRange(0, 10_000_000),
    help="How many customers.",
)
@click.option("--seed", "seed_value", default=42, show_default=True, type=int, help="Random seed.")
@click.option(
    "--chunk", default=5000, show_default=True, type=click.IntRange(1, 50_000), help="Rows per INSERT."
)
@with_appcontext
def demo_data_command(customers, seed_value, chunk):
    """Load demo customers (bulk inserts), a dealer tree, a sales pipeline with deals, tickets and activities."""
    import time

    started = time.perf_counter()
    counts = seed(customers, chunk=chunk, rng=random.Random(seed_value), echo=click.echo)
    took = time.perf_counter() - started
    click.echo("demo data: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + f" in {took:.1f} s")

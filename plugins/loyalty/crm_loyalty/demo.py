"""The loyalty programme's part of ``crm demo-data`` (the ``crm_demo_data`` hook).

Tiers and earning rules named in the demo's language, then members enrolled from the demo's
customers (owner and department follow the customer's, so each sales rep sees their own members),
each with a history: purchases over the last months (earning points, lifting tiers), some
redemptions, and points earned more than a year ago that have expired. Everything goes through
the plugin's services (enrolment, activities, the ledger), as the API would write it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm_core.plugin_api import create_record, record_written, update_record, utcnow

from . import activities, ledger, operations
from .models import Allocation, EarningRule, LedgerEntry, Lot, Member, Tier

TEXT = {
    "zh_CN": {
        "program": "会员俱乐部",
        "tiers": ["普通会员", "银卡会员", "金卡会员", "钻石会员"],
        "perk": "专属客服",
        "rules": ["每消费 1 元得 1 分", "入会礼", "生日礼"],
        "channels": ["门店", "微信小程序", "抖音直播", "天猫旗舰店"],
        "redeem": ["兑换优惠券", "兑换礼品", "抵扣现金"],
    },
    "en": {
        "program": "Rewards Club",
        "tiers": ["Member", "Silver", "Gold", "Diamond"],
        "perk": "Personal shopper",
        "rules": ["1 point per yuan", "Welcome bonus", "Birthday gift"],
        "channels": ["Store", "Mini program", "Live stream", "Online shop"],
        "redeem": ["Voucher", "Gift", "Cash discount"],
    },
}
#: code, rank, threshold (spend in a rolling year), multiplier, benefits
TIERS = [
    ("member", 10, "0", "1", {}),
    ("silver", 20, "2000", "1.2", {"discount_rate": "0.02"}),
    ("gold", 30, "8000", "1.5", {"discount_rate": "0.05", "free_shipping": True}),
    ("diamond", 40, "20000", "2", {"discount_rate": "0.1", "free_shipping": True, "perks": None}),
]
MEMBER_SHARE = 0.7
# enough members to fill every screen; each history is written through the ledger one entry at a
# time (audit, outbox), so enrolling every demo customer would make `crm init --demo` wait
MAX_MEMBERS = 60


def _create(resource: str, model, values: dict, actor):
    """Through the core's write path (audit, events) when the demo has an admin, else directly."""
    if actor is None:
        return model.create(**values)
    return create_record(resource, model, values, actor)


def _setup(words: dict, actor) -> None:
    """The programme, its tiers and rules, unless someone set them up already."""
    prog = ledger.program()
    if prog.name in ("", "Loyalty"):
        if actor is None:
            prog.name, prog.expiry_days = words["program"], 365
            prog.save()
        else:
            update_record("loyalty.program", prog, {"name": words["program"], "expiry_days": 365}, actor)
    if not Tier.select().exists():
        for (code, rank, threshold, multiplier, benefits), name in zip(TIERS, words["tiers"], strict=True):
            if "perks" in benefits:
                benefits = {**benefits, "perks": [words["perk"]]}
            values = {
                "code": code,
                "name": name,
                "rank": rank,
                "metric": "spend",
                "window": "rolling",
                "window_days": 365,
                "threshold": Decimal(threshold),
                "multiplier": Decimal(multiplier),
                "benefits": benefits,
                "description": "",
            }
            _create("loyalty.tiers", Tier, values, actor)
    if not EarningRule.select().exists():
        purchase, signup, birthday = words["rules"]
        for values in (
            {"name": purchase, "kind": "purchase", "rate": Decimal(1)},
            {"name": signup, "kind": "signup", "points": 100, "apply_multiplier": False},
            {"name": birthday, "kind": "birthday", "points": 200},
        ):
            _create("loyalty.rules", EarningRule, values, actor)


def _dated(entries, when: dt.datetime) -> None:
    """Date the demo's back-dated entries when their activity happened (the ledger stamps the
    time of writing)."""
    ids = [e.id for e in entries]
    if ids:
        LedgerEntry.update(created_at=when).where(LedgerEntry.id.in_(ids)).execute()


def _history(member: Member, rng, words: dict, now: dt.datetime, actor, index: int) -> None:
    """Purchases over the past ~16 months, a redemption or two, expiry of the year-old points."""
    written = []
    # the first members always have an old purchase, so the demo shows expired points
    ages = sorted({rng.randint(3, 480) for _ in range(rng.randint(2, 6))} | ({420} if index < 3 else set()))
    for n, days in enumerate(reversed(ages)):
        when = now - dt.timedelta(days=days, hours=rng.randint(0, 20))
        amount = Decimal(rng.choice((88, 128, 199, 268, 399, 588, 888, 1280, 2680, 4980)))
        data = {"kind": "purchase", "reference": f"demo-{member.customer_id}-{n + 1}", "amount": amount}
        result = activities.apply(member, {**data, "occurred_at": when}, now=when, actor_id=None)
        written += result["entries"]
        _dated(result["entries"], when)
    with ledger.member_lock(member.id) as locked:
        ledger.expire_due(locked, now)
        # an expiry is dated when its lot expired (the job would have run that night)
        for entry_id, expired_at in (
            LedgerEntry.select(LedgerEntry.id, Lot.expires_at)
            .join(Allocation, on=(Allocation.entry == LedgerEntry.id))
            .join(Lot, on=(Allocation.lot == Lot.id))
            .where(LedgerEntry.member == member.id, LedgerEntry.kind == "expire")
            .tuples()
        ):
            LedgerEntry.update(created_at=expired_at).where(LedgerEntry.id == entry_id).execute()
        spendable = ledger.spendable_points(locked, now)
        if spendable >= 200 and rng.random() < 0.6:
            points = max(50, min(spendable // 2, rng.choice((100, 200, 300, 500))) // 50 * 50)
            entry, created = ledger.redeem(
                locked,
                points,
                f"demo-redeem-{member.customer_id}",
                reason=rng.choice(words["redeem"]),
                now=now,
            )
            if created:
                written.append(entry)
    if actor is not None:
        for entry in written:
            operations.entry_written(entry, member, actor)


def add_demo_data(context) -> None:
    """Write the loyalty demo for ``context`` (:class:`crm_core.plugin_api.DemoContext`)."""
    words = TEXT.get(context.locale, TEXT["en"])
    actor = context.admin
    rng = context.random
    _setup(words, actor)
    if Member.select().where(Member.customer_id.in_(list(context.customers))).exists():
        return  # this demo's members exist already: a second run adds nothing
    now = utcnow()
    chosen = [c for c in context.customers if rng.random() < MEMBER_SHARE] or list(context.customers[:1])
    chosen = chosen[:MAX_MEMBERS]
    for index, customer_id in enumerate(chosen):
        joined = now - dt.timedelta(days=500 - index % 20)
        member, created = activities.enrol(
            customer_id, channel=rng.choice(words["channels"]), joined_at=joined, now=joined
        )
        if created and actor is not None:
            record_written("create", operations.MEMBERS, member, actor, None, operations.member_image(member))
        if created:
            _dated(list(LedgerEntry.select().where(LedgerEntry.member == member.id)), joined)
        _history(Member.get_by_id(member.id), rng, words, now, actor, index)

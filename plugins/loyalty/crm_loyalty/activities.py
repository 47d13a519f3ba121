"""Qualifying activities: enrolment, paid orders, refunds and bonus events.

These are what ``order.paid`` / ``order.refunded`` events and ``POST /loyalty/activities`` feed.
Each one is recorded once per (member, kind, reference): a repeat changes nothing and returns the
first result, so events delivered twice and retried API calls are harmless.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

import peewee as pw

from crm_core.plugin_api import APIError, utcnow

from . import core, customers, earning, ledger, tiers
from .models import Activity, LedgerEntry, Member


def enrol(
    customer_id: int,
    *,
    channel: str = "",
    birthday: dt.date | None = None,
    owner_id: int | None = None,
    department_id: int | None = None,
    joined_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> tuple[Member, bool]:
    """Make ``customer_id`` a member (base tier, signup bonus); returns (member, created).

    Owner and department default to the customer's, so row scopes follow the customer."""
    now = now or utcnow()
    found = Member.get_or_none(Member.customer_id == customer_id)
    if found is not None:
        return found, False
    if owner_id is None and department_id is None:
        owner_id, department_id = customer_ownership(customer_id)
    member = Member.create(
        customer_id=customer_id,
        member_no=member_number(now),
        joined_at=joined_at or now,
        channel=channel or "",
        birthday=birthday,
        owner_id=owner_id,
        department_id=department_id,
    )
    welcome(member, now)
    return member, True


def customer_ownership(customer_id: int) -> tuple[int | None, int | None]:
    """The owner and department of the core's customer ``customer_id`` (None, None if unknown), so
    that a member enrolled by an event falls in the same row scopes as the customer.

    Read through the core's customer model (:func:`customers.customer_model`), never its table by
    name; no actor bounds it: events and jobs enrol without one."""
    model = customers.customer_model()
    row = model.select(model.owner_id, model.department_id).where(model.id == customer_id).tuples().first()
    return (row[0], row[1]) if row else (None, None)


def customer_exists(customer_id: int) -> bool:
    """True when the core has a customer ``customer_id`` (enrolment by an event, which has no
    actor to check read access for, needs at least that: the member's foreign key)."""
    model = customers.customer_model()
    return model.select(model.id).where(model.id == customer_id).exists()


def welcome(member: Member, now: dt.datetime | None = None) -> None:
    """What follows an enrolment: ``loyalty.member.enrolled``, the base tier, the signup bonus."""
    now = now or utcnow()
    core.emit(
        "loyalty.member.enrolled",
        {**ledger.member_ref(member), "channel": member.channel, "joined_at": member.joined_at},
    )
    tiers.check_upgrade(member, "enrolment", now)
    record_bonus(member, "signup", f"signup:{member.customer_id}", now=now)


def member_number(now: dt.datetime) -> str:
    """A new member number: ``M`` + year and month + 8 random digits."""
    # readable and unguessable enough to print on a card; uniqueness is enforced by the index
    return f"M{now:%y%m}{secrets.randbelow(10**8):08d}"


def record_purchase(
    member: Member,
    reference: str,
    amount: Decimal,
    *,
    occurred_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    actor_id: int | None = None,
) -> dict:
    """A paid order: counts towards tiers, earns points (pending for the return window) and
    upgrades the member at once if a threshold is crossed. Call inside ``ledger.member_lock``."""
    now = now or utcnow()
    repeat = _repeat(member, "purchase", reference)
    if repeat is not None:
        return repeat
    activity = Activity.create(
        member=member,
        kind="purchase",
        reference=reference,
        occurred_at=occurred_at or now,
        amount=amount,
        orders=1,
    )
    prog = ledger.program()
    entries = []
    growth = 0
    for rule, points in earning.purchase_points(member, amount, now):
        entry, _ = ledger.credit(
            member,
            points,
            f"purchase:{reference}#r{rule.id}",
            rule=rule,
            reason=f"order {reference}",
            available_at=now + dt.timedelta(days=prog.pending_days),
            now=now,
            actor_id=actor_id,
        )
        entries.append(entry)
        growth += points
    if growth:
        Activity.update(growth=growth).where(Activity.id == activity.id).execute()
    tiers.check_upgrade(member, f"order {reference}", now)
    return {"activity": activity, "created": True, "entries": entries}


def record_refund(
    member: Member,
    order_reference: str,
    refund_reference: str,
    amount: Decimal | None = None,
    *,
    now: dt.datetime | None = None,
    actor_id: int | None = None,
) -> dict:
    """A refund of (part of) an order: takes back the order's spend and order count from the tier
    metrics and reverses the points it earned in proportion (all of them for a full refund).

    Points already spent become debt or a claw-back per the programme's refund policy. A tier is
    not lowered here; the next scheduled evaluation decides. Call inside ``ledger.member_lock``.
    """
    now = now or utcnow()
    repeat = _repeat(member, "refund", refund_reference)
    if repeat is not None:
        return repeat
    order = _activity(member, "purchase", order_reference)
    if order is None:
        raise APIError(
            422,
            "Unknown order for this member.",
            errors={"order_reference": [f"No paid order {order_reference!r}."]},
        )
    refunded_before = -Decimal(
        Activity.select(pw.fn.COALESCE(pw.fn.SUM(Activity.amount), 0))
        .where(
            Activity.member == member, Activity.kind == "refund", Activity.order_reference == order_reference
        )
        .scalar()
    )
    order_amount = Decimal(order.amount)
    left = order_amount - refunded_before
    if amount is None or amount >= left:
        amount, full = left, True
    else:
        full = False
    if amount <= 0:
        raise APIError(
            409, "This order is already fully refunded.", errors={"amount": ["Nothing left to refund."]}
        )
    activity = Activity.create(
        member=member,
        kind="refund",
        reference=refund_reference,
        occurred_at=now,
        amount=-amount,
        orders=-1 if full else 0,
        order_reference=order_reference,
    )
    entries, growth = [], 0
    earned = LedgerEntry.select().where(
        LedgerEntry.member == member,
        LedgerEntry.kind == "earn",
        LedgerEntry.reference.startswith(f"purchase:{order_reference}#"),
    )
    for earn in earned:
        left_points = earn.points - ledger.reversed_points(earn) - ledger.expired_points_of(earn)
        points = left_points if full else int(Decimal(earn.points) * amount / order_amount)
        points = min(points, left_points)
        if points <= 0:
            continue
        entry, _ = ledger.reverse(
            member,
            earn,
            f"refund:{refund_reference}#{earn.id}",
            points=points,
            reason=f"refund {refund_reference} of order {order_reference}",
            now=now,
            actor_id=actor_id,
        )
        entries.append(entry)
        growth += points
    if growth:
        Activity.update(growth=-growth).where(Activity.id == activity.id).execute()
    return {"activity": activity, "created": True, "entries": entries}


def record_bonus(
    member: Member,
    kind: str,
    reference: str,
    *,
    now: dt.datetime | None = None,
    actor_id: int | None = None,
) -> dict:
    """A bonus event (signup, birthday, review, live_interaction, referral): fixed points from the
    matching rules, counted as growth value. Birthday bonuses are given once a year, in the
    birthday month."""
    now = now or utcnow()
    if kind == "birthday":
        reference = f"birthday:{now.year}"
    repeat = _repeat(member, kind, reference)
    if repeat is not None:
        return repeat
    awards = earning.bonus_points(member, kind, now)
    activity = Activity.create(member=member, kind=kind, reference=reference, occurred_at=now)
    entries, growth = [], 0
    for rule, points in awards:
        entry, _ = ledger.credit(
            member,
            points,
            f"{kind}:{reference}#r{rule.id}",
            rule=rule,
            reason=rule.name,
            now=now,
            actor_id=actor_id,
        )
        entries.append(entry)
        growth += points
    if growth:
        Activity.update(growth=growth).where(Activity.id == activity.id).execute()
        tiers.check_upgrade(member, f"{kind} bonus", now)
    return {"activity": activity, "created": True, "entries": entries}


def _activity(member: Member, kind: str, reference: str) -> Activity | None:
    return Activity.get_or_none(
        Activity.member == member, Activity.kind == kind, Activity.reference == reference
    )


def _repeat(member: Member, kind: str, reference: str) -> dict | None:
    """The answer to a repeat of an activity already recorded (the first result, nothing
    changed), or None if this one is new. Its ledger entries carry ``<kind>:<reference>#...``."""
    found = _activity(member, kind, reference)
    if found is None:
        return None
    entries = list(
        LedgerEntry.select()
        .where(LedgerEntry.member == member, LedgerEntry.reference.startswith(f"{kind}:{reference}#"))
        .order_by(LedgerEntry.id)
    )
    return {"activity": found, "created": False, "entries": entries}


def apply(member: Member, data: dict, *, now: dt.datetime | None = None, actor_id: int | None = None) -> dict:
    """Record one activity of the API's shape (``kind``, ``reference``, ``amount``,
    ``order_reference``, ``occurred_at``) with the member locked."""
    now = now or utcnow()
    with ledger.member_lock(member.id) as locked:
        kind = data["kind"]
        if kind == "purchase":
            return record_purchase(
                locked,
                data["reference"],
                Decimal(data["amount"]),
                occurred_at=ledger.to_naive_utc(data.get("occurred_at")),
                now=now,
                actor_id=actor_id,
            )
        if kind == "refund":
            return record_refund(
                locked,
                data["order_reference"],
                data["reference"],
                data.get("amount"),
                now=now,
                actor_id=actor_id,
            )
        return record_bonus(locked, kind, data["reference"], now=now, actor_id=actor_id)

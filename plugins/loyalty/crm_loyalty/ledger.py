"""The points ledger: earn, redeem, expire, adjust, reverse, and the balance in buckets.

Rules this module keeps (see the programme notes in the README):

- Append-only: every change is a ``LedgerEntry``; the balance is always ``SUM(points)``.
- Idempotent: an entry is unique per (member, kind, reference); a repeat returns the first entry
  and changes nothing.
- Points live in lots (one per crediting entry) with their own ``available_at`` (pending until
  the return window closes) and ``expires_at``. Debits consume spendable lots soonest-expiring
  first, then oldest, never-expiring last; ``Allocation`` rows remember which lot paid, so a
  reversal of a redemption restores exactly those lots with their original expiry.
- Never negative, except a refund of already-spent points under the ``debt`` policy: then the
  reversal is booked in full, the balance goes below zero and ``outstanding`` holds the debt,
  which later credits pay off first. Under ``clawback`` the reversal takes only what is there
  and later credits are clawed back by separate entries, so the balance never goes negative.
- Every write happens with the member locked (``SELECT ... FOR UPDATE`` on PostgreSQL, an
  IMMEDIATE transaction on SQLite), so racing redemptions cannot spend the same points twice.
"""

from __future__ import annotations

import calendar
import datetime as dt
from contextlib import contextmanager

import peewee as pw
from flask_babel import gettext as _

from crm_core.plugin_api import APIError, Prepared, database, is_postgres, slot, utcnow

from . import core
from .models import Allocation, LedgerEntry, Lot, Member, Program


def to_naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    """Times are stored naive UTC: convert an aware datetime (``...Z`` from a client)."""
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def program() -> Program:
    """The programme settings row (created by the first migration)."""
    return Program.get_by_id(1)


@contextmanager
def write_transaction():
    """A transaction for ledger writes: the core's :func:`crm_core.plugin_api.write_transaction`. On
    SQLite it is IMMEDIATE: the write lock is taken at BEGIN, so two redeemers serialise there
    instead of both reading the old balance and failing (or overspending) at COMMIT. On
    PostgreSQL, read the member with :func:`locking` inside it."""
    from crm_core.plugin_api import write_transaction as core_write_transaction

    with core_write_transaction():
        yield


def locking(query):
    """``query`` taking a row lock on what it reads from its model (``FOR UPDATE OF``) on
    PostgreSQL; on SQLite :func:`write_transaction` already holds the database's write lock."""
    return query.for_update(of=query.model) if is_postgres() else query


@contextmanager
def member_lock(member_id: int):
    """A write transaction holding the member's row lock; yields the fresh ``Member``."""
    with write_transaction():
        yield locking(Member.select().where(Member.id == member_id)).get()


def lot_expiry(earned_at: dt.datetime, prog: Program | None = None) -> dt.datetime | None:
    """When points earned at ``earned_at`` expire under the programme's expiry mode."""
    prog = prog or program()
    if prog.expiry_mode == "never":
        return None
    if prog.expiry_mode == "days":
        return earned_at + dt.timedelta(days=prog.expiry_days)
    if prog.expiry_mode == "month_end":
        last = calendar.monthrange(earned_at.year, earned_at.month)[1]
        return dt.datetime(earned_at.year, earned_at.month, last, 23, 59, 59)
    return dt.datetime(earned_at.year, 12, 31, 23, 59, 59)


# The queries every redemption runs, compiled once (crm_core.plugin_api.Prepared): on a small machine
# compiling them cost more CPU than running them.
_ENTRY_BY_REFERENCE = Prepared(
    lambda: (
        LedgerEntry.select()
        .where(
            LedgerEntry.member == slot("member"),
            LedgerEntry.kind == slot("kind"),
            LedgerEntry.reference == slot("reference"),
        )
        .limit(1)
    )
)
_OPEN_LOTS = Prepared(
    lambda: (
        Lot.select()
        .where(Lot.member == slot("member"), Lot.remaining > 0)
        .order_by(Lot.expires_at.is_null(), Lot.expires_at, Lot.earned_at, Lot.id)
    )
)
_TAKE_FROM_LOT = Prepared(
    lambda: Lot.update(remaining=Lot.remaining - slot("points")).where(Lot.id == slot("lot"))
)
_LEDGER_SUM = Prepared(
    lambda: LedgerEntry.select(pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.points), 0)).where(
        LedgerEntry.member == slot("member")
    )
)


def _existing(member: Member, kind: str, reference: str) -> LedgerEntry | None:
    found = _ENTRY_BY_REFERENCE.rows(member=member.id, kind=kind, reference=reference)
    return found[0] if found else None


def _spend_first(member: Member, now: dt.datetime) -> list[Lot]:
    """Expire the member's overdue lots, then return the spendable ones in consumption order,
    from one read of their open lots."""
    open_lots = _OPEN_LOTS.rows(member=member.id)
    expire_due(member, now, open_lots)
    return [
        lot
        for lot in open_lots
        if lot.available_at <= now and (lot.expires_at is None or lot.expires_at > now)
    ]


def _consume(entry: LedgerEntry, lots, points: int) -> int:
    """Take up to ``points`` from ``lots`` in order for ``entry``; returns what was taken.

    What was taken is also kept on ``entry.consumed`` (lot id, points, expiry), so the caller
    can show a new entry's lots without reading them back.
    """
    taken, rows = 0, []
    consumed = entry.__dict__.setdefault("consumed", [])
    for lot in lots:
        if taken >= points:
            break
        part = min(lot.remaining, points - taken)
        if part <= 0:
            continue
        _TAKE_FROM_LOT.execute(points=part, lot=lot.id)
        lot.remaining -= part  # callers may look at the same objects again
        rows.append(
            {
                "entry": entry.id,
                "lot": lot.id,
                "points": part,
                "created_at": entry.created_at,
                "updated_at": entry.created_at,
            }
        )
        consumed.append({"lot_id": lot.id, "points": part, "expires_at": lot.expires_at})
        taken += part
    if rows:
        Allocation.insert_many(rows).execute()
    return taken


def spendable_points(member: Member, now: dt.datetime | None = None) -> int:
    """Points the member can redeem right now."""
    now = now or utcnow()
    return int(
        Lot.select(pw.fn.COALESCE(pw.fn.SUM(Lot.remaining), 0))
        .where(
            Lot.member == member,
            Lot.remaining > 0,
            Lot.available_at <= now,
            Lot.expires_at.is_null() | (Lot.expires_at > now),
        )
        .scalar()
    )


def _entry(member, kind, points, reference, reason="", actor_id=None, **extra) -> LedgerEntry:
    return LedgerEntry.create(
        member=member,
        kind=kind,
        points=points,
        reference=reference,
        reason=reason,
        actor_id=actor_id,
        **extra,
    )


def credit(
    member: Member,
    points: int,
    reference: str,
    *,
    kind: str = "earn",
    reason: str = "",
    rule=None,
    available_at: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
    actor_id: int | None = None,
    emit: bool = True,
) -> tuple[LedgerEntry, bool]:
    """Add a lot of ``points`` (> 0) to the member; returns (entry, created).

    Call inside :func:`member_lock`. ``available_at`` later than ``now`` makes the points pending;
    ``expires_at`` defaults to the programme's expiry counted from ``now``.
    """
    now = now or utcnow()
    found = _existing(member, kind, reference)
    if found is not None:
        return found, False
    entry = _entry(member, kind, points, reference, reason, actor_id, rule=rule)
    Lot.create(
        member=member,
        entry=entry,
        points=points,
        remaining=points,
        earned_at=now,
        available_at=available_at or now,
        expires_at=expires_at if expires_at is not None else lot_expiry(now),
    )
    settle_debt(member, now)
    if emit:
        notify(
            "points.adjusted" if kind == "adjust" else "points.earned",
            member,
            points,
            reason,
            kind=kind,
            reference=reference,
            entry_id=entry.id,
            pending=bool(available_at and available_at > now),
            available_at=available_at or now,
        )
    return entry, True


def settle_debt(member: Member, now: dt.datetime) -> None:
    """Pay the member's outstanding debt from their lots (pending ones too: new points pay debt
    before they can be spent)."""
    debts = list(
        LedgerEntry.select()
        .where(LedgerEntry.member == member, LedgerEntry.outstanding > 0)
        .order_by(LedgerEntry.id)
    )
    for debt in debts:
        lots = list(
            Lot.select()
            .where(Lot.member == member, Lot.remaining > 0, Lot.expires_at.is_null() | (Lot.expires_at > now))
            .order_by(Lot.expires_at.is_null(), Lot.expires_at, Lot.earned_at, Lot.id)
        )
        if not lots:
            break
        if debt.debt_policy == "clawback":
            seq = (
                LedgerEntry.select()
                .where(LedgerEntry.reverses == debt, LedgerEntry.kind == "clawback")
                .count()
            )
            claw = _entry(
                member, "clawback", 0, f"entry:{debt.id}:{seq + 1}", "clawed back from later points"
            )
            taken = _consume(claw, lots, debt.outstanding)
            LedgerEntry.update(points=-taken, reverses=debt).where(LedgerEntry.id == claw.id).execute()
        else:
            # the debt entry already counts in full in the balance; allocations only retire lots
            taken = _consume(debt, lots, debt.outstanding)
        LedgerEntry.update(outstanding=LedgerEntry.outstanding - taken).where(
            LedgerEntry.id == debt.id
        ).execute()


def _spend(member, kind, points, reference, reason, actor_id, now, shortfall):
    """The shared debit path: a repeat of ``(kind, reference)`` returns the first entry; else take
    ``points`` from the spendable lots, soonest-expiring first, or 409 with ``shortfall(available)``
    (the message on ``points``) when there are not enough."""
    found = _existing(member, kind, reference)
    if found is not None:
        return found, False
    lots = _spend_first(member, now)
    available = sum(lot.remaining for lot in lots)
    if points > available:
        raise APIError(
            409,
            _("Not enough points."),
            errors={"points": [shortfall(available)]},
            available=available,
        )
    entry = _entry(member, kind, -points, reference, reason, actor_id)
    _consume(entry, lots, points)
    return entry, True


def redeem(
    member: Member,
    points: int,
    reference: str,
    *,
    reason: str = "",
    now: dt.datetime | None = None,
    actor_id: int | None = None,
) -> tuple[LedgerEntry, bool]:
    """Spend ``points`` (> 0) of active points; 409 when fewer are spendable. Returns (entry, created);
    a new entry carries ``consumed`` (the lots it took) and ``points_after`` (:func:`balance`).

    Call inside :func:`member_lock`, or a :func:`write_transaction` that read the member through
    :func:`locking`.
    """
    now = now or utcnow()
    entry, created = _spend(
        member,
        "redeem",
        points,
        reference,
        reason,
        actor_id,
        now,
        lambda available: _("Only %(available)s points are available to redeem.", available=available),
    )
    if created:
        entry.points_after = balance(member, now)
        notify(
            "points.redeemed",
            member,
            points,
            reason,
            balance=entry.points_after["balance"],
            reference=reference,
            entry_id=entry.id,
        )
    return entry, created


def debit(
    member: Member,
    points: int,
    reference: str,
    *,
    kind: str = "adjust",
    reason: str = "",
    now: dt.datetime | None = None,
    actor_id: int | None = None,
) -> tuple[LedgerEntry, bool]:
    """Remove ``points`` (> 0) of spendable points (a manual deduction); 409 if not enough."""
    now = now or utcnow()
    return _spend(
        member,
        kind,
        points,
        reference,
        reason,
        actor_id,
        now,
        lambda available: _("Only %(available)s points can be deducted.", available=available),
    )


def expire_due(member: Member, now: dt.datetime | None = None, open_lots: list[Lot] | None = None) -> int:
    """Expire what is left of the member's lots whose expiry has passed; returns points expired.

    ``open_lots`` (the member's lots with points left, already read under the lock) saves a query.
    """
    now = now or utcnow()
    if open_lots is None:
        lots = list(
            Lot.select()
            .where(Lot.member == member, Lot.remaining > 0, Lot.expires_at <= now)
            .order_by(Lot.expires_at, Lot.id)
        )
    else:
        lots = sorted(
            (lot for lot in open_lots if lot.expires_at is not None and lot.expires_at <= now),
            key=lambda lot: (lot.expires_at, lot.id),
        )
    total = 0
    for lot in lots:
        # a lot restored by a reversal can expire again, hence the sequence in the reference
        seq = (
            Allocation.select()
            .join(LedgerEntry)
            .where(Allocation.lot == lot, LedgerEntry.kind == "expire")
            .count()
        )
        entry = _entry(member, "expire", -lot.remaining, f"lot:{lot.id}:{seq + 1}", "expired")
        _consume(entry, [lot], lot.remaining)
        total -= entry.points
    if total:
        notify(
            "points.expired",
            member,
            total,
            "expired",
            lots=[{"lot_id": lot.id, "expires_at": lot.expires_at} for lot in lots],
        )
    return total


def reversed_points(entry: LedgerEntry) -> int:
    """How many of ``entry``'s points reversals have already undone or claimed (always >= 0),
    counting what a claw-back still has to collect."""
    done = (
        LedgerEntry.select(pw.fn.COALESCE(pw.fn.SUM(LedgerEntry.requested), 0))
        .where(LedgerEntry.reverses == entry, LedgerEntry.kind == "reverse")
        .scalar()
    )
    return int(done)


def expired_points_of(entry: LedgerEntry) -> int:
    """Points of the lot ``entry`` credited that expired unused (a refund does not take them again)."""
    expired = (
        Allocation.select(pw.fn.COALESCE(pw.fn.SUM(Allocation.points), 0))
        .join(LedgerEntry)
        .switch(Allocation)
        .join(Lot)
        .where(Lot.entry == entry, LedgerEntry.kind == "expire")
        .scalar()
    )
    return int(expired)


def reverse(
    member: Member,
    original: LedgerEntry,
    reference: str,
    *,
    points: int | None = None,
    reason: str = "",
    now: dt.datetime | None = None,
    actor_id: int | None = None,
) -> tuple[LedgerEntry, bool]:
    """Undo an earning (all or ``points`` of it) or a redemption (in full).

    An earning is taken back from its own lot first, then from other lots; what was already
    spent becomes debt or a claw-back per the programme's refund policy. A redemption gives
    back exactly the lots it consumed, with their original expiry dates.
    """
    now = now or utcnow()
    found = _existing(member, "reverse", reference)
    if found is not None:
        return found, False
    if original.member_id != member.id:
        raise APIError(404, _("No such ledger entry for this member."))
    done = reversed_points(original)
    if original.kind == "redeem":
        if done:
            raise APIError(
                409,
                _("This redemption was already reversed."),
                errors={"entry_id": [_("Already reversed.")]},
            )
        entry = _entry(
            member,
            "reverse",
            -original.points,
            reference,
            reason,
            actor_id,
            reverses=original,
            requested=-original.points,
        )
        restored = (
            Allocation.select(Allocation.lot, pw.fn.SUM(Allocation.points).alias("pts"))
            .where(Allocation.entry == original)
            .group_by(Allocation.lot)
        )
        for row in restored:
            Lot.update(remaining=Lot.remaining + row.pts).where(Lot.id == row.lot_id).execute()
            Allocation.create(entry=entry, lot=row.lot_id, points=-row.pts)
        settle_debt(member, now)
        notify("points.reversed", member, entry.points, reason, reference=reference, reverses=original.id)
        return entry, True
    if original.kind not in ("earn", "adjust") or original.points <= 0:
        raise APIError(
            422,
            _("Only earnings and redemptions can be reversed."),
            errors={"entry_id": [_("Not reversible.")]},
        )
    left = original.points - done - expired_points_of(original)
    wanted = left if points is None else min(points, left)
    if wanted <= 0:
        raise APIError(
            409,
            _("Nothing left to reverse on this entry."),
            errors={"entry_id": [_("Fully reversed.")]},
        )
    entry = _entry(member, "reverse", 0, reference, reason, actor_id, reverses=original, requested=wanted)
    own = Lot.select().where(Lot.entry == original, Lot.remaining > 0)
    taken = _consume(entry, own, wanted)
    if taken < wanted:
        # the earned points were partly spent: take what is spendable elsewhere
        others = (
            Lot.select()
            .where(Lot.member == member, Lot.remaining > 0, Lot.expires_at.is_null() | (Lot.expires_at > now))
            .order_by(Lot.expires_at.is_null(), Lot.expires_at, Lot.earned_at, Lot.id)
        )
        taken += _consume(entry, others, wanted - taken)
    shortfall = wanted - taken
    policy = program().refund_policy
    if shortfall and policy == "debt":
        entry.points, entry.outstanding, entry.debt_policy = -wanted, shortfall, "debt"
    else:
        entry.points = -taken
        entry.outstanding, entry.debt_policy = shortfall, ("clawback" if shortfall else None)
    entry.save()
    notify(
        "points.reversed", member, wanted, reason, reference=reference, reverses=original.id, debt=shortfall
    )
    return entry, True


def _total(expr, when=None):
    value = expr if when is None else pw.Case(None, [(when, expr)], 0)
    return pw.fn.COALESCE(pw.fn.SUM(value), 0)


def _balance_query():
    now = slot("now")
    spendable = (Lot.available_at <= now) & (Lot.expires_at.is_null() | (Lot.expires_at > now))
    lots = Lot.select(
        _total(Lot.remaining, Lot.available_at > now),
        _total(Lot.remaining, spendable),
        _total(Lot.remaining),
    ).where(Lot.member == slot("member"))
    E, Original = LedgerEntry, LedgerEntry.alias()
    unredeemed = (E.kind == "reverse") & (Original.kind == "redeem")
    entries = (
        E.select(
            _total(E.points),
            _total(E.points, E.kind == "redeem"),
            _total(E.points, unredeemed),
            _total(E.points, E.kind == "expire"),
            _total(E.outstanding, E.outstanding > 0),
        )
        .join(Original, pw.JOIN.LEFT_OUTER, on=(E.reverses == Original.id))
        .where(E.member == slot("member"))
    )
    # both aggregates (one row each) side by side: one round trip on every balance read
    return pw.Select([lots.alias("lots"), entries.alias("entries")], [pw.SQL("*")]).bind(database)


_BALANCE = Prepared(_balance_query)


def balance(member: Member, now: dt.datetime | None = None) -> dict:
    """The member's points: ``balance`` (the ledger sum) and the buckets, in one query.

    ``balance == pending + active + overdue - debt`` where debt is counted in the balance only
    under the ``debt`` refund policy (``overdue``: past expiry, not yet expired by the job).
    """
    row = _BALANCE.execute(member=member.id, now=now or utcnow()).fetchone()
    pending, active, remaining, points, redeemed, restored, expired, debt = (int(v) for v in row)
    return {
        "balance": points,
        "pending": pending,
        "active": active,
        "overdue": remaining - pending - active,
        "spent": -redeemed - restored,
        "expired": -expired,
        "debt": debt,
    }


def ledger_sum(member: Member) -> int:
    """The member's balance: the sum of their ledger."""
    return int(_LEDGER_SUM.scalar(member=member.id))


def notify(
    event_type: str, member: Member, points: int, reason: str, *, balance: int | None = None, **extra
) -> None:
    """Emit a ``points.*`` event (docs/events.md): points positive, the balance after the change
    (read from the ledger unless the caller already has it as ``balance``)."""
    source = core.current_event_id()
    data = {
        **member_ref(member),
        "points": abs(points),
        "balance": ledger_sum(member) if balance is None else balance,
        "reason": reason,
        **extra,
    }
    if source:
        data["source_event_id"] = source
    core.emit(event_type, data)


def member_ref(member: Member) -> dict:
    """How events name a member."""
    return {"customer_id": member.customer_id, "member_id": member.id, "member_no": member.member_no}
